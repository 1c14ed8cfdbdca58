#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY links
# (ldd), one a line, for the runtime stage of deploy/k8s/Dockerfile: the
# image gets exactly what the binary needs, whatever the build links.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  # dpkg knows a library by the path its package installed, which may be the
  # /usr/lib or the /lib spelling (merged /usr) of what ldd printed.
  dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
    dpkg -S "${lib#/usr}" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null ||
    { echo "$0: no Debian package holds $lib" >&2; exit 1; }
done | cut -d: -f1 | sort -u
