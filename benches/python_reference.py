#!/usr/bin/env python3
"""Benchmark peer: the same bits-back scheme as `bbcodec --posterior exact`, written with
constriction's Python bindings and numpy.

Model: mixture of K categoricals over 64-byte blocks, fitted per file by EM (numpy,
vectorized over blocks and components); posterior: exact P(z | x) by enumeration.
Chain: block 0 with its MAP latent; then for each block, pop z with Q, push the block's
bytes with theta_z, push z with pi; the decoder runs the chain backwards and refits Q.

Usage: benches/python_reference.py FILE [K] [BLOCK]
Prints one line of JSON: sizes, and fit+encode / decode seconds and MB/s.
(pip install constriction numpy)
"""
import json
import sys
import time

import constriction
import numpy as np

Categorical = constriction.stream.model.Categorical


def histograms(data, block):
    n_blocks = (len(data) + block - 1) // block
    idx = np.arange(len(data)) // block
    flat = np.bincount(idx * 256 + data, minlength=n_blocks * 256)
    return flat.reshape(n_blocks, 256).astype(np.float64)


def em(h, k, iters=12):
    pooled = h.sum(0) + 1e-3
    pooled /= pooled.sum()
    # Start: evenly spaced blocks, smoothed toward the pooled distribution.
    pick = np.linspace(0, len(h) - 1, k).astype(int)
    theta = h[pick] + 4.0 * pooled
    theta /= theta.sum(1, keepdims=True)
    w = np.full(k, 1.0 / k)
    for _ in range(iters):
        lj = h @ np.log(theta).T + np.log(w)
        lj -= lj.max(1, keepdims=True)
        r = np.exp(lj)
        r /= r.sum(1, keepdims=True)
        w = (r.sum(0) + 0.5) / (len(h) + 0.5 * k)
        theta = r.T @ h + 0.05 * pooled
        theta /= theta.sum(1, keepdims=True)
    return w, theta


def block_posterior(logt, logw, hist):
    """Exact P(z | x) of one block. Encoder and decoder must call exactly this (the
    same BLAS call on the same shapes), or their floats differ and decoding breaks."""
    lj = logt @ hist + logw
    q = np.exp(lj - lj.max())
    return q / q.sum(), int(lj.argmax())


def encode(data, k, block):
    h = histograms(data, block)
    w, theta = em(h, k)
    logt, logw = np.log(theta), np.log(w)
    prior = Categorical(w, perfect=False)
    comps = [Categorical(t, perfect=False) for t in theta]
    coder = constriction.stream.stack.AnsCoder()
    for i in range(len(h)):
        x = data[i * block:(i + 1) * block].astype(np.int32)
        q, map_z = block_posterior(logt, logw, h[i])
        if i == 0:
            z = map_z
        else:
            z = int(coder.decode(Categorical(q, perfect=False)))
        coder.encode_reverse(x, comps[z])
        coder.encode_reverse(z, prior)
    return coder.get_compressed(), (w, theta), len(h)


def decode(words, params, n, block):
    w, theta = params
    prior = Categorical(w, perfect=False)
    comps = [Categorical(t, perfect=False) for t in theta]
    coder = constriction.stream.stack.AnsCoder(words)
    n_blocks = (n + block - 1) // block
    out = np.zeros(n, dtype=np.int32)
    logt = np.log(theta)
    logw = np.log(w)
    for i in reversed(range(n_blocks)):
        z = int(coder.decode(prior))
        m = min(block, n - i * block)
        x = coder.decode(comps[z], m)
        out[i * block:i * block + m] = x
        if i > 0:
            hist = np.bincount(x, minlength=256).astype(np.float64)
            q, _ = block_posterior(logt, logw, hist)
            coder.encode_reverse(z, Categorical(q, perfect=False))
    return out.astype(np.uint8)


def main():
    path = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    block = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    data = np.frombuffer(open(path, "rb").read(), dtype=np.uint8)
    t0 = time.perf_counter()
    words, params, _ = encode(data, k, block)
    t1 = time.perf_counter()
    back = decode(words, params, len(data), block)
    t2 = time.perf_counter()
    assert np.array_equal(back, data), "round trip failed"
    mb = len(data) / 1e6
    print(json.dumps({"file": path, "bytes": len(data), "payload_bytes": 4 * len(words),
                      "encode_s": t1 - t0, "decode_s": t2 - t1,
                      "encode_mb_s": mb / (t1 - t0), "decode_mb_s": mb / (t2 - t1)}))


if __name__ == "__main__":
    main()
