#!/usr/bin/env python3
"""A large sharded run: SIZE MiB of generated data (as stream_memory.py makes it)
compressed on a Dask LocalCluster (one single-threaded worker per core) into one
multi-member file, against one `bbcodec encode` process (with one thread, and with all
cores); every output is decoded by the command line and compared.

Usage: python3 python/benchmarks/shard_run.py [SIZE_MIB] [SHARD_MIB] [-- options...]
(default 256 and 32; options as key=value, e.g. level=1).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import distributed

from bbcodec.shard import compress_sharded

sys.path.insert(0, str(Path(__file__).parent))
from stream_memory import source  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def flags(options):
    out = []
    for k, v in options.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def main():
    args = [a for a in sys.argv[1:] if "=" not in a]
    options = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    size = int(args[0]) if args else 256
    shard = int(args[1]) if len(args) > 1 else 32
    exe = os.environ.get("BBCODEC_BIN", str(ROOT / "target" / "release" / "bbcodec"))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "input.bin"
        h = hashlib.sha256()
        with open(src, "wb") as f:
            for piece in source(size << 20):
                h.update(piece)
                f.write(piece)

        def check(path):
            r = subprocess.run([exe, "decode", "-c", "-q", str(path)], capture_output=True, check=True)
            assert hashlib.sha256(r.stdout).digest() == h.digest(), path

        dst = Path(d) / "sharded.bbc"
        with distributed.LocalCluster(
            n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:
            t = time.perf_counter()
            sizes = compress_sharded(client, str(src), str(dst), shard_size=shard << 20, threads=1, **options)
            cluster_s = time.perf_counter() - t
        check(dst)
        print(
            f"Dask LocalCluster, {cores} workers x 1 thread, {sizes['shards']} shards of {shard} MiB: "
            f"{size << 20} -> {sizes['compressed_bytes']} bytes in {cluster_s:.1f} s "
            f"({(size << 20) / cluster_s / 1e6:.2f} MB/s)"
        )
        if shutil.which("parallel") and shutil.which("split"):
            parts = Path(d) / "parts"
            parts.mkdir()
            t = time.perf_counter()
            subprocess.run(["split", "-b", f"{shard}M", str(src), str(parts / "part.")], check=True)
            names = sorted(str(p) for p in parts.iterdir())
            subprocess.run(
                ["parallel", "-j", str(cores), exe, "encode", "-q", "-T1", *flags(options), ":::", *names],
                check=True,
            )
            joined = Path(d) / "parallel.bbc"
            with open(joined, "wb") as out:
                for n in names:
                    out.write(Path(n + ".bbc").read_bytes())
            par_s = time.perf_counter() - t
            check(joined)
            print(
                f"GNU parallel -j {cores}, split into {len(names)} parts of {shard} MiB, cat: "
                f"{joined.stat().st_size} bytes in {par_s:.1f} s ({(size << 20) / par_s / 1e6:.2f} MB/s)"
            )
        for threads in (1, 0):
            out = Path(d) / f"one{threads}.bbc"
            t = time.perf_counter()
            subprocess.run([exe, "encode", "-q", "-T", str(threads), str(src), "-o", str(out), *flags(options)], check=True)
            s = time.perf_counter() - t
            check(out)
            label = "1 thread" if threads == 1 else f"all {cores} cores"
            print(
                f"one bbcodec encode process, {label}: {out.stat().st_size} bytes in {s:.1f} s "
                f"({(size << 20) / s / 1e6:.2f} MB/s; cluster time / this {cluster_s / s:.2f})"
            )


if __name__ == "__main__":
    main()
