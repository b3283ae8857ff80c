//! Traces of the mixture's BBVI fits for `analyze`: `KL(Q_t || P(z|x))` by enumeration,
//! per iteration, for each discrete estimator, and the variance of one gradient
//! estimate at the start (what the control variate reduces).

use super::{MixtureFitOptions, MixtureModel};
use crate::chain::DiscreteLatentModel;
use crate::inference::trace::{summarize, Trace, TRACE_BLOCKS};
use crate::inference::{
    estimate_gradient, posterior_fit, CategoricalQ, Estimator, FitConfig, GradientScratch,
    PosteriorKind,
};
use crate::math;
use crate::rng::BlockRng;

/// Fit the mixture to `blocks` and trace every discrete estimator on up to
/// [`TRACE_BLOCKS`] of them.
pub(super) fn traces(
    blocks: &[Vec<u16>],
    options: &MixtureFitOptions,
    fit: &FitConfig,
) -> Vec<Trace> {
    if blocks.len() < 2 {
        return Vec::new();
    }
    let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
    let model = MixtureModel::fit(&refs, 256, options);
    let k = model.num_latents();
    let stride = blocks.len().div_ceil(TRACE_BLOCKS).max(1);
    let mut out = Vec::new();
    for est in [
        Estimator::Naive,
        Estimator::ScoreFunctionEq8,
        Estimator::GumbelSoftmax,
        Estimator::ScoreFunction,
    ] {
        let cfg = FitConfig {
            posterior: PosteriorKind::Bbvi(est),
            ..*fit
        };
        let mut per_block = Vec::new();
        let mut grad_var = 0.0;
        for (i, x) in blocks.iter().enumerate().step_by(stride) {
            let mut lik = vec![0.0; k];
            model.log2_likelihoods(x, &mut lik);
            let lj: Vec<f64> = (0..k)
                .map(|z| lik[z] + model.prior().log2_prob(z))
                .collect();
            let log_px = math::log2_sum_exp2(&lj);
            let mut trace = Vec::new();
            posterior_fit(
                &lj,
                &cfg,
                &mut BlockRng::for_block(fit.seed, 0, i as u64),
                Some(&mut trace),
            );
            per_block.push(trace.iter().map(|e| log_px - e).collect());
            grad_var += gradient_variance(est, &lj, cfg.samples as usize, i as u64)
                / blocks.len().div_ceil(stride) as f64;
        }
        if k > 1 {
            out.push(summarize(est.name(), "kl_bits", per_block, grad_var));
        }
    }
    out
}

/// Total variance of one gradient estimate at the uniform starting point.
fn gradient_variance(est: Estimator, lj: &[f64], samples: usize, seed: u64) -> f64 {
    let k = lj.len();
    let q = CategoricalQ::from_logits(&vec![0.0; k]);
    let mut rng = BlockRng::for_block(0x7661_7269_616e_6365, seed, 0);
    let mut scratch = GradientScratch::default();
    let mut g = vec![0.0; k];
    let n = 32;
    let (mut sum, mut sq) = (vec![0.0; k], vec![0.0; k]);
    for _ in 0..n {
        estimate_gradient(est, lj, &q, samples, &mut rng, &mut scratch, &mut g);
        for j in 0..k {
            sum[j] += g[j];
            sq[j] += g[j] * g[j];
        }
    }
    (0..k)
        .map(|j| {
            let m = sum[j] / n as f64;
            sq[j] / n as f64 - m * m
        })
        .sum()
}
