"""Sessions that the README and CI both call, so that CI runs exactly what the README tells people to run.

    nox -s tests              # the README's test command: the package with its extras, then pytest
    nox -s tests -- -k ops    # arguments after -- go to pytest
    nox -s lint docs          # ruff check + format; the documentation site (mkdocs build --strict)
    nox -s ci                 # what CI runs (`nox --no-venv -s ci` in .ci/run's environment): the lent-GPU command
                              # rehearsed on the CPU, the docs, then the tests

DEEPEMOTION_WHEEL=dist/deepemotion-*.whl installs a wheel built beforehand instead of building the checkout again
(CI builds it once).
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
EXTRAS = "train,export,bench,test,serve"
#: the README's test command's install step ({target}: the checkout with the extras, or CI's wheel with them);
#: tests/test_docs.py checks that the README says exactly this. PyTorch's CPU build is on PyTorch's own index.
INSTALL = ("--extra-index-url", "https://download.pytorch.org/whl/cpu", "-c", "constraints.txt", "{target}")
#: the Triton server fer-serve runs (docs/serving.md: why this release, and why without its dependencies)
SERVER = ("--no-deps", "nvidia-pytriton==0.7.0")
DOCS = ("mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")


def _pip(session: nox.Session, *args: str) -> None:
    """pip in the session's environment (also with `nox --no-venv`, where session.install refuses to run)."""
    session.run("python", "-m", "pip", "install", "-q", *args, external=True)


def _install(session: nox.Session) -> None:
    wheel = os.environ.get("DEEPEMOTION_WHEEL")
    if wheel:
        found = glob.glob(wheel)
        if len(found) != 1:
            session.error(f"DEEPEMOTION_WHEEL={wheel} matches {len(found)} files, not one")
        wheel = found[0]
    _pip(session, *(a.format(target=f"{wheel or '.'}[{EXTRAS}]") for a in INSTALL))
    _pip(session, *SERVER)


def _pytest(session: nox.Session) -> None:
    session.run("python", "-m", "pytest", "-q", *session.posargs, external=True)


def _docs(session: nox.Session) -> None:
    _pip(session, *DOCS)
    session.run("python", "scripts/model_cards.py", "--check", external=True)
    session.run(
        "python",
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        session.create_tmp() + "/site",
        env={"NO_MKDOCS_2_WARNING": "1"},
        external=True,
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The package with its extras (torch pinned by constraints.txt), then the test suite."""
    _install(session)
    _pytest(session)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff's checks and its formatting, over what tests/test_lint.py covers."""
    _pip(session, "ruff==0.17.6")
    linted = ("python", "tests", "scripts", "references", "examples", "noxfile.py")
    session.run("python", "-m", "ruff", "check", *linted, external=True)
    session.run("python", "-m", "ruff", "format", "--check", *linted, external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, strictly: a dead link or a page missing from the nav's files fails."""
    _docs(session)


@nox.session
def ci(session: nox.Session) -> None:
    """What CI adds to the README's test command: the lent-GPU command on the CPU, the docs, then the tests."""
    _install(session)
    session.run(
        "bash",
        "scripts/device/gpu_run.sh",
        env={"DRY": "1", "OUT": session.create_tmp() + "/gpu_out", "WORK": session.create_tmp() + "/gpu_run"},
        external=True,
    )
    _docs(session)
    _pytest(session)
