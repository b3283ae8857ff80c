#!/usr/bin/env bash
# Streaming at scale with bounded memory: a generated stream (COPIES x 52 concatenations
# of five corpus files; default 32, about 2.1 GB) through `encode - -c` and back through
# `decode -c`, with wall time and peak resident size of each (GNU time), the compressed
# size, and the SHA-256 of input and output, which must match. Needs ../shared/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-32}
c=../shared/corpus
cargo build --release -q
bb=target/release/bbcodec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq 52); do cat "$c/alice29.txt" "$c/fireworks.jpeg" "$c/geo.protodata" "$c/kppkn.gtb" "$c/urls.10K"; done > "$work/unit"
gen() { for _ in $(seq "$copies"); do cat "$work/unit"; done; }
in_sha=$(gen | sha256sum | cut -d' ' -f1)
in_bytes=$(( $(wc -c < "$work/unit") * copies ))
gen | /usr/bin/time -f "encode %e s, peak RSS %M KB" "$bb" encode - -c -q > "$work/s.bbc" 2> "$work/enc.time"
/usr/bin/time -f "decode %e s, peak RSS %M KB" "$bb" decode "$work/s.bbc" -c -q 2> "$work/dec.time" | sha256sum | cut -d' ' -f1 > "$work/out.sha"
out_bytes=$(wc -c < "$work/s.bbc")
echo "input $in_bytes bytes, compressed $out_bytes bytes ($(python3 -c "print(f'{8*$out_bytes/$in_bytes:.3f}')") bits/byte)"
cat "$work/enc.time" "$work/dec.time"
if [ "$(cat "$work/out.sha")" = "$in_sha" ]; then echo "SHA-256 equal: $in_sha"; else echo "SHA-256 DIFFERS"; exit 1; fi
