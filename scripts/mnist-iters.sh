#!/usr/bin/env bash
# What the per-image fit buys: held-out MNIST images 8000..(8000+N) (default N = 200)
# coded with `--iters 0, 8, 32, 96`; prints all-in, net, -ELBO and IWAE bits per pixel,
# KL per image and the encode time (with the report). Needs ../shared/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
cargo build --release -q
bb=target/release/bbcodec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$n" "$work/held.idx" <<'PY'
import gzip, struct, sys
n, out = int(sys.argv[1]), sys.argv[2]
raw = gzip.open("../shared/corpus/t10k-images-idx3-ubyte.gz").read()
px = raw[16 + 8000 * 784 : 16 + (8000 + n) * 784]
open(out, "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + px)
PY
echo "| iterations | all-in | net | -ELBO | IWAE | KL per image | encode time |"
echo "|---|---|---|---|---|---|---|"
for it in 0 8 32 96; do
  start=$(date +%s.%N)
  "$bb" encode --model mnist "$work/held.idx" -o "$work/o.bbc" -f -q --iters "$it" --report "$work/r.json"
  end=$(date +%s.%N)
  "$bb" decode "$work/o.bbc" -c -q | cmp -s - "$work/held.idx" || { echo "round trip failed at --iters $it"; exit 1; }
  python3 - "$work/r.json" "$n" "$it" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2]); px = n * 784
t = float(sys.argv[5]) - float(sys.argv[4])
print(f"| {sys.argv[3]} | {8 * r['compressed_bytes'] / px:.4f} | {r['net_bits'] / px:.4f} | "
      f"{r['neg_elbo_bits'] / px:.4f} | {r['neg_log_px_bits'] / px:.4f} | {r['kl_bits'] / n:.1f} bits | {t:.1f} s |")
PY
done
