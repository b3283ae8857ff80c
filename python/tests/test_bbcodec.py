"""The Python package against the command line and the rate identity."""

import json
import threading

import numpy as np
import pytest

import bbcodec


def test_compress_gives_the_cli_bytes(cli, sample, tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(sample)
    assert bbcodec.compress(sample) == cli("encode", "-c", "-q", path)
    # Options by the command line's names give the same bytes as the flags.
    assert bbcodec.compress(sample, level=1, block_size=1024) == cli(
        "encode", "-1", "--block-size", "1024", "-c", "-q", path
    )
    assert bbcodec.compress(sample, model="mixture", posterior="bbvi", iters=8) == cli(
        "encode", "--model", "mixture", "--posterior", "bbvi", "--iters", "8", "-c", "-q", path
    )
    # Importance weighting, and its report.
    iw = dict(model="logistic", posterior="iw", particles=4)
    packed, report = bbcodec.compress_with_report(sample, iwae_samples=128, **iw)
    assert packed == cli(
        "encode", "--model", "logistic", "--posterior", "iw", "--particles", "4", "-c", "-q", path
    )
    assert report["particles"] == 4 and report["iwae_samples"] == 128
    assert bbcodec.decompress(packed) == sample
    # Coupled particles.
    packed = bbcodec.compress(sample, model="logistic", posterior="cis", particles=4)
    assert packed == cli(
        "encode", "--model", "logistic", "--posterior", "cis", "--particles", "4", "-c", "-q", path
    )
    assert bbcodec.decompress(packed) == sample


def test_compress_a_corpus_file_as_the_cli_does(cli, corpus, tmp_path):
    data = (corpus / "geo.protodata").read_bytes()
    packed, report = bbcodec.compress_with_report(data, level=3)
    assert packed == cli("encode", "-3", "-c", "-q", corpus / "geo.protodata")
    assert bbcodec.decompress(packed) == data
    assert report["compressed_bytes"] == len(packed)
    # The rate identity, within the stated noise (4 standard deviations and the
    # chunk start's rounding of a few words).
    assert abs(report["net_bits"] - report["neg_elbo_bits"]) <= 4 * report["net_stderr_bits"] + 64


def test_decompress_inspect_and_members(cli, sample, tmp_path):
    # Several chunks each, with seeded fits (BBVI) in both models.
    a = bbcodec.compress(sample[:10000], chunk_size=4096, block_size=1024)
    b = bbcodec.compress(sample[10000:], model="mixture", posterior="bbvi", chunk_size=8192)
    assert bbcodec.decompress(a + b) == sample
    r = bbcodec.inspect(a + b)
    assert r["members"] == 2 and len(r["member_reports"]) == 2
    assert r["model"] == "cm+mixture"
    (tmp_path / "ab.bbc").write_bytes(a + b)
    assert json.loads(cli("inspect", "--json", tmp_path / "ab.bbc")) == r
    assert cli("decode", "-c", tmp_path / "ab.bbc") == sample


def test_errors_are_exceptions_with_the_one_line_message(sample):
    with pytest.raises(bbcodec.BbcodecError, match="not a bbcodec file"):
        bbcodec.decompress(b"definitely not")
    packed = bbcodec.compress(sample[:5000])
    with pytest.raises(bbcodec.BbcodecError, match="trailing data"):
        bbcodec.decompress(packed + b"x")
    with pytest.raises(bbcodec.BbcodecError, match="--posterior"):
        bbcodec.compress(b"abc", posterior="magic")
    with pytest.raises(TypeError, match="unknown option"):
        bbcodec.compress(b"abc", frobnicate=1)
    assert isinstance(bbcodec.BbcodecError("x"), ValueError)


def test_analyze_rows(sample):
    rows = bbcodec.analyze(sample[:8192], block_size=1024)
    names = [r["posterior"] for r in rows]
    assert "none" in names or len(names) >= 3, names
    for r in rows:
        assert r["net_bits"] > 0 and "neg_elbo_bits" in r


def test_open_streams_both_ways(sample, tmp_path):
    path = tmp_path / "s.bbc"
    with bbcodec.open(path, "wb", model="mixture", chunk_size=4096) as f:
        for i in range(0, len(sample), 3000):
            f.write(sample[i : i + 3000])
    assert f.report["input_bytes"] == len(sample)
    assert bbcodec.decompress(path.read_bytes()) == sample
    with bbcodec.open(path) as f:
        head = f.read(100)
        rest = f.read()
    assert head + rest == sample
    with pytest.raises(FileExistsError):
        try:
            bbcodec.open(path, "xb")
        except bbcodec.BbcodecError as e:
            raise FileExistsError(str(e))
    path.write_bytes(b"BBC\x02garbage")
    with pytest.raises(bbcodec.BbcodecError):
        with bbcodec.open(path) as f:
            f.read()


def test_gil_is_released_while_coding(sample):
    # Two threads coding at once must both finish and agree with one thread's bytes.
    results = [None, None]

    def work(i):
        results[i] = bbcodec.compress(sample[:20000], level=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] == bbcodec.compress(sample[:20000], level=1)


def model(k=4, a=64, seed=1):
    rng = np.random.default_rng(seed)
    lik = rng.dirichlet(np.full(a, 0.3), size=k) + 1e-4
    return np.full(k, 1.0 / k), lik, rng


def draws(lik, rng, blocks, block_size):
    lik = lik / lik.sum(axis=-1, keepdims=True)
    z = rng.integers(0, lik.shape[0], blocks)
    if lik.ndim == 2:
        return np.concatenate([rng.choice(lik.shape[1], block_size, p=lik[k]) for k in z])
    return np.concatenate(
        [[rng.choice(lik.shape[2], p=lik[k, j]) for j in range(block_size)] for k in z]
    )


@pytest.mark.parametrize("posterior", ["exact", "bbvi", "map"])
def test_bits_back_coder_round_trips_near_the_elbo(posterior):
    prior, lik, rng = model()
    symbols = draws(lik, rng, 200, 16)
    coder = bbcodec.BitsBackCoder(prior, lik, block_size=16, posterior=posterior)
    message = coder.encode(symbols)
    assert message.words.dtype == np.uint32
    back = coder.decode(message, len(symbols))
    assert back.dtype == np.uint16 and (back == symbols).all()
    again = bbcodec.Message.from_bytes(bytes(message))
    assert (coder.decode(again) == symbols).all()
    r = message.report
    # Net stack growth against -ELBO: its predicted standard deviation (the sampled
    # latents), 4 of them, plus the rounding of the ANS state at the chain's start.
    assert abs(r["net_bits"] - r["neg_elbo_bits"]) <= 4 * r["net_stderr_bits"] + 64
    assert r["kl_bits"] >= -1e-6
    if posterior == "exact":
        # P(z|x) itself, but quantized to the coder's fixed-point probabilities: its KL
        # is that rounding, far below a thousandth of a bit per block.
        assert abs(r["kl_bits"]) < 1e-3 * r["blocks"]


def test_per_position_likelihoods():
    prior, _, rng = model()
    lik = rng.dirichlet(np.full(32, 0.5), size=(4, 8)) + 1e-4
    symbols = draws(lik, rng, 100, 8)
    coder = bbcodec.BitsBackCoder(prior, lik, block_size=8)
    assert (coder.decode(coder.encode(symbols)) == symbols).all()


def test_bad_models_are_clear_errors():
    prior, lik, rng = model()
    with pytest.raises(ValueError, match="shape"):
        bbcodec.BitsBackCoder(prior, lik[:, None, :].repeat(3, axis=1), block_size=16)
    with pytest.raises(ValueError, match="non-negative"):
        bbcodec.BitsBackCoder(-prior, lik, block_size=16)
    zero = lik.copy()
    zero[:, 5] = 0.0
    coder = bbcodec.BitsBackCoder(prior, zero, block_size=16)
    with pytest.raises(bbcodec.BbcodecError):
        coder.encode(np.array([5] * 16))
    with pytest.raises(ValueError, match="symbols must lie"):
        coder.encode(np.array([64]))
    with pytest.raises(bbcodec.BbcodecError, match="magic"):
        bbcodec.Message.from_bytes(b"XXXX" + bytes(32))
