//! The BBVI machinery against the enumerated truth (seed Problem 8.2).

use bbcodec::categorical::QuantizedCategorical;
use bbcodec::inference::{
    estimate_gradient, exact_elbo, exact_gradient, posterior_fit, CategoricalQ, Estimator,
    FitConfig, GradientScratch, PosteriorKind,
};
use bbcodec::math;
use bbcodec::report::ElboTerms;
use bbcodec::rng::BlockRng;

/// A small problem: K = 6 latents with log joints a few bits apart.
fn problem() -> (Vec<f64>, Vec<f64>) {
    let log2_joint = vec![-40.0, -37.5, -41.0, -38.2, -45.0, -39.0];
    let phi = vec![0.3, -0.2, 0.1, 0.0, 0.5, -0.4];
    let mut q = vec![0.0; 6];
    math::softmax(&phi, &mut q);
    (log2_joint, q)
}

/// Mean and standard error of `n` gradient estimates, per coordinate.
fn mc_gradient(
    est: Estimator,
    lj: &[f64],
    q: &[f64],
    samples: usize,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let k = q.len();
    let mut rng = BlockRng::for_block(1, 2, 3);
    let cq = CategoricalQ::from_probs(q);
    let mut scratch = GradientScratch::default();
    let mut g = vec![0.0; k];
    let mut sum = vec![0.0; k];
    let mut sq = vec![0.0; k];
    for _ in 0..n {
        estimate_gradient(est, lj, &cq, samples, &mut rng, &mut scratch, &mut g);
        for j in 0..k {
            sum[j] += g[j];
            sq[j] += g[j] * g[j];
        }
    }
    let nf = n as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / nf).collect();
    let se = (0..k)
        .map(|j| ((sq[j] / nf - mean[j] * mean[j]) / nf).sqrt())
        .collect();
    (mean, se)
}

#[test]
fn score_function_gradients_are_unbiased() {
    let (lj, q) = problem();
    let mut exact = vec![0.0; 6];
    exact_gradient(&lj, &q, &mut exact);
    for est in [Estimator::ScoreFunction, Estimator::ScoreFunctionEq8] {
        let (mean, se) = mc_gradient(est, &lj, &q, 4, 40_000);
        for j in 0..6 {
            // Each coordinate's mean of 40,000 i.i.d. estimates is within 5 standard
            // errors of its expectation except with probability 6e-7 (CLT).
            assert!(
                (mean[j] - exact[j]).abs() <= 5.0 * se[j] + 1e-12,
                "{est:?} coord {j}: {} vs exact {} (se {})",
                mean[j],
                exact[j],
                se[j]
            );
        }
    }
}

#[test]
fn naive_estimator_is_biased() {
    // Problem 8.2a: E[grad ell(phi, z)] = -E[(e_z - Q)]/ln 2 = 0 for every phi, which is
    // not the ELBO gradient.
    let (lj, q) = problem();
    let mut exact = vec![0.0; 6];
    exact_gradient(&lj, &q, &mut exact);
    let (mean, se) = mc_gradient(Estimator::Naive, &lj, &q, 4, 40_000);
    let biased = (0..6).any(|j| (mean[j] - exact[j]).abs() > 10.0 * se[j]);
    assert!(biased, "naive mean {mean:?} vs exact {exact:?}");
    for j in 0..6 {
        assert!(
            mean[j].abs() <= 5.0 * se[j] + 1e-12,
            "naive mean should be 0: {mean:?}"
        );
    }
}

#[test]
fn control_variate_reduces_variance() {
    let (lj, q) = problem();
    let (_, se_loo) = mc_gradient(Estimator::ScoreFunction, &lj, &q, 4, 20_000);
    let (_, se_eq8) = mc_gradient(Estimator::ScoreFunctionEq8, &lj, &q, 4, 20_000);
    let v_loo: f64 = se_loo.iter().map(|s| s * s).sum();
    let v_eq8: f64 = se_eq8.iter().map(|s| s * s).sum();
    assert!(
        v_loo * 10.0 < v_eq8,
        "LOO variance {v_loo} vs Eq. 8 {v_eq8}"
    );
}

#[test]
fn leave_one_out_gradient_vanishes_at_the_exact_posterior() {
    let (lj, _) = problem();
    let mut post = vec![0.0; 6];
    math::normalize_log2(&lj, &mut post);
    // At Q = P(z|x), ell(z) = log2 P(x) for every z, so every (ell_s - b_s) is 0 up to
    // rounding of log2 (relative 1e-15 of |ell| ~ 40 bits).
    let mut rng = BlockRng::for_block(0, 0, 0);
    let mut scratch = GradientScratch::default();
    let mut g = vec![1.0f64; 6];
    for _ in 0..100 {
        estimate_gradient(
            Estimator::ScoreFunction,
            &lj,
            &CategoricalQ::from_probs(&post),
            8,
            &mut rng,
            &mut scratch,
            &mut g,
        );
        for &gj in &g {
            assert!(gj.abs() < 1e-12, "{g:?}");
        }
    }
    let mut exact = vec![0.0; 6];
    exact_gradient(&lj, &post, &mut exact);
    assert!(exact.iter().all(|g| g.abs() < 1e-12));
}

fn fitted_elbo(est: Estimator, lj: &[f64]) -> f64 {
    let cfg = FitConfig {
        posterior: PosteriorKind::Bbvi(est),
        ..FitConfig::default()
    };
    let mut rng = BlockRng::for_block(5, 0, 1);
    let mut trace = Vec::new();
    posterior_fit(lj, &cfg, &mut rng, Some(&mut trace));
    *trace.last().unwrap()
}

#[test]
fn score_function_reaches_the_optimum_and_naive_does_not() {
    let (lj, _) = problem();
    let log_evidence = math::log2_sum_exp2(&lj);
    let score = fitted_elbo(Estimator::ScoreFunction, &lj);
    let eq8 = fitted_elbo(Estimator::ScoreFunctionEq8, &lj);
    let naive = fitted_elbo(Estimator::Naive, &lj);
    // KL(Q || P(z|x)) = log P(x) - ELBO.
    assert!(
        log_evidence - score < 0.01,
        "score KL {}",
        log_evidence - score
    );
    // Eq. 8 without a control variate is unbiased but noisy (|ell| ~ 40 bits): it ends
    // behind the leave-one-out version.
    assert!(
        score > eq8,
        "score KL {} vs eq8 KL {}",
        log_evidence - score,
        log_evidence - eq8
    );
    assert!(
        log_evidence - naive > 0.5,
        "naive KL {}",
        log_evidence - naive
    );
}

#[test]
fn fit_is_bit_identical_when_repeated() {
    let (lj, _) = problem();
    for est in [
        Estimator::ScoreFunction,
        Estimator::ScoreFunctionEq8,
        Estimator::Naive,
    ] {
        let cfg = FitConfig {
            posterior: PosteriorKind::Bbvi(est),
            ..FitConfig::default()
        };
        let a = posterior_fit(&lj, &cfg, &mut BlockRng::for_block(9, 8, 7), None);
        let b = posterior_fit(&lj, &cfg, &mut BlockRng::for_block(9, 8, 7), None);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.phi), bits(&b.phi));
        assert_eq!(a.coded, b.coded);
    }
}

#[test]
fn three_elbo_forms_agree_per_block() {
    let prior = QuantizedCategorical::from_int_weights(&[5, 1, 3, 7, 2, 2]).unwrap();
    let lik = vec![-300.0, -290.5, -310.0, -295.25, -289.0, -301.0];
    let (_, q) = problem();
    let t = ElboTerms::of_block(&lik, &prior, |z| (q[z], q[z].log2()));
    let scale = t.elbo_joint_entropy().abs();
    assert!((t.elbo_joint_entropy() - t.elbo_lik_kl()).abs() <= 1e-9 * scale);
    assert!((t.elbo_joint_entropy() - t.elbo_evidence_kl()).abs() <= 1e-9 * scale);
    assert!(t.kl_posterior >= 0.0 && t.kl_prior >= 0.0 && t.entropy >= 0.0);
    let lj: Vec<f64> = (0..6).map(|z| lik[z] + prior.log2_prob(z)).collect();
    assert!((exact_elbo(&lj, &q) - t.elbo_joint_entropy()).abs() <= 1e-9 * scale);
}
