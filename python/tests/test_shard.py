"""Sharding on a real Dask cluster: shards compressed by the workers, one multi-member
file, restored by the command line."""

import numpy as np
import pytest

import bbcodec
from bbcodec.shard import compress_sharded

distributed = pytest.importorskip("distributed")


def test_shards_on_a_local_cluster_decode_with_the_cli(cli, sample, tmp_path):
    rng = np.random.default_rng(7)
    # A few MiB of varied data: text, a table, random bytes, zeros.
    table = (np.arange(200_000) % 251).astype(np.uint8).tobytes()
    noise = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    data = (sample * 20)[:600_000] + table + noise + bytes(100_000) + sample
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    dst = tmp_path / "big.bbc"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        sizes = compress_sharded(
            # The cm model's BBVI fits, several chunks per shard: each member's chunks
            # are numbered (and their fits seeded) within the member.
            client, str(src), str(dst), shard_size=len(data) // 8 + 1, level=1, chunk_size=1 << 16,
        )
    assert sizes["shards"] == 8
    assert dst.stat().st_size == sizes["compressed_bytes"]
    assert cli("decode", "-c", dst) == data
    r = bbcodec.inspect(dst.read_bytes())
    assert r["members"] == 8 and r["input_bytes"] == len(data)
    with pytest.raises(FileExistsError):
        compress_sharded(None, str(src), str(dst))
