#!/usr/bin/env bash
# Sizes on tiny inputs (the container's cost): empty, one byte, and the first 200 bytes
# of alice29.txt through stdin, for bbcodec (default options) and gzip -9, zstd -19,
# xz -9. Every bbcodec output is decoded back and compared.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bb=target/release/bbcodec
src=testdata/alice29-excerpt.txt # its first 200 bytes are alice29.txt's
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/empty"
printf 'a' > "$work/one"
head -c 200 "$src" > "$work/200"
echo "| input | bytes | bbcodec | gzip -9 | zstd -19 | xz -9 |"
echo "|---|---|---|---|---|---|"
for name in empty one 200; do
  f="$work/$name"
  "$bb" encode - -c -q < "$f" > "$work/out.bbc"
  "$bb" decode - -c -q < "$work/out.bbc" | cmp -s - "$f" || { echo "bbcodec round trip failed on $name"; exit 1; }
  row="| $name | $(wc -c < "$f") | $(wc -c < "$work/out.bbc")"
  row="$row | $(gzip -9 -c < "$f" | wc -c)"
  if command -v zstd > /dev/null; then row="$row | $(zstd -19 -q -c < "$f" | wc -c)"; else row="$row | -"; fi
  row="$row | $(xz -9 -c < "$f" | wc -c) |"
  echo "$row"
done
