#!/usr/bin/env bash
# Determinism across builds (DESIGN section 2): encode with each of three builds
# (release; unoptimized; release with -C target-cpu=native), require identical bytes,
# and decode every file with every build; then decode every golden file (format
# versions 1 and 2) with every build and compare with its input byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q
cargo build --profile unoptimized -q
RUSTFLAGS="-C target-cpu=native" cargo build --release -q --target-dir target/native
builds=(target/release/bbcodec target/unoptimized/bbcodec target/native/release/bbcodec)

inputs=(testdata/alice29-excerpt.txt testdata/golden/kppkn3k.bin testdata/golden/jpeg1500.bin)
# The default model (cm) with its latent's arms (coupled importance weighting too, whose
# choice of a particle is the float part importance weighting adds) and its fast level,
# then the mixture and the logistic model (with importance weighting too).
variants=("" "--posterior map --block-size 1024" "--latent-dim 1 --block-size 512 --iters 0" "--chunk-size 8192 -T 2" "-1"
  "--posterior cis --particles 4 --block-size 1024"
  "--model mixture" "--model mixture --posterior bbvi" "--model mixture --posterior map"
  "--model mixture --estimator score-eq8 --block-size 32" "--model mixture --chunk-size 8192 -T 2"
  "--model logistic --block-size 256" "--model logistic --posterior map --latent-dim 2 --bin-bits 12"
  "--model logistic --block-size 256 --posterior iw --particles 4")
# Real files of other kinds, with each model's default fit (the arms above run on the
# inputs before; the unoptimized build's predictor takes seconds per 60 KB).
slices=()
slice_variants=("" "-1" "--model mixture" "--model logistic --block-size 256"
  "--model logistic --block-size 256 --posterior iw --particles 4")
if [ -f ../shared/corpus/kppkn.gtb ]; then
  head -c 60000 ../shared/corpus/kppkn.gtb > "$work/kppkn60k"
  head -c 60000 ../shared/corpus/geo.protodata > "$work/geo60k"
  # A baseline JPEG's headers and the first half of its scan (the JPEG model).
  head -c 60000 ../shared/corpus/fireworks.jpeg > "$work/jpeg60k"
  slices+=("$work/kppkn60k" "$work/geo60k" "$work/jpeg60k")
fi

n=0
# Encode $1 with options $2 on every build (identical bytes), decode with every build.
check() {
  local input=$1 v=$2 ref="" i out b
  for i in "${!builds[@]}"; do
    out="$work/out.$i.bbc"
    # shellcheck disable=SC2086
    "${builds[$i]}" encode "$input" -o "$out" -f -q $v
    if [ -z "$ref" ]; then ref="$out"; elif ! cmp -s "$ref" "$out"; then
      echo "MISMATCH: ${builds[$i]} encodes $input ($v) differently"; exit 1; fi
  done
  for b in "${builds[@]}"; do
    "$b" decode "$ref" -c -q | cmp -s - "$input" || { echo "MISMATCH: $b decodes $input ($v)"; exit 1; }
  done
  n=$((n + 1))
}

for input in "${inputs[@]}"; do
  for v in "${variants[@]}"; do
    check "$input" "$v"
  done
done
for input in "${slices[@]}"; do
  for v in "${slice_variants[@]}"; do
    check "$input" "$v"
  done
done
# The image model: its network runs in every fit, on every build.
for v in "--model mnist" "--model mnist --chunk-size 1568 --posterior map" "--model mnist --posterior iw --particles 3"; do
  check testdata/golden/mnist4.idx "$v"
done
g=0
for f in testdata/golden/v1/*.bbc testdata/golden/v1/older-encoders/*/*.bbc testdata/golden/v2/*.bbc testdata/golden/v2/older-encoders/*/*.bbc; do
  # A golden's input is the file of testdata/golden named by its first dotted part.
  stem=$(basename "$f"); stem=${stem%%.*}
  input=""
  for c in testdata/golden/"$stem".*; do
    [ -f "$c" ] && input=$c
  done
  if [ -z "$input" ]; then echo "no input known for golden $f"; exit 1; fi
  for b in "${builds[@]}"; do
    "$b" decode "$f" -c -q | cmp -s - "$input" || { echo "MISMATCH: $b decodes golden $f"; exit 1; }
  done
  g=$((g + 1))
done
echo "cross-build determinism: $n input/option cases, 3 builds, all encodes identical, all decodes exact; $g golden files decode exactly on every build"
