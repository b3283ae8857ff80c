"""Sharded compression on an existing cluster engine (Dask): a large input is cut into
shards, each compressed by a worker as a member of its own, and the members are written
back to back into one file, which ``bbcodec decode`` (or :func:`bbcodec.decompress`)
restores as the concatenation of the shards.

Nothing here plays the cluster: pass a ``distributed.Client`` of any deployment
(``LocalCluster``, ``dask-jobqueue`` on a batch system, Kubernetes, ...). Each worker
reads its own byte range of the input (so the input must be on storage the workers
see: a shared file system, or the local disk of a ``LocalCluster``), and only the
compressed shards travel back.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from . import compress

__all__ = ["compress_sharded", "compress_range"]

#: Default shard size: large enough that a shard's chunks keep the model's statistics,
#: small enough that the shards keep every worker busy.
DEFAULT_SHARD = 32 << 20


def compress_range(path: str, offset: int, length: int, options: Dict[str, Any]) -> bytes:
    """Compress ``length`` bytes of ``path`` from ``offset``: one member (a worker's
    task)."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise OSError(f"{path}: {length} bytes expected at offset {offset}, {len(data)} read")
    return compress(data, **options)


def compress_sharded(
    client: Any,
    src: str,
    dst: str,
    shard_size: int = DEFAULT_SHARD,
    in_flight: Optional[int] = None,
    **options: Any,
) -> Dict[str, Any]:
    """Compress the file ``src`` into ``dst`` as shards of ``shard_size`` bytes, coded
    on the workers of the Dask ``client``, written in order as one multi-member file.

    At most ``in_flight`` shards (default: twice the workers' threads) are out at once,
    so the driver holds a bounded amount of compressed data. ``dst`` is written as a
    temporary sibling and renamed when every shard has succeeded; an existing ``dst``
    is an error. Returns the sizes: ``input_bytes``, ``compressed_bytes``, ``shards``.
    """
    if shard_size <= 0:
        raise ValueError("shard_size must be positive")
    if os.path.exists(dst):
        raise FileExistsError(f"{dst}: already exists")
    size = os.path.getsize(src)
    offsets = list(range(0, size, shard_size)) or [0]
    if in_flight is None:
        threads = sum(client.nthreads().values()) or 1
        in_flight = 2 * threads
    tmp = os.path.join(os.path.dirname(dst) or ".", f".{os.path.basename(dst)}.partial")
    written = 0
    try:
        with open(tmp, "wb") as out:
            pending = []
            next_shard = 0
            for i in range(len(offsets)):
                while next_shard < len(offsets) and len(pending) < in_flight:
                    off = offsets[next_shard]
                    n = min(shard_size, size - off)
                    pending.append(
                        client.submit(compress_range, src, off, n, options, pure=False)
                    )
                    next_shard += 1
                member = pending.pop(0).result()
                out.write(member)
                written += len(member)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return {"input_bytes": size, "compressed_bytes": written, "shards": len(offsets)}
