#!/usr/bin/env bash
# test.sh: the one test command. Lints first (scripts/lint, under a minute: a style
# finding fails the run before the build starts), then builds (./build.sh: incremental,
# a no-op when nothing changed), installs what the tests need from Debian's archive,
# prepares the smoke boots' Linux kernels (downloaded or built once, then cached) and the
# Debian 13 root file system the release is tried in (debootstrap, once, then cached),
# then runs the whole pytest suite with Debian's python3. Extra arguments go to pytest.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
"$top/scripts/lint"
"$top/build.sh"
echo "== test: dependencies ($(date +%T))"
"$top/scripts/penguin-install-deps.sh" test
echo "== test: smoke-boot kernels ($(date +%T))"
/usr/bin/python3 "$top/tests/smoke/kernels.py"
echo "== test: Debian 13 root file system ($(date +%T))"
/usr/bin/python3 "$top/tests/roots.py"
echo "== test: pytest ($(date +%T))"
cd "$top"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -ra --durations=25 "$@" tests
