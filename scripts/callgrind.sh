#!/usr/bin/env bash
# Instruction counts (valgrind's callgrind, repeatable whatever the machine's load) of
# bbcodec encode and decode on one thread against bzip2 -9 and bunzip2, on FILE
# (default: mixed-1MiB, the first 1 MiB of five corpus files concatenated).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bb=target/release/bbcodec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then f=$1; else
  c=../shared/corpus
  cat "$c/alice29.txt" "$c/fireworks.jpeg" "$c/geo.protodata" "$c/kppkn.gtb" "$c/urls.10K" > "$work/all"
  head -c 1048576 "$work/all" > "$work/mixed-1MiB"
  f=$work/mixed-1MiB
fi
count() { # instructions of the command "$@" (its output discarded)
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" > /dev/null 2> "$work/cg.err"
  grep -o 'Collected : [0-9]*' "$work/cg.err" | grep -o '[0-9]*'
}
"$bb" encode "$f" -o "$work/f.bbc" -q -T 1
bzip2 -9 -c "$f" > "$work/f.bz2"
printf '%-28s %15s\n' "command" "instructions"
printf '%-28s %15s\n' "bbcodec encode -T 1" "$(count "$bb" encode "$f" -c -q -T 1 -f)"
printf '%-28s %15s\n' "bzip2 -9" "$(count bzip2 -9 -c "$f")"
printf '%-28s %15s\n' "bbcodec decode -q -T 1" "$(count "$bb" decode "$work/f.bbc" -c -q -T 1)"
printf '%-28s %15s\n' "bunzip2" "$(count bzip2 -d -c "$work/f.bz2")"
