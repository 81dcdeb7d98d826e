#!/usr/bin/env bash
# test.sh: the one test command. Lints first (scripts/lint, under a minute: a style
# finding fails the run before the build starts), installs what building and testing
# need from Debian's archive, then builds (./build.sh: incremental, a no-op when nothing
# changed; then the arm64 host release's four-target subset) while the test setup is
# prepared beside it: the smoke boots' Linux kernels
# (downloaded or built once, then cached), the Debian 13 root file system the release
# is tried in and the Debian 12 arm64 one the arm64 release runs in under qemu-aarch64
# (debootstrap, once, then cached). That setup runs at the lowest CPU
# priority while the build runs, so it takes the cores the build leaves idle (configure,
# links, the env generator) rather than slowing the build, and at normal priority after
# it. Then the whole pytest suite runs with Debian's python3, in two worker processes
# (pytest-xdist: a test file stays on one worker, so its module fixtures run once),
# without waiting for that setup: the test files that need it come last, and their
# first test waits for it. Beside pytest, at the lowest CPU priority so that it takes
# what pytest leaves idle, QEMU's own system-mode TCG tests run through the staged
# libraries (scripts/penguin-tcg-tests.py); their summary comes after pytest's.
# Extra arguments go to pytest (-n 0: one process).
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
setup_log=$top/_build/test-setup
declare -A setup_pid=()

# One setup step in the background, at nice 19, in its own session and process group
# (so that an early exit can end it with everything it started); its output goes to a
# log printed when it is waited for. A new session is a new scheduler autogroup, which
# would get as much CPU as the build whatever its processes' nice: the autogroup's own
# nice is set too.
start_setup() {
    local name=$1; shift
    # shellcheck disable=SC2016
    setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 "$@"' \
        setup "$@" >"$setup_log/$name.log" 2>&1 </dev/null &
    setup_pid[$name]=$!
}

finish_setup() {
    local name=$1 status=0
    echo "== test: $name ($(date +%T), log: $setup_log/$name.log)"
    wait "${setup_pid[$name]}" || status=$?
    unset "setup_pid[$name]"
    cat "$setup_log/$name.log"
    if [ "$status" -ne 0 ]; then
        echo "test.sh: $name failed (status $status)" >&2
        exit "$status"
    fi
}

# Once the build is done, the setup still running gets its share of the CPU beside
# pytest: the process group and its scheduler autogroup back to nice 0 (processes it
# starts from then on inherit it).
full_priority() {
    local pid=${setup_pid[$1]}
    echo 0 >"/proc/$pid/autogroup" 2>/dev/null || true
    renice -n 0 -g "$pid" >/dev/null 2>&1 || true
}

# Every test file, those that need the smoke kernels or the Debian 13 root last:
# pytest starts while that setup may still run, and the first tests that need it wait
# for its lock (tests/smoke/kernels.py, tests/roots.py) while the other worker goes on.
test_files() {
    local late
    late=$(grep -lE 'kernel_for|roots\.|vsock_boot|smoke_boot|fastsnap_linux|fastsnap_argv' \
        tests/test_*.py | sort)
    printf "%s\n" tests/test_*.py | grep -vxF "$late"
    echo "$late"
}

# shellcheck disable=SC2317  # called by the EXIT trap
stop_setup() {
    local pid
    for pid in "${setup_pid[@]}"; do
        kill -- "-$pid" 2>/dev/null || true
    done
}
trap stop_setup EXIT

"$top/scripts/lint"
echo "== test: dependencies ($(date +%T))"
"$top/scripts/penguin-install-deps.sh" build
"$top/scripts/penguin-install-deps.sh" test
mkdir -p "$setup_log"
start_setup "smoke-boot kernels" /usr/bin/python3 "$top/tests/smoke/kernels.py"
start_setup "Debian 13 root file system" /usr/bin/python3 "$top/tests/roots.py"
start_setup "Debian 12 arm64 root file system" /usr/bin/python3 "$top/tests/roots.py" --arm64
"$top/build.sh"
# The arm64 host release, cross-built for the four targets tests/test_arm64_host.py
# boots under qemu-aarch64 (all eleven are the release's: ./build.sh --host=arm64).
"$top/build.sh" --host=arm64 --targets=aarch64,mipsel,riscv64,x86_64
for name in "${!setup_pid[@]}"; do
    full_priority "$name"
done
start_setup "QEMU TCG tests" /usr/bin/python3 "$top/scripts/penguin-tcg-tests.py"
echo "== test: pytest ($(date +%T))"
cd "$top"
status=0
# shellcheck disable=SC2046
/usr/bin/python3 -m pytest -p no:cacheprovider -ra --durations=25 -n 2 \
    --dist loadfile "$@" $(test_files) || status=$?
finish_setup "smoke-boot kernels"
finish_setup "Debian 13 root file system"
finish_setup "QEMU TCG tests"
finish_setup "Debian 12 arm64 root file system"
exit "$status"
