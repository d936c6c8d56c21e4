"""Sessions that the README and CI both call, so that CI runs exactly what the README tells people to run.

    nox -s tests              # the README's test command: the package with its extras, then pytest
    nox -s tests -- -k ops    # arguments after -- go to pytest
    nox -s lint docs          # ruff; the documentation site (mkdocs build --strict)
    nox -s ci                 # what .ci/run adds: the tests, the lent-GPU command rehearsed on the CPU, the docs

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
DOCS = ("mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")


def _install(session: nox.Session) -> None:
    wheel = os.environ.get("DEEPEMOTION_WHEEL")
    if wheel:
        found = glob.glob(wheel)
        if len(found) != 1:
            session.error(f"DEEPEMOTION_WHEEL={wheel} matches {len(found)} files, not one")
        wheel = found[0]
    session.install("-c", "constraints.txt", f"{wheel or '.'}[{EXTRAS}]")


def _pytest(session: nox.Session) -> None:
    session.run("python", "-m", "pytest", "-q", *session.posargs)


def _docs(session: nox.Session) -> None:
    session.install(*DOCS)
    session.run("python", "scripts/model_cards.py", "--check")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site",
                env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def tests(session: nox.Session) -> None:
    """The package with its extras (torch pinned by constraints.txt), then the test suite."""
    _install(session)
    _pytest(session)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "python", "tests", "scripts", "references", "noxfile.py")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, strictly: a dead link or a page missing from the nav's files fails."""
    _docs(session)


@nox.session
def ci(session: nox.Session) -> None:
    """What CI adds to the README's test command: the lent-GPU command on the CPU, the docs, then the tests."""
    _install(session)
    session.run("bash", "scripts/device/gpu_run.sh", env={"DRY": "1", "OUT": session.create_tmp() + "/gpu_out",
                                                  "WORK": session.create_tmp() + "/gpu_run"}, external=True)
    _docs(session)
    _pytest(session)
