#!/usr/bin/env bash
# penguin-apt-sources.sh: give a Debian 12 machine the apt entries the build needs, safely.
#
#  - deb-src for Debian 13 (trixie): source only, to fetch the pinned qemu .orig.tar.xz.
#  - deb for bookworm-backports: meson >= 1.5 (backports are NotAutomatic, so nothing is
#    upgraded unless named with -t bookworm-backports).
#  - deb for trixie, pinned at priority 100: only for named architecture-all packages
#    (python3-pycotap, python3-pyelftools) installed as pkg/trixie. Without the pin, the next
#    plain `apt-get install` would upgrade libc6, python3 and systemd to trixie.
#    Its binary entries are amd64 only: once the arm64 cross build (penguin-install-deps.sh
#    arm64) adds arm64 to dpkg, apt would otherwise fetch trixie's arm64 indices too.
#
# The archive host is taken from the machine's own Debian sources, never named here.
# Idempotent: re-running rewrites the same files and updates the lists only when they changed.
set -euo pipefail

sources_file=/etc/apt/sources.list.d/penguin-qemu.sources
pin_file=/etc/apt/preferences.d/penguin-qemu-trixie.pref
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

debian_uri() {
    # First Debian archive URI of a bookworm 'deb' entry, deb822 or one-line format.
    local uri
    uri=$(awk '
        /^URIs:/ { u = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
        /^$/ { if (s && u != "" && u !~ /security/) { print u; exit } u = ""; s = 0 }
        END { if (s && u != "" && u !~ /security/) print u }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }' \
              /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
        echo "penguin-apt-sources: no Debian bookworm 'deb' entry found in /etc/apt;" \
             "cannot derive the archive URI" >&2
        exit 1
    fi
    echo "$uri"
}

main() {
    local uri new
    uri=$(debian_uri)
    new=$(mktemp)
    cat >"$new" <<SRC
# Written by penguin-qemu scripts/penguin-apt-sources.sh
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: $keyring

Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring

Types: deb
URIs: $uri
Suites: trixie
Components: main
Architectures: amd64
Signed-By: $keyring
SRC
    cat >"$pin_file" <<PIN
# Written by penguin-qemu: trixie only for packages named as pkg/trixie.
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    if ! cmp -s "$new" "$sources_file" 2>/dev/null || [ ! -d /var/lib/apt/lists ] ||
       ! ls /var/lib/apt/lists/*trixie*Sources* >/dev/null 2>&1; then
        install -m 0644 "$new" "$sources_file"
        echo "penguin-apt-sources: updating apt lists (bookworm-backports, trixie)"
        apt-get -o DPkg::Lock::Timeout=600 update -q
    fi
    rm -f "$new"
}

main "$@"
