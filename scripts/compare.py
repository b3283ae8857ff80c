#!/usr/bin/env python3
"""Compare bbcodec with gzip -9, bzip2 -9, xz -9 and zstd -19 on a folder of files
(and, with --strong, with xz -9e, brotli 11, PPMd order 8 (7z), zpaq -m4 and -m5).

Usage: scripts/compare.py [--runs N] [FOLDER|FILE...] [-- bbcodec encode options...]
(default folder: ../shared/corpus). Builds nothing: run `cargo build --release` first.
Prints a Markdown table: sizes in bytes, bits per byte, bbcodec's -ELBO, -log P(x),
the gap between measured net bits and -ELBO, encode/decode speed in MB/s (median of N
runs, default 5, process start included), and bbcodec's speed as a ratio to bzip2 -9's
(compress, decompress): the median of per-pair ratios, bbcodec and bzip2 run alternately.
Every round trip (bbcodec's and each peer's) is decoded and compared with the input; a
mismatch stops the script.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

# 7-Zip: `7z` (p7zip) or `7zz` (the 7zip package).
SEVEN_ZIP = shutil.which("7z") or "7zz"

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
args = sys.argv[1:]
extra = []
if "--" in args:
    i = args.index("--")
    args, extra = args[:i], args[i + 1:]
runs = 5
strong = False
while args[:1] in (["--runs"], ["--strong"]):
    if args[0] == "--strong":
        strong, args = True, args[1:]
    else:
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


def strong_peers(name, path, original, n, row, tmp):
    """Sizes and one-run speeds of the strongest peers; every round trip checked."""
    path = os.path.abspath(path)
    d = os.path.join(tmp, "peers")
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, "out")
    peers = [
        ("xz -9e", ["xz", "-9e", "-c", path], None, lambda f: ["xz", "-d", "-c", f]),
        ("brotli 11", ["brotli", "-q", "11", "-c", path], None, lambda f: ["brotli", "-d", "-c", f]),
    ]
    for label, cmd, _, dec in peers:
        data, tc = run_once(cmd)
        open(out, "wb").write(data)
        back, tdd = run_once(dec(out))
        check(name, label, original, back)
        row[label] = (len(data), mbps(n, tc), mbps(n, tdd))
    # Archivers: the archive's size, extraction compared with the input.
    for label, arc, make, extract in [
        ("PPMd o8", "a.7z", lambda a: [SEVEN_ZIP, "a", "-t7z", "-m0=PPMd:o=8:mem=256m", "-bso0", "-bsp0", a, path],
         lambda a, o: [SEVEN_ZIP, "x", "-bso0", "-bsp0", "-o" + o, a]),
        ("zpaq -m4", "a4.zpaq", lambda a: ["zpaq", "a", a, path, "-m4", "-t1"],
         lambda a, o: ["zpaq", "x", a, "-to", o, "-t1"]),
        ("zpaq -m5", "a5.zpaq", lambda a: ["zpaq", "a", a, path, "-m5", "-t1"],
         lambda a, o: ["zpaq", "x", a, "-to", o, "-t1"]),
    ]:
        a = os.path.join(d, arc)
        o = os.path.join(d, "x-" + arc)
        if os.path.exists(a):
            os.remove(a)
        shutil.rmtree(o, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run(make(a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        tc = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(extract(a, o), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        tdd = time.perf_counter() - t
        found = [os.path.join(r, f) for r, _, fs in os.walk(o) for f in fs]
        check(name, label, original, open(found[0], "rb").read() if found else b"")
        row[label] = (os.path.getsize(a), mbps(n, tc), mbps(n, tdd))


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
        if strong:
            strong_peers(name, path, original, n, row, tmp)
        rows.append(row)

bpb = lambda b, n: 8 * b / n if n else 0
if strong:
    labels = ["xz -9e", "brotli 11", "PPMd o8", "zpaq -m4", "zpaq -m5"]
    print("| file | bytes | bbcodec | " + " | ".join(labels) + " | bbcodec enc/dec MB/s | zpaq -m5 enc/dec MB/s |")
    print("|---|---|---|" + "---|" * len(labels) + "---|---|")
    for r in rows:
        n = r["bytes"]
        cells = " | ".join(f"{bpb(r[l][0], n):.3f}" for l in labels)
        z = r["zpaq -m5"]
        print(f"| {r['file']} | {n} | {bpb(r['bbcodec'], n):.3f} | {cells} | {r['enc']:.2f}/{r['dec']:.2f} | {z[1]:.2f}/{z[2]:.2f} |")
    print()
print("| file | bytes | bbcodec | bits/byte | order-0 | gzip -9 | bzip2 -9 | xz -9 | zstd -19 | net vs -ELBO | enc MB/s | dec MB/s | bzip2 enc/dec MB/s | speed vs bzip2 enc/dec |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['file']} | {r['bytes']} | {r['bbcodec']} | {bpb(r['bbcodec'], r['bytes']):.3f} | {r['order0']:.0f} | "
          f"{r['gzip']} | {r['bzip2']} | {r['xz']} | {r['zstd']} | {r['gap_pct']:+.3f}% | "
          f"{r['enc']:.2f} | {r['dec']:.2f} | {r['bzip2_enc']:.1f}/{r['bzip2_dec']:.1f} | "
          f"{r['enc_ratio']:.2f}x/{r['dec_ratio']:.2f}x |")
