#!/usr/bin/env python3
"""bbcodec's exact-posterior mixture path against the same scheme in Python
(constriction's bindings + numpy, benches/python_reference.py), one core each.

Usage: scripts/peer.py [FILES...]   (default: corpus text and binary files)
bbcodec times include process start and file I/O; the Python times do not.
"""
import json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
exe = os.path.join(root, "target", "release", "bbcodec")
corpus = os.path.join(root, "..", "shared", "corpus")
files = sys.argv[1:] or [os.path.join(corpus, f) for f in ["alice29.txt", "kppkn.gtb", "geo.protodata", "urls.10K"]]
K, BLOCK = 16, 64


def best_of(n, f):
    return min(f() for _ in range(n))


def run(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


print("| file | bytes | Python fit+encode MB/s | bbcodec | ratio | Python decode MB/s | bbcodec | ratio |")
print("|---|---|---|---|---|---|---|---|")
with tempfile.TemporaryDirectory() as tmp:
    for f in files:
        if not os.path.exists(f):
            continue
        n = os.path.getsize(f)
        py = json.loads(subprocess.run([sys.executable, os.path.join(root, "benches", "python_reference.py"), f, str(K), str(BLOCK)],
                                       check=True, capture_output=True, text=True).stdout)
        out = os.path.join(tmp, "x.bbc")
        enc = best_of(3, lambda: run([exe, "encode", f, "-o", out, "-f", "-q", "-T", "1", "--posterior", "exact",
                                      "--components", str(K), "--block-size", str(BLOCK)]))
        dec = best_of(3, lambda: run([exe, "decode", out, "-c", "-q", "-T", "1"]))
        be, bd = n / 1e6 / enc, n / 1e6 / dec
        print(f"| {os.path.basename(f)} | {n} | {py['encode_mb_s']:.2f} | {be:.2f} | {be / py['encode_mb_s']:.1f}x | "
              f"{py['decode_mb_s']:.2f} | {bd:.2f} | {bd / py['decode_mb_s']:.1f}x |")
