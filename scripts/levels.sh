#!/usr/bin/env bash
# Each cm level on one file: size, bits per byte, encode and decode time and peak
# memory (one thread, one run, process start included; the round trip is checked).
# Usage: scripts/levels.sh FILE [extra encode options...]   (cargo build --release first)
set -euo pipefail
cd "$(dirname "$0")/.."
f=$1; shift
exe=target/release/bbcodec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=$(wc -c < "$f")
echo "| level | bytes | bits/byte | encode MB/s | decode MB/s | encode peak MiB | decode peak MiB |"
echo "|---|---|---|---|---|---|---|"
for l in 1 2 3 4 5 6 7 8 9; do
  /usr/bin/time -f "%e %M" -o "$work/te" "$exe" encode "$f" -o "$work/x.bbc" -f -q -T 1 --level "$l" "$@"
  /usr/bin/time -f "%e %M" -o "$work/td" "$exe" decode "$work/x.bbc" -o "$work/x" -f -q -T 1
  cmp -s "$work/x" "$f" || { echo "level $l does not round-trip"; exit 1; }
  c=$(wc -c < "$work/x.bbc")
  read -r te me < "$work/te"
  read -r td md < "$work/td"
  awk -v l="$l" -v c="$c" -v n="$n" -v te="$te" -v td="$td" -v me="$me" -v md="$md" \
    'BEGIN { printf "| %d | %d | %.3f | %.2f | %.2f | %.0f | %.0f |\n", l, c, 8*c/n, n/1e6/te, n/1e6/td, me/1024, md/1024 }'
done
