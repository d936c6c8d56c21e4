"""`fer-data`: build the project's .npz archives from the official data set distributions, and count them.

    fer-data fer2013 fer2013.csv --out data/fer2013.npz         # Training, PublicTest and PrivateTest
    fer-data ckplus CK+/ --out data/ckplus48.npz                # cohn-kanade-images/ + Emotion/, or CK+48 folders
    fer-data jaffe jaffe/ --out data/jaffe.npz                  # KA.AN1.39.tiff ...
    fer-data summary data/fer2013.npz                           # faces per split and class

Point $DEEPEMOTION_DATA at the output folder and the tools find them by name (fer2013, ckplus, jaffe).
Where each set comes from, and its terms: README, "Licence, data and citation".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .common import HelpFormatter, cli_main, parser

PROG = "fer-data"


def build_parser() -> argparse.ArgumentParser:
    from ..runtime.detect import DETECTORS

    p = parser(PROG, __doc__ or "")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, what, default in (
        ("fer2013", "the official fer2013.csv", "fer2013.npz"),
        ("ckplus", "the CK+ folder (release or CK+48)", "ckplus48.npz"),
        ("jaffe", "the JAFFE image folder", "jaffe.npz"),
    ):
        sp = sub.add_parser(name, help=f"build {default} from {what}", formatter_class=HelpFormatter)
        sp.add_argument("source", help=what)
        sp.add_argument("--out", default=default, help="output .npz")
        sp.add_argument("--overwrite", action="store_true", help="replace an existing output")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")
        sp.add_argument("--debug", action="store_true", help="show the full traceback of an error")
        if name != "fer2013":
            sp.add_argument(
                "--detector",
                default="auto",
                choices=("auto", *DETECTORS),
                help="face detector for the crops (the runtime's, framed like FER2013)",
            )
    sp = sub.add_parser("summary", help="faces per split and class of an archive", formatter_class=HelpFormatter)
    sp.add_argument("archive")
    sp.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return p


def run(args: argparse.Namespace) -> int:
    from ..data import prepare

    if args.cmd == "summary":
        print(prepare.summary(args.archive))
        return 0
    from ..files import OutputPlan

    out = OutputPlan([args.source], args.overwrite).add(args.out, "archive")

    def progress(it):  # type: ignore[no-untyped-def]
        from tqdm.auto import tqdm

        return tqdm(it, desc=args.cmd, unit="item", disable=True if args.quiet else None, leave=False)  # None: TTY only

    if args.cmd == "fer2013":
        path = prepare.fer2013_from_csv(args.source, out, progress)
    elif args.cmd == "ckplus":
        path = prepare.ckplus_from_folder(args.source, out, prepare.detector_cropper(args.detector), progress=progress)
    else:
        path = prepare.jaffe_from_folder(args.source, out, prepare.detector_cropper(args.detector), progress=progress)
    print(f"wrote {path}")
    print(prepare.summary(path))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
