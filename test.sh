#!/usr/bin/env bash
# test.sh: the one test command. Builds first (./build.sh: incremental, a no-op when
# nothing changed), installs what the tests need from Debian's archive, then runs the
# whole pytest suite with Debian's python3. Extra arguments go to pytest.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
"$top/build.sh"
echo "== test: dependencies ($(date +%T))"
"$top/scripts/penguin-install-deps.sh" test
echo "== test: pytest ($(date +%T))"
cd "$top"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -ra "$@" tests
