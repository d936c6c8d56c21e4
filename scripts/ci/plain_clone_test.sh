#!/usr/bin/env bash
# The README's test command on a plain clone, as a newcomer runs it: a fresh clone of this checkout's HEAD in an
# empty temporary folder (no ../shared beside it), without $DEEPEMOTION_DATA or a YuNet path. Tests that need the
# data sets or the YuNet test model must skip with a reason; the rest must pass, with the offline Haar fallback.
#
#   . .venv/bin/activate && bash scripts/ci/plain_clone_test.sh        # deepemotion installed in that venv (CI: the wheel)
#   PYTHON=/path/to/python bash scripts/ci/plain_clone_test.sh -x       # another interpreter; extra pytest arguments
#
# The tests import the installed package (pytest puts only tests/ on the path). A development checkout whose venv
# runs the sources (the compiled files copied into python/deepemotion/, as after a build) tests the clone's sources
# with those compiled files: SOURCES=1 bash scripts/ci/plain_clone_test.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
py="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/deepemotion-plain-clone.XXXXXX")"
trap 'rm -rf "$work"' EXIT
git clone -q --no-hardlinks "$repo" "$work/deepemotion"
cd "$work/deepemotion"
if [ -e ../shared ]; then echo "plain_clone_test: $work/shared exists; the clone must have nothing beside it" >&2; exit 2; fi
if [ "${SOURCES:-0}" = 1 ]; then
  cp "$repo"/python/deepemotion/*.so python/deepemotion/
  if [ -d "$repo/python/deepemotion/lib" ]; then cp -r "$repo/python/deepemotion/lib" python/deepemotion/; fi
  export PYTHONPATH="$PWD/python"
fi
"$py" -c "import deepemotion, sys; print('plain_clone_test: deepemotion', deepemotion.__version__, 'from',
          deepemotion.__file__, 'in a clone of', sys.argv[1])" "$(git -C "$repo" rev-parse --short HEAD)"
start=$(date +%s)
env -u DEEPEMOTION_DATA -u DEEPEMOTION_YUNET -u DEEPEMOTION_YUNET_URL -u XDG_CACHE_HOME \
  "$py" -m pytest -q -p no:cacheprovider "$@"
echo "plain_clone_test: passed in $(( $(date +%s) - start )) s"
