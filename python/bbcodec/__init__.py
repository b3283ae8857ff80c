"""bbcodec from Python: lossless bits-back compression with per-block variational
inference, and an honest report of where the bits go.

The surface follows the standard :mod:`lzma` and :mod:`gzip` modules::

    import bbcodec
    packed = bbcodec.compress(data)                 # the default model (cm)
    packed = bbcodec.compress(data, level=1)        # options as the command line names them
    assert bbcodec.decompress(packed) == data
    report = bbcodec.inspect(packed)                # the keys of `bbcodec inspect --json`
    with bbcodec.open("big.bbc", "wb") as f:        # streaming, memory bounded
        f.write(chunk)

and codes numpy symbol streams with your own discrete-latent model::

    coder = bbcodec.BitsBackCoder(prior, likelihood, block_size=16, posterior="bbvi")
    message = coder.encode(symbols)                 # message.words, message.report
    assert (coder.decode(message, len(symbols)) == symbols).all()

Options are the command line's (``model``, ``level``, ``posterior``, ``particles``,
``iwae_samples``, ``estimator``, ``iters``, ``samples``, ``lr``, ``block_size``,
``chunk_size``, ``seed``, ``threads``, and each model's own, such as ``latent_dim``, ``bin_bits``, ``table_bits``,
``components``), so that the same options give the same bytes as ``bbcodec encode``.
The GIL is released while coding. Failures raise :class:`BbcodecError` (a
:class:`ValueError`) with the one-line message the command line prints.
"""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _bbcodec
from ._bbcodec import BbcodecError

__all__ = [
    "BbcodecError",
    "BitsBackCoder",
    "BbcFile",
    "Message",
    "analyze",
    "compress",
    "compress_with_report",
    "decompress",
    "inspect",
    "open",
]

__version__ = _bbcodec.__version__

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def _options(options: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def compress_with_report(data: bytes, **options: Any) -> Tuple[bytes, Dict[str, Any]]:
    """Compress ``data``; return the file bytes and the rate report (the keys of
    ``bbcodec encode --report``)."""
    out, report = _bbcodec.compress(bytes(data), _options(options))
    return out, json.loads(report)


def compress(data: bytes, **options: Any) -> bytes:
    """Compress ``data`` with the options the command line names (see the module's
    documentation); the bytes are those ``bbcodec encode`` writes."""
    return compress_with_report(data, **options)[0]


def decompress(data: bytes, **options: Any) -> bytes:
    """Decompress ``data``: every member, one after the other (as ``cat``-ed files
    decode). Only decoder options apply (``threads``, ``weights``)."""
    return _bbcodec.decompress(bytes(data), _options(options))


def inspect(data: bytes, **options: Any) -> Dict[str, Any]:
    """Decode ``data`` without keeping it and return its report: the same keys as
    ``bbcodec inspect --json`` (the total, with each member's under
    ``member_reports``)."""
    return json.loads(_bbcodec.inspect(bytes(data), _options(options)))


def analyze(data: bytes, **options: Any) -> List[Dict[str, Any]]:
    """Code ``data`` with every posterior and estimator of the model and return the
    rows of ``bbcodec analyze`` (net bits, -ELBO, -log P(x), KL, overhead, time)."""
    return json.loads(_bbcodec.analyze(bytes(data), _options(options)))["rows"]


class BbcFile(io.BufferedIOBase):
    """A ``.bbc`` file opened by :func:`open`: written through an encoder running on a
    thread of its own (``"wb"``, ``"xb"``), or read through a decoder (``"rb"``).
    Memory stays bounded whatever the stream's size, as in the command line."""

    def __init__(self, path: PathLike, mode: str = "rb", **options: Any) -> None:
        super().__init__()
        if mode not in ("rb", "r", "wb", "w", "xb", "x"):
            raise ValueError(f"invalid mode {mode!r}: expected 'rb', 'wb' or 'xb'")
        self._path = os.fsdecode(path)
        self._mode = mode[0]
        self.report: Optional[Dict[str, Any]] = None
        if self._mode == "r":
            self._reader = _bbcodec.StreamReader(self._path, _options(options))
            self._writer = None
        else:
            self._writer = _bbcodec.StreamWriter(
                self._path, self._mode == "x", _options(options)
            )
            self._reader = None
        self._position = 0

    @property
    def name(self) -> str:
        return self._path

    @property
    def mode(self) -> str:
        return self._mode + "b"

    def readable(self) -> bool:
        return self._reader is not None

    def writable(self) -> bool:
        return self._writer is not None

    def seekable(self) -> bool:
        return False

    def _check(self, reading: bool) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if reading and self._reader is None:
            raise io.UnsupportedOperation("not open for reading")
        if not reading and self._writer is None:
            raise io.UnsupportedOperation("not open for writing")

    def read(self, size: Optional[int] = -1) -> bytes:
        self._check(True)
        if size is None or size < 0:
            parts = []
            while True:
                piece = self._reader.read(1 << 20)
                if not piece:
                    break
                parts.append(piece)
            data = b"".join(parts)
        else:
            parts, need = [], size
            while need > 0:
                piece = self._reader.read(need)
                if not piece:
                    break
                parts.append(piece)
                need -= len(piece)
            data = b"".join(parts)
        self._position += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        self._check(True)
        data = self._reader.read(size if size >= 0 else 1 << 20)
        self._position += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(memoryview(b)))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)

    def write(self, b: Any) -> int:
        self._check(False)
        data = bytes(b)
        self._writer.write(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        """Finish the file (writing: wait for the encoder and keep its report in
        :attr:`report`)."""
        if self.closed:
            return
        try:
            if self._writer is not None:
                self.report = json.loads(self._writer.close())
            elif self._reader is not None:
                self._reader.close()
        finally:
            super().close()


def open(path: PathLike, mode: str = "rb", **options: Any) -> BbcFile:  # noqa: A001
    """Open a ``.bbc`` file for streaming: ``"rb"`` decodes as you read, ``"wb"``
    (or ``"xb"``, which refuses an existing file) encodes as you write, with the
    options of :func:`compress`."""
    return BbcFile(path, mode, **options)


_MESSAGE_MAGIC = b"BBM\x01"


class Message:
    """A coded symbol stream: everything :meth:`BitsBackCoder.decode` needs besides
    the model (the words, the count of chunk-start blocks, the fit's seed, the number
    of symbols), and the encoder's rate report."""

    def __init__(
        self,
        words: np.ndarray,
        bootstrap_blocks: int,
        seed: int,
        num_symbols: int,
        report: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.words = np.ascontiguousarray(words, dtype=np.uint32)
        self.bootstrap_blocks = int(bootstrap_blocks)
        self.seed = int(seed)
        self.num_symbols = int(num_symbols)
        self.report = report or {}

    def __bytes__(self) -> bytes:
        head = struct.pack(
            "<4sQQQQ",
            _MESSAGE_MAGIC,
            self.num_symbols,
            self.bootstrap_blocks,
            self.seed,
            len(self.words),
        )
        return head + self.words.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Message":
        """The message :func:`bytes` wrote."""
        size = struct.calcsize("<4sQQQQ")
        if len(data) < size:
            raise BbcodecError("message: truncated header")
        magic, n, boot, seed, count = struct.unpack_from("<4sQQQQ", data)
        if magic != _MESSAGE_MAGIC:
            raise BbcodecError("message: not a bbcodec message (bad magic)")
        if len(data) != size + 4 * count:
            raise BbcodecError(
                f"message: {len(data) - size} bytes of words, expected {4 * count}"
            )
        words = np.frombuffer(data, dtype="<u4", offset=size).astype(np.uint32)
        return cls(words, boot, seed, n)

    def __len__(self) -> int:
        return self.num_symbols

    def __repr__(self) -> str:
        return (
            f"Message({self.num_symbols} symbols in {len(self.words)} words, "
            f"{self.bootstrap_blocks} chunk-start blocks)"
        )


class BitsBackCoder:
    """Bits-back coding of symbol streams with your own discrete-latent model.

    ``prior`` has shape ``(K,)``; ``likelihood`` has shape ``(K, A)`` (the same
    distribution at every position of a block) or ``(K, block_size, A)`` (one per
    position). Both hold probabilities: non-negative, each row normalized by the coder.
    A symbol that occurs must have nonzero probability under every latent.
    ``posterior`` is ``"exact"`` (enumerated), ``"bbvi"`` (fitted by score-function
    BBVI, ``iters`` x ``samples`` at step ``lr``) or ``"map"`` (no bits back).
    """

    def __init__(
        self,
        prior: Any,
        likelihood: Any,
        block_size: int,
        posterior: str = "exact",
        iters: Optional[int] = None,
        samples: Optional[int] = None,
        lr: Optional[float] = None,
        seed: Optional[int] = None,
    ) -> None:
        prior = np.ascontiguousarray(prior, dtype=np.float64)
        likelihood = np.ascontiguousarray(likelihood, dtype=np.float64)
        if prior.ndim != 1:
            raise ValueError(f"prior has shape {prior.shape}; expected (K,)")
        self.block_size = int(block_size)
        self.posterior = posterior
        self.alphabet_size = int(likelihood.shape[-1]) if likelihood.ndim else 0
        self._coder = _bbcodec.ArrayCoder(
            prior, likelihood, self.block_size, posterior, iters, samples, lr, seed
        )

    def encode(self, symbols: Any) -> Message:
        """Code ``symbols`` (integers below the alphabet size); returns the message."""
        x = np.asarray(symbols)
        if x.ndim != 1:
            raise ValueError(f"symbols have shape {x.shape}; expected one axis")
        if x.size and (x.min() < 0 or x.max() >= self.alphabet_size):
            raise ValueError(
                f"symbols must lie in 0..{self.alphabet_size - 1} (the likelihood's alphabet)"
            )
        x = np.ascontiguousarray(x, dtype=np.uint16)
        words, boot, seed, report = self._coder.encode(x)
        return Message(words, boot, seed, len(x), json.loads(report))

    def decode(self, message: Union[Message, bytes], n: Optional[int] = None) -> np.ndarray:
        """The ``n`` symbols (default: the message's count) as a ``uint16`` array."""
        if isinstance(message, (bytes, bytearray, memoryview)):
            message = Message.from_bytes(bytes(message))
        count = message.num_symbols if n is None else int(n)
        return self._coder.decode(
            message.words, count, message.bootstrap_blocks, message.seed
        )
