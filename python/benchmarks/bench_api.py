#!/usr/bin/env python3
"""Speed of the Python package, as ratios measured in one run (machines are noisy):

1. ``bbcodec.compress`` / ``decompress`` against the command line on the same file,
   the two run alternately, the median of the per-pair ratios (the CLI's time includes
   its process start and file I/O);
2. two threads compressing at once against the same two compressions one after the
   other (each with one worker thread): with the GIL released, the pair finishes in
   about half the time on two cores.

Usage: python3 python/benchmarks/bench_api.py [FILE] [--runs N] [-- options...]
(default FILE: ../shared/corpus/alice29.txt, else testdata/alice29-excerpt.txt).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bbcodec

ROOT = Path(__file__).resolve().parents[2]


def main():
    args = sys.argv[1:]
    runs = 5
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i : i + 2]
    path = Path(args[0]) if args else ROOT.parent / "shared" / "corpus" / "alice29.txt"
    if not path.exists():
        path = ROOT / "testdata" / "alice29-excerpt.txt"
    exe = os.environ.get("BBCODEC_BIN", str(ROOT / "target" / "release" / "bbcodec"))
    data = path.read_bytes()
    packed = bbcodec.compress(data)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.bbc"
        enc, dec = [], []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([exe, "encode", "-q", "-f", str(path), "-o", str(out)], check=True)
            cli_enc = time.perf_counter() - t
            t = time.perf_counter()
            p = bbcodec.compress(data)
            py_enc = time.perf_counter() - t
            assert p == out.read_bytes(), "compress must give the CLI's bytes"
            t = time.perf_counter()
            subprocess.run([exe, "decode", "-q", "-f", str(out), "-o", str(Path(d) / "back")], check=True)
            cli_dec = time.perf_counter() - t
            t = time.perf_counter()
            assert bbcodec.decompress(packed) == data
            py_dec = time.perf_counter() - t
            enc.append(py_enc / cli_enc)
            dec.append(py_dec / cli_dec)
    print(f"{path.name}: {len(data)} bytes, {runs} runs")
    print(
        f"bbcodec.compress / CLI encode time: median {statistics.median(enc):.3f} "
        f"(range {min(enc):.3f}-{max(enc):.3f})"
    )
    print(
        f"bbcodec.decompress / CLI decode time: median {statistics.median(dec):.3f} "
        f"(range {min(dec):.3f}-{max(dec):.3f})"
    )
    half = data[: len(data) // 2], data[len(data) // 2 :]
    ratios = []
    for _ in range(runs):
        t = time.perf_counter()
        for h in half:
            bbcodec.compress(h, threads=1)
        serial = time.perf_counter() - t
        t = time.perf_counter()
        ts = [threading.Thread(target=bbcodec.compress, args=(h,), kwargs={"threads": 1}) for h in half]
        for x in ts:
            x.start()
        for x in ts:
            x.join()
        ratios.append((time.perf_counter() - t) / serial)
    print(
        f"two threads at once / one after the other: median {statistics.median(ratios):.3f} "
        f"(range {min(ratios):.3f}-{max(ratios):.3f}; {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
