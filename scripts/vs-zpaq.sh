#!/usr/bin/env bash
# Speed of one cm level against zpaq -m5 on FILE, one thread each, in the same run:
# RUNS rounds alternating bbcodec encode, zpaq a, bbcodec decode and zpaq x (process
# start included), the best time of each, and the ratios; then, unless NO_CALLGRIND is
# set, the instruction counts of the same four commands (valgrind's callgrind, which
# the machine's load does not move). The round trips are checked.
# Usage: scripts/vs-zpaq.sh FILE [LEVEL (default 1)] [RUNS (default 5)]
#        (cargo build --release first; zpaq: apt-get install zpaq)
set -euo pipefail
cd "$(dirname "$0")/.."
f=$(realpath "$1")
level=${2:-1}
runs=${3:-5}
bb=target/release/bbcodec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }
be=1e9 bd=1e9 ze=1e9 zd=1e9
for _ in $(seq "$runs"); do
  s=$(now); "$bb" encode "$f" -o "$work/f.bbc" -f -q -T 1 --level "$level"; be=$(best "$be" "$(echo "$(now) - $s" | bc)")
  rm -f "$work/f.zpaq"
  s=$(now); zpaq a "$work/f.zpaq" "$f" -m5 -t1 > /dev/null 2>&1; ze=$(best "$ze" "$(echo "$(now) - $s" | bc)")
  s=$(now); "$bb" decode "$work/f.bbc" -o "$work/f.out" -f -q -T 1; bd=$(best "$bd" "$(echo "$(now) - $s" | bc)")
  rm -rf "$work/x"
  s=$(now); zpaq x "$work/f.zpaq" "$f" -t1 -to "$work/x" > /dev/null 2>&1; zd=$(best "$zd" "$(echo "$(now) - $s" | bc)")
done
cmp -s "$work/f.out" "$f" || { echo "bbcodec does not round-trip $f"; exit 1; }
cmp -s "$work/x" "$f" || { echo "zpaq does not round-trip $f"; exit 1; }
n=$(wc -c < "$f")
awk -v n="$n" -v be="$be" -v bd="$bd" -v ze="$ze" -v zd="$zd" -v l="$level" -v r="$runs" \
  -v c="$(wc -c < "$work/f.bbc")" -v z="$(wc -c < "$work/f.zpaq")" 'BEGIN {
  printf "best of %d: level %d encode %.3f s (%.2f MB/s), decode %.3f s (%.2f MB/s); zpaq -m5 a %.3f s, x %.3f s\n", r, l, be, n/1e6/be, bd, n/1e6/bd, ze, zd
  printf "speed vs zpaq -m5: encode %.2fx, decode %.2fx; bytes %d (zpaq %d)\n", ze/be, zd/bd, c, z }'
[ -n "${NO_CALLGRIND:-}" ] && exit 0
count() { # instructions of the command "$@" (its output discarded)
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" > /dev/null 2> "$work/cg.err"
  grep -o 'Collected : [0-9]*' "$work/cg.err" | grep -o '[0-9]*'
}
ie=$(count "$bb" encode "$f" -o "$work/g.bbc" -f -q -T 1 --level "$level")
rm -f "$work/g.zpaq"
iz=$(count zpaq a "$work/g.zpaq" "$f" -m5 -t1)
id=$(count "$bb" decode "$work/g.bbc" -o "$work/g.out" -f -q -T 1)
rm -rf "$work/y"
ix=$(count zpaq x "$work/g.zpaq" "$f" -t1 -to "$work/y")
awk -v ie="$ie" -v iz="$iz" -v id="$id" -v ix="$ix" 'BEGIN {
  printf "instructions: encode %.0fM (zpaq a %.0fM, %.2fx fewer), decode %.0fM (zpaq x %.0fM, %.2fx fewer)\n", ie/1e6, iz/1e6, iz/ie, id/1e6, ix/1e6, ix/id }'
