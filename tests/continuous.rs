//! Continuous latents: reparameterization BBVI against the linear-Gaussian oracle,
//! gradient checks, the discretized chain, and its rate accounting.
#![allow(clippy::needless_range_loop, clippy::useless_vec)]

mod common;

use bbcodec::inference::gaussian::{reparam_fit, reparam_gradient, DiagGaussian, ReparamConfig};
use bbcodec::model::{ContinuousLatentModel, LinearGaussian, LogisticModel};
use bbcodec::rng::BlockRng;
use bbcodec::{ContinuousBitsBackCoder, ContinuousConfig, EncodedChunk};

/// d = 3 latents, n = 12 observations; loadings with correlated columns so that the
/// mean-field optimum differs from the full posterior.
fn oracle() -> (LinearGaussian, Vec<f64>) {
    let (d, n) = (3, 12);
    let w: Vec<f64> = (0..n * d)
        .map(|i| (((i * 37) % 17) as f64 - 8.0) / 3.0)
        .collect();
    let b: Vec<f64> = (0..n).map(|j| 100.0 + 3.0 * j as f64).collect();
    let m = LinearGaussian {
        d,
        n,
        w,
        b,
        noise_sd: 2.0,
        alphabet: 256,
    };
    let z_true = [0.7, -1.2, 0.4];
    let mut x = m.mean(&z_true);
    for (j, v) in x.iter_mut().enumerate() {
        *v = (*v + ((j * 13 % 7) as f64 - 3.0) * 0.6).round();
    }
    (m, x)
}

/// Central differences of `f` at `z` against the hand-written gradient, with relative
/// tolerance `tol` (the O(h^2) truncation error at h = 1e-5 is ~1e-10 here; `tol` covers
/// float cancellation in the difference of two log-likelihoods of ~1e3 nats).
fn check_gradient(name: &str, f: &dyn Fn(&[f64], &mut [f64]) -> f64, z: [f64; 3], tol: f64) {
    let mut g = [0.0; 3];
    f(&z, &mut g);
    for k in 0..3 {
        let h = 1e-5;
        let (mut zp, mut zm) = (z, z);
        zp[k] += h;
        zm[k] -= h;
        let mut t = [0.0; 3];
        let fd = (f(&zp, &mut t) - f(&zm, &mut t)) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= tol * (1.0 + g[k].abs()),
            "{name} dim {k}: {fd} vs {}",
            g[k]
        );
    }
}

/// A fixed diagonal Gaussian away from the optimum, for identity and estimator checks.
fn fixed_q() -> DiagGaussian {
    DiagGaussian {
        mu: vec![0.2, -0.5, 0.1],
        rho: vec![-0.3, -1.0, -0.7],
    }
}

#[test]
fn gradients_match_finite_differences() {
    let (m, x) = oracle();
    check_gradient(
        "linear-Gaussian",
        &|z, g| m.log_density_grad(&x, z, g),
        [0.3, -0.4, 1.1],
        1e-6,
    );
    // The logistic model, fitted on real text.
    let text = common::corpus_file("alice29.txt")
        .unwrap_or_else(|| b"the cat sat on the mat. ".repeat(400));
    let syms: Vec<u16> = text[..8192].iter().map(|&b| b as u16).collect();
    let blocks: Vec<&[u16]> = syms.chunks(512).collect();
    let lm = LogisticModel::fit(&blocks, 3);
    let pre = lm.prepare(blocks[3]);
    check_gradient(
        "logistic",
        &|z, g| lm.log_lik_grad(&pre, z, g),
        [0.5, -0.25, 0.8],
        1e-5,
    );
}

#[test]
fn analytic_identities_hold() {
    let (m, x) = oracle();
    let q = fixed_q();
    // Eq. 5: ELBO = log p(x) - KL(q || p(z|x)).
    let lhs = m.elbo(&x, &q);
    let rhs = m.log_evidence(&x) - m.kl_to_posterior(&x, &q);
    assert!((lhs - rhs).abs() < 1e-9 * lhs.abs(), "{lhs} vs {rhs}");
    // The mean-field optimum beats any other q, and CAVI reaches it.
    let opt = m.optimal_mean_field(&x);
    assert!(m.elbo(&x, &opt) > lhs);
    let cavi = m.cavi(&x, 200);
    for k in 0..3 {
        assert!((cavi.mu[k] - opt.mu[k]).abs() < 1e-9);
        assert!((cavi.rho[k] - opt.rho[k]).abs() < 1e-12);
    }
}

#[test]
fn reparameterization_gradient_is_unbiased() {
    let (m, x) = oracle();
    let q = fixed_q();
    // Exact gradient of the analytic ELBO by central differences.
    let mut exact = vec![0.0; 6];
    for p in 0..6 {
        let h = 1e-6;
        let (mut qp, mut qm) = (q.clone(), q.clone());
        if p < 3 {
            qp.mu[p] += h;
            qm.mu[p] -= h;
        } else {
            qp.rho[p - 3] += h;
            qm.rho[p - 3] -= h;
        }
        exact[p] = (m.elbo(&x, &qp) - m.elbo(&x, &qm)) / (2.0 * h);
    }
    let n = 20_000;
    let mut rng = BlockRng::for_block(3, 1, 4);
    let (mut gm, mut gr) = (vec![0.0; 3], vec![0.0; 3]);
    let mut sum = vec![0.0; 6];
    let mut sq = vec![0.0; 6];
    for _ in 0..n {
        reparam_gradient(
            &q,
            1,
            &mut rng,
            &mut |z, g| m.log_density_grad(&x, z, g),
            &mut gm,
            &mut gr,
        );
        for p in 0..6 {
            let v = if p < 3 { gm[p] } else { gr[p - 3] };
            sum[p] += v;
            sq[p] += v * v;
        }
    }
    for p in 0..6 {
        let mean = sum[p] / n as f64;
        let se = ((sq[p] / n as f64 - mean * mean) / n as f64).sqrt();
        // CLT: 5 standard errors, false alarm ~6e-7 per coordinate.
        assert!(
            (mean - exact[p]).abs() <= 5.0 * se + 1e-6,
            "param {p}: {mean} vs {} (se {se})",
            exact[p]
        );
    }
}

#[test]
fn bbvi_reaches_the_analytic_mean_field_optimum() {
    let (m, x) = oracle();
    let opt = m.optimal_mean_field(&x);
    let cfg = ReparamConfig {
        iterations: 2000,
        samples: 8,
        learning_rate: 0.05,
    };
    let mut rng = BlockRng::for_block(1, 2, 3);
    let q = reparam_fit(
        DiagGaussian::standard(3),
        &cfg,
        &mut rng,
        &mut |z, g| m.log_density_grad(&x, z, g),
        None,
    );
    // Tolerance: the stationary noise of Adam at the final step size (0.005) with 8
    // draws; the posterior standard deviations are ~0.1-0.3, so 0.02 in the means and
    // 0.05 in log sigma is a few percent of the posterior width.
    for k in 0..3 {
        assert!(
            (q.mu[k] - opt.mu[k]).abs() < 0.02,
            "mu {k}: {} vs {}",
            q.mu[k],
            opt.mu[k]
        );
        assert!(
            (q.rho[k] - opt.rho[k]).abs() < 0.05,
            "rho {k}: {} vs {}",
            q.rho[k],
            opt.rho[k]
        );
    }
    let kl = m.kl_to_posterior(&x, &q);
    let kl_opt = m.kl_to_posterior(&x, &opt);
    assert!(kl - kl_opt < 0.01, "KL {kl} vs optimum {kl_opt}");
    assert!(
        kl_opt > 0.0,
        "mean-field cannot match a correlated posterior"
    );
}

/// Encode one chunk, decode it, and check what every continuous round trip must hold:
/// the same symbols, the same measured net bits on both sides, and net bits equal to
/// the code length of what was coded up to ANS rounding (2 bits + 1e-4 bits/symbol).
fn chunk_roundtrip<M: ContinuousLatentModel>(
    coder: &ContinuousBitsBackCoder<'_, M>,
    syms: &[u16],
    chunk: u64,
) -> EncodedChunk {
    let enc = coder.encode(syms, chunk).unwrap();
    let dec = coder
        .decode(&enc.words, syms.len(), enc.bootstrap_blocks, chunk)
        .unwrap();
    assert!(dec.symbols == syms);
    assert_eq!(enc.totals.net_bits, dec.totals.net_bits);
    let t = &enc.totals;
    assert!((t.net_bits - t.coded_bits).abs() <= 2.0 + 1e-4 * syms.len() as f64);
    enc
}

fn text_symbols(n: usize) -> Vec<u16> {
    let text = common::corpus_file("alice29.txt").unwrap_or_else(|| {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/alice29-excerpt.txt"
        ))
        .unwrap()
    });
    text[..n.min(text.len())]
        .iter()
        .map(|&b| b as u16)
        .collect()
}

#[test]
fn logistic_chain_roundtrips_and_rate_matches_neg_elbo() {
    let syms = text_symbols(40_000);
    let blocks: Vec<&[u16]> = syms.chunks(512).collect();
    let model = LogisticModel::fit(&blocks, 4);
    let coder = ContinuousBitsBackCoder::new(&model, 512, ContinuousConfig::default()).unwrap();
    // Deterministic: the stack grew by the code length of what was coded (ANS
    // rounding), checked in chunk_roundtrip.
    let enc = chunk_roundtrip(&coder, &syms, 0);
    let t = &enc.totals;
    // Statistical: coded bits vs the MC estimate of -ELBO. Tolerance: Chebyshev at 30
    // standard deviations of (popped-latent noise + MC error of the estimate), plus the
    // ANS rounding of `common::ans_tolerance` (2 bits a chunk, 1e-4 a symbol).
    let sd = (t.net_variance_bits2 + t.neg_elbo_variance_bits2).sqrt();
    let ans = 2.0 + 1e-4 * syms.len() as f64;
    let gap = t.net_bits - t.neg_elbo_bits;
    eprintln!(
        "net {} -ELBO {} gap {gap} sd {sd} KL {} bins cost {}",
        t.net_bits,
        t.neg_elbo_bits,
        t.kl_bits(),
        t.neg_elbo_bits - t.continuous_neg_elbo_bits
    );
    assert!(gap.abs() <= 30.0 * sd + ans, "gap {gap}, sd {sd}");
    // KL >= 0 within its error (IWAE is a lower bound on log P(x) in expectation).
    assert!(t.kl_bits() > -5.0 * t.neg_elbo_variance_bits2.sqrt() - 1.0);
}

#[test]
fn bin_cost_shrinks_as_bins_get_finer() {
    let syms = text_symbols(20_000);
    let blocks: Vec<&[u16]> = syms.chunks(512).collect();
    let model = LogisticModel::fit(&blocks, 2);
    let mut costs = Vec::new();
    for bits in [3u32, 5, 8, 12] {
        let cfg = ContinuousConfig {
            bin_bits: bits,
            ..Default::default()
        };
        let coder = ContinuousBitsBackCoder::new(&model, 512, cfg).unwrap();
        let enc = chunk_roundtrip(&coder, &syms, 0);
        let t = &enc.totals;
        costs.push((
            bits,
            t.neg_elbo_bits - t.continuous_neg_elbo_bits,
            t.neg_elbo_variance_bits2.sqrt(),
        ));
    }
    eprintln!("bin cost by bits: {costs:?}");
    // The same draws (common random numbers) serve every b, so the costs differ by the
    // discretization alone: coarser bins cost more, and the cost vanishes as b grows.
    assert!(
        costs[0].1 > costs[1].1 && costs[1].1 > costs[2].1,
        "{costs:?}"
    );
    assert!(costs[3].1.abs() < costs[1].1, "{costs:?}");
}

#[test]
fn linear_gaussian_chain_roundtrips() {
    let (m, _) = oracle();
    let mut rng = BlockRng::for_block(9, 9, 9);
    let mut syms = Vec::new();
    for _ in 0..200 {
        let z: Vec<f64> = (0..3)
            .map(|_| bbcodec::math::box_muller(rng.uniform_open(), rng.uniform()))
            .collect();
        for (j, v) in m.mean(&z).iter().enumerate() {
            let noise = bbcodec::math::box_muller(rng.uniform_open(), rng.uniform()) * m.noise_sd;
            syms.push((v + noise + (j % 2) as f64).round().clamp(0.0, 255.0) as u16);
        }
    }
    let coder = ContinuousBitsBackCoder::new(
        &m,
        12,
        ContinuousConfig {
            bin_bits: 8,
            ..Default::default()
        },
    )
    .unwrap();
    chunk_roundtrip(&coder, &syms, 3);
}

#[test]
fn logistic_files_roundtrip_through_the_container() {
    use bbcodec::{compress, decompress, DecodeOptions, EncodeOptions, ModelKind};
    let mut inputs: Vec<(String, Vec<u8>)> = common::corpus_files()
        .into_iter()
        .filter(|(n, _)| !n.ends_with(".gz") || n.contains("labels"))
        .collect();
    inputs.push(("empty".into(), Vec::new()));
    inputs.push(("one byte".into(), b"z".to_vec()));
    inputs.push(("mixture".into(), common::mixture_data(400, 64, 3, 5)));
    for (name, data) in inputs {
        let mut o = EncodeOptions::for_model(ModelKind::Logistic);
        o.threads = 2;
        let (file, r) = compress(&data, &o).unwrap();
        let (back, d) = decompress(&file, &DecodeOptions::default()).unwrap();
        assert!(back == data, "{name}");
        assert_eq!(r.net_bits, d.net_bits, "{name}");
        assert_eq!(r.neg_log_px_method, "iwae");
        if r.raw_chunks == 0 && data.len() >= 100_000 {
            let gap = (r.net_bits - r.neg_elbo_bits).abs();
            eprintln!(
                "{name}: {} bytes, gap {:.3}%, KL {:.0} (stderr {:.0}), bin cost {:.1}",
                r.compressed_bytes,
                100.0 * gap / r.neg_elbo_bits,
                r.kl_bits,
                r.neg_elbo_stderr_bits,
                r.bin_cost_bits
            );
            assert!(
                gap <= common::rate_tolerance(&r),
                "{name}: gap {gap}, tolerance {}",
                common::rate_tolerance(&r)
            );
            assert!(
                r.kl_bits >= -5.0 * r.neg_elbo_stderr_bits,
                "{name}: KL {}",
                r.kl_bits
            );
        }
    }
}

#[test]
fn logistic_output_does_not_depend_on_threads() {
    use bbcodec::{compress, EncodeOptions, ModelKind};
    let data = common::mixture_data(600, 64, 4, 12);
    let mut o = EncodeOptions::for_model(ModelKind::Logistic);
    o.chunk_size = 8192;
    o.threads = 1;
    let (a, _) = compress(&data, &o).unwrap();
    o.threads = 2;
    let (b, _) = compress(&data, &o).unwrap();
    assert!(a == b);
}

#[test]
fn cavi_and_bbvi_final_elbo() {
    // CAVI (closed form) reaches the mean-field optimum exactly; BBVI with the default
    // budget gets within a small fraction of a nat. Their speed is compared in
    // benches/codec.rs (linear_gaussian_fit_d4_n64).
    let (m, x) = oracle();
    let opt = m.elbo(&x, &m.optimal_mean_field(&x));
    let cavi = m.elbo(&x, &m.cavi(&x, 20));
    let cfg = ReparamConfig {
        iterations: 64,
        samples: 4,
        learning_rate: 0.1,
    };
    let q = reparam_fit(
        DiagGaussian::standard(3),
        &cfg,
        &mut BlockRng::for_block(0, 0, 1),
        &mut |z, g| m.log_density_grad(&x, z, g),
        None,
    );
    let bbvi = m.elbo(&x, &q);
    eprintln!("ELBO (nats): optimum {opt:.6}, CAVI {cavi:.6}, BBVI {bbvi:.6}");
    assert!((cavi - opt).abs() < 1e-9);
    assert!(
        bbvi <= opt + 1e-9 && opt - bbvi < 0.5,
        "BBVI {bbvi} vs optimum {opt}"
    );
}

#[test]
fn monte_carlo_elbo_matches_the_analytic_elbo() {
    let (m, x) = oracle();
    let q = fixed_q();
    let analytic = m.elbo(&x, &q);
    let mut rng = BlockRng::for_block(4, 4, 4);
    let (mut gm, mut gr) = (vec![0.0; 3], vec![0.0; 3]);
    let n = 20_000;
    let (mut sum, mut sq) = (0.0, 0.0);
    for _ in 0..n {
        let e = reparam_gradient(
            &q,
            1,
            &mut rng,
            &mut |z, g| m.log_density_grad(&x, z, g),
            &mut gm,
            &mut gr,
        );
        sum += e;
        sq += e * e;
    }
    let mean = sum / n as f64;
    let se = ((sq / n as f64 - mean * mean) / n as f64).sqrt();
    // CLT: the mean of 20,000 single-draw estimates is within 5 standard errors.
    assert!(
        (mean - analytic).abs() <= 5.0 * se,
        "MC {mean} vs analytic {analytic} (se {se})"
    );
}

#[test]
fn reparameterization_refit_is_bit_identical() {
    let (m, x) = oracle();
    let cfg = ReparamConfig {
        iterations: 64,
        samples: 4,
        learning_rate: 0.1,
    };
    let fit = || {
        reparam_fit(
            DiagGaussian::standard(3),
            &cfg,
            &mut BlockRng::for_block(7, 3, 11),
            &mut |z, g| m.log_density_grad(&x, z, g),
            None,
        )
    };
    let (a, b) = (fit(), fit());
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.mu), bits(&b.mu));
    assert_eq!(bits(&a.rho), bits(&b.rho));
}

/// Importance-weighted bits-back on the logistic model: every particle count round-trips
/// with the net bits equal to the coded length (the particle choice included); one
/// particle codes the very words of the BBVI chain; and more particles code below the
/// BBVI chain's `-ELBO`, toward `-log P(x)`.
#[test]
fn importance_weighted_chain_roundtrips_and_codes_below_neg_elbo() {
    use bbcodec::PosteriorKind;
    let syms = text_symbols(40_000);
    let blocks: Vec<&[u16]> = syms.chunks(512).collect();
    let model = LogisticModel::fit(&blocks, 4);
    let config = |posterior| ContinuousConfig {
        posterior,
        ..ContinuousConfig::default()
    };
    let bbvi = ContinuousBitsBackCoder::new(&model, 512, ContinuousConfig::default()).unwrap();
    let base = chunk_roundtrip(&bbvi, &syms, 0);
    let code = |posterior| {
        let coder = ContinuousBitsBackCoder::new(&model, 512, config(posterior)).unwrap();
        chunk_roundtrip(&coder, &syms, 0)
    };
    let one = code(PosteriorKind::ImportanceWeighted(1));
    assert_eq!(one.words, base.words);
    let t = &base.totals;
    // The expected net of N particles is the N-sample bound, below -ELBO by about the
    // KL (174 bits here, -ELBO less the 16-sample IWAE estimate) as N grows. The net of
    // one chain draws its latents: its noise is at most the one-particle chain's
    // (`net_variance_bits2`, averaging weights only lowers it), with the -ELBO
    // estimate's own. Two of those standard deviations below -ELBO is then a gain that
    // chance alone would show with probability under 2.3%, where the expected gain
    // is over four.
    let sd = (t.net_variance_bits2 + t.neg_elbo_variance_bits2).sqrt();
    let mut last = f64::INFINITY;
    for posterior in [
        PosteriorKind::ImportanceWeighted(4),
        PosteriorKind::ImportanceWeighted(16),
        // Coupled particles (one point of the quantile space per block, no ramp).
        PosteriorKind::CoupledImportanceWeighted(4),
        PosteriorKind::CoupledImportanceWeighted(16),
    ] {
        let n = posterior.particles();
        let enc = code(posterior);
        let gain = t.neg_elbo_bits - enc.totals.net_bits;
        eprintln!(
            "{posterior:?}: net {} against -ELBO {} (gain {gain}, sd {sd}), 16-sample IWAE {}",
            enc.totals.net_bits, t.neg_elbo_bits, t.neg_log_px_bits,
        );
        assert!(gain > 2.0 * sd, "N = {n}: gain {gain}, sd {sd}");
        last = enc.totals.net_bits.min(last);
        // The rate identity of importance weighting: the net bits against the
        // N-particle bound, within the noise of the popped particles (the spread of
        // the bound's groups of N draws) and of the bound's estimate: Chebyshev at 30
        // standard deviations, plus the ANS rounding of `common::ans_tolerance`.
        let u = &enc.totals;
        let sd_iw = (u.net_variance_bits2 + u.neg_iwae_variance_bits2).sqrt();
        let ans = 2.0 + 1e-4 * syms.len() as f64;
        let off = u.net_bits - u.neg_iwae_bits;
        assert!(
            off.abs() <= 30.0 * sd_iw + ans,
            "N = {n}: {off}, sd {sd_iw}"
        );
        // The bound lies above -log P(x), estimated here from 16 N draws (in
        // expectation the estimate lies between them), within its error.
        assert!(u.kl_bits() > -5.0 * u.neg_iwae_variance_bits2.sqrt() - 1.0);
        assert!(u.neg_iwae_bits < t.neg_elbo_bits);
    }
    assert!(last < t.neg_elbo_bits);
}
