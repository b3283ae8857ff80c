#!/usr/bin/env python3
"""Compare bbcodec with gzip -9, bzip2 -9, xz -9 and zstd -19 on a folder of files.

Usage: scripts/compare.py [--runs N] [FOLDER|FILE...] [-- bbcodec encode options...]
(default folder: ../shared/corpus). Builds nothing: run `cargo build --release` first.
Prints a Markdown table: sizes in bytes, bits per byte, bbcodec's -ELBO, -log P(x),
the gap between measured net bits and -ELBO, encode/decode speed in MB/s (median of N
runs, default 5, process start included), and bbcodec's speed as a ratio to bzip2 -9's
(compress, decompress): the median of per-pair ratios, bbcodec and bzip2 run alternately.
Every round trip (bbcodec's and each peer's) is decoded and compared with the input; a
mismatch stops the script.
"""
import json, os, statistics, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
args = sys.argv[1:]
extra = []
if "--" in args:
    i = args.index("--")
    args, extra = args[:i], args[i + 1:]
runs = 5
if args[:1] == ["--runs"]:
    runs, args = int(args[1]), args[2:]
targets = args or [os.path.join(root, "..", "shared", "corpus")]
paths = []
for t in targets:
    if os.path.isdir(t):
        paths += [os.path.join(t, n) for n in sorted(os.listdir(t))]
    else:
        paths.append(t)
exe = os.path.join(root, "target", "release", "bbcodec")


def timed(cmd, stdin=None):
    """Output of `cmd` and its median wall time over `runs` runs."""
    times = []
    for _ in range(runs):
        f = open(stdin, "rb") if stdin else None
        t = time.perf_counter()
        out = subprocess.run(cmd, stdin=f, stdout=subprocess.PIPE, check=True).stdout
        times.append(time.perf_counter() - t)
        if f:
            f.close()
    return out, statistics.median(times)


def run_once(cmd, stdin=None):
    f = open(stdin, "rb") if stdin else None
    t = time.perf_counter()
    out = subprocess.run(cmd, stdin=f, stdout=subprocess.PIPE, check=True).stdout
    t = time.perf_counter() - t
    if f:
        f.close()
    return out, t


def paired(a, b):
    """Median times of two commands `(cmd, stdin)` run alternately `runs` times, and the
    median of the per-pair ratios time(b) / time(a): both see the same machine state."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(run_once(*a)[1])
        tb.append(run_once(*b)[1])
    ratio = statistics.median(y / x for x, y in zip(ta, tb))
    return statistics.median(ta), statistics.median(tb), ratio


def check(name, tool, original, decoded):
    if decoded != original:
        sys.exit(f"{name}: {tool} does not round-trip ({len(decoded)} bytes back, {len(original)} in)")


def mbps(n, s):
    return n / 1e6 / s if s > 0 else float("inf")


rows = []
with tempfile.TemporaryDirectory() as tmp:
    for path in paths:
        name = os.path.basename(path)
        if not os.path.isfile(path) or name.endswith(".md"):
            continue
        n = os.path.getsize(path)
        bbc = os.path.join(tmp, name + ".bbc")
        rep = os.path.join(tmp, name + ".json")
        enc_cmd = [exe, "encode", path, "-o", bbc, "-f", "-q", "--report", rep] + extra
        run_once(enc_cmd)
        bz = os.path.join(tmp, name + ".bz2ref")
        open(bz, "wb").write(run_once(["bzip2", "-9", "-c"], path)[0])
        # bbcodec against bzip2 -9, alternating, for the speed ratios.
        te, _, enc_ratio = paired((enc_cmd, None), (["bzip2", "-9", "-c"], path))
        td, _, dec_ratio = paired(([exe, "decode", bbc, "-c", "-q"], None), (["bzip2", "-d", "-c"], bz))
        original = open(path, "rb").read()
        check(name, "bbcodec", original, run_once([exe, "decode", bbc, "-c", "-q"])[0])
        check(name, "bzip2", original, run_once(["bzip2", "-d", "-c"], bz)[0])
        r = json.load(open(rep))
        row = {"file": name, "bytes": n, "bbcodec": r["compressed_bytes"], "order0": r["order0_bits"] / 8,
               "neg_elbo": r["neg_elbo_bits"], "nlpx": r["neg_log_px_bits"],
               "gap_pct": 100 * (r["net_bits"] - r["neg_elbo_bits"]) / max(r["neg_elbo_bits"], 1),
               "enc": mbps(n, te), "dec": mbps(n, td), "enc_ratio": enc_ratio, "dec_ratio": dec_ratio}
        for tool, copt, dopt in [("gzip", "-9", "-d"), ("bzip2", "-9", "-d"), ("xz", "-9", "-d"), ("zstd", "-19", "-d")]:
            out, tc = timed([tool, copt, "-c"] + (["-q"] if tool == "zstd" else []), stdin=path)
            cf = os.path.join(tmp, name + "." + tool)
            open(cf, "wb").write(out)
            back, tdd = timed([tool, dopt, "-c"] + (["-q"] if tool == "zstd" else []), stdin=cf)
            check(name, tool, original, back)
            row[tool] = len(out)
            row[tool + "_enc"] = mbps(n, tc)
            row[tool + "_dec"] = mbps(n, tdd)
        rows.append(row)

bpb = lambda b, n: 8 * b / n if n else 0
print("| file | bytes | bbcodec | bits/byte | order-0 | gzip -9 | bzip2 -9 | xz -9 | zstd -19 | net vs -ELBO | enc MB/s | dec MB/s | bzip2 enc/dec MB/s | speed vs bzip2 enc/dec |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['file']} | {r['bytes']} | {r['bbcodec']} | {bpb(r['bbcodec'], r['bytes']):.3f} | {r['order0']:.0f} | "
          f"{r['gzip']} | {r['bzip2']} | {r['xz']} | {r['zstd']} | {r['gap_pct']:+.3f}% | "
          f"{r['enc']:.2f} | {r['dec']:.2f} | {r['bzip2_enc']:.1f}/{r['bzip2_dec']:.1f} | "
          f"{r['enc_ratio']:.2f}x/{r['dec_ratio']:.2f}x |")
