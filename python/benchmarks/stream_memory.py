#!/usr/bin/env python3
"""Streaming through ``bbcodec.open`` keeps memory bounded: write SIZE MiB of generated
data (the corpus files concatenated over and over, each copy with a different byte
offset, so nothing repeats exactly) through ``open(path, "wb")`` and read it back
through ``open(path, "rb")``, comparing SHA-256; print the peak resident size of the
process after each direction.

Usage: python3 python/benchmarks/stream_memory.py [SIZE_MIB] [-- options...]
(default 1024 MiB; options such as model=mixture level=1).
"""
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import bbcodec

ROOT = Path(__file__).resolve().parents[2]


def source(total):
    corpus = ROOT.parent / "shared" / "corpus"
    names = ["alice29.txt", "fireworks.jpeg", "geo.protodata", "kppkn.gtb", "urls.10K"]
    parts = [(corpus / n).read_bytes() for n in names if (corpus / n).exists()]
    if not parts:
        parts = [(ROOT / "testdata" / "alice29-excerpt.txt").read_bytes()]
    base = b"".join(parts)
    sent, i = 0, 0
    while sent < total:
        piece = base[i % 4096 :] + base[: i % 4096]
        piece = piece[: total - sent]
        yield piece
        sent += len(piece)
        i += 1


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    args = sys.argv[1:]
    size = int(args[0]) if args and "=" not in args[0] else 1024
    options = dict(a.split("=", 1) for a in args if "=" in a)
    total = size << 20
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stream.bbc"
        h = hashlib.sha256()
        t = time.perf_counter()
        with bbcodec.open(path, "wb", **options) as f:
            for piece in source(total):
                h.update(piece)
                for k in range(0, len(piece), 1 << 20):
                    f.write(piece[k : k + (1 << 20)])
        enc = time.perf_counter() - t
        print(
            f"wrote {total} bytes -> {path.stat().st_size} bytes in {enc:.1f} s "
            f"({total / enc / 1e6:.1f} MB/s); peak RSS {peak_mib():.1f} MiB"
        )
        g = hashlib.sha256()
        t = time.perf_counter()
        n = 0
        with bbcodec.open(path, "rb") as f:
            while True:
                piece = f.read(1 << 20)
                if not piece:
                    break
                g.update(piece)
                n += len(piece)
        dec = time.perf_counter() - t
        assert n == total and g.digest() == h.digest(), "the stream must come back intact"
        print(
            f"read {n} bytes back in {dec:.1f} s ({n / dec / 1e6:.1f} MB/s), SHA-256 equal; "
            f"peak RSS {peak_mib():.1f} MiB"
        )


if __name__ == "__main__":
    main()
