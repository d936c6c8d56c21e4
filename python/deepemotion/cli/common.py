"""What every `fer-*` tool shares: the error policy, options used by several tools, optional imports.

Error policy (README, "Errors and exit codes"): a failure prints one line `<tool>: error: <what>`
naming the file and the problem; exit 2 for usage and input errors (bad option, missing or malformed
file, a refused model file), exit 1 for runtime failures (a backend that fails while running, a
write that fails); `--debug` re-raises so the traceback shows. Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable


class UsageError(Exception):
    """Bad input or options: exit 2."""


class MissingExtra(UsageError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, what: str) -> None:
        super().__init__(
            f'{what} needs {package}: pip install ".[{extra}]" in the clone of deepemotion (or pip install {package})'
        )


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency or raise `MissingExtra` naming the extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module.split(".")[0], extra, what) from None


def require_torch(what: str) -> Any:
    """torch, or a one-line error: on CPU-only machines PyTorch's CPU build (constraints.txt, README)."""
    try:
        import torch
    except ImportError:
        raise UsageError(
            f'{what} needs PyTorch: pip install ".[train]" in the clone of deepemotion (CPU only: '
            "add --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt, or pip "
            "pulls a multi-GB CUDA build)"
        ) from None
    return torch


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default and keeps the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # An option whose help already explains its default (a None that means "the bundled model") keeps
        # that wording instead of a second "(default: None)".
        if action.help and "(default" in action.help:
            return action.help
        return super()._get_help_string(action)


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return p


def _usage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        UsageError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        FileExistsError,
        ValueError,
        TypeError,
        UnicodeError,
    ]
    try:
        from ..runtime.backends.base import BackendUnavailable

        errors.append(BackendUnavailable)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _show_warning(prog: str) -> Callable[..., None]:
    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        print(f"{prog}: note: {message}", file=sys.stderr)

    return show


def cli_main(
    prog: str,
    build_parser: Callable[[], argparse.ArgumentParser],
    body: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse `argv` and run `body(args)` under the error policy; returns the exit code. Warnings are shown as
    one line each (`<tool>: note: ...`), not with the source line that raised them."""
    import warnings

    args = build_parser().parse_args(argv)
    # the command as typed, for the records a tool writes (run metadata, benchmark JSON)
    args.command = prog + " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(prog)  # restored when the block ends
            return body(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except _usage_errors() as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))  # 1 for a runtime failure behind a missing file (DownloadFailed)
    except Exception as exc:  # noqa: BLE001 - the policy: one line, exit 1, --debug for the rest
        if getattr(args, "debug", False):
            raise
        print(
            f"{prog}: error: {type(exc).__name__}: {one_line(exc)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    first = text.splitlines()[0]
    return first if len(first) < 400 else first[:400] + "..."


def add_model_options(
    p: argparse.ArgumentParser,
    *,
    backend: bool = True,
    device: bool = False,
    files: str = "an .onnx file, or a .pt checkpoint (with --backend torch)",
) -> None:
    """--model (and --backend, --device): declared once for every tool that runs a model."""
    from ..runtime.assets import BUNDLED_MODELS
    from ..runtime.backends import backend_help

    p.add_argument("--model", default="default", help=f"bundled model ({' | '.join(BUNDLED_MODELS)}) or {files}")
    if backend:
        p.add_argument("--backend", default="auto", help=backend_help())
    if device:
        p.add_argument("--device", default=None, choices=("cpu", "cuda"), help="for backends that have both")


def output_path(
    path: str | Path, *, inputs: Sequence[str | Path] = (), overwrite: bool = False, what: str = "output"
) -> Path:
    """One output file checked before anything is computed (`deepemotion.files.OutputPlan`)."""
    from ..files import OutputPlan

    return OutputPlan(inputs, overwrite).add(path, what)
