//! The diagonal Gaussian family `Q = prod_i N(mu_i, sigma_i^2)` (seed Eq. 6) and its fit
//! by reparameterization gradients (Problem 8.2b, Eq. 7).
//!
//! With `z = mu + sigma * eps`, `eps ~ N(0, I)` and `sigma = exp(rho)`, the ELBO in the
//! form of Eq. 4 with the analytic KL to the `N(0, I)` prior is
//!
//! `ELBO = E_eps[log p(x | mu + sigma eps)] - KL(Q || N(0, I))`,
//! `KL = 1/2 sum_i (sigma_i^2 + mu_i^2 - 1 - 2 rho_i)`,
//!
//! and an unbiased gradient from one draw is
//! `d/dmu = g - mu`, `d/drho = g * eps * sigma - (sigma^2 - 1)` with
//! `g = grad_z log p(x | z)` at the drawn `z` (the model supplies `g`).
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use crate::math;
use crate::rng::BlockRng;

use super::Adam;

/// A diagonal Gaussian with log-scale parameters (natural units: nats).
#[derive(Clone, Debug, PartialEq)]
pub struct DiagGaussian {
    /// Means `mu_i`.
    pub mu: Vec<f64>,
    /// Log standard deviations `rho_i = ln sigma_i`.
    pub rho: Vec<f64>,
}

impl DiagGaussian {
    /// The standard normal (the prior) in `d` dimensions.
    pub fn standard(d: usize) -> Self {
        Self {
            mu: vec![0.0; d],
            rho: vec![0.0; d],
        }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mu.len()
    }

    /// `sigma_i = exp(rho_i)`.
    pub fn sigma(&self, i: usize) -> f64 {
        math::exp(self.rho[i])
    }

    /// `KL(Q || N(0, I))` in nats, analytic.
    pub fn kl_to_standard_normal(&self) -> f64 {
        let mut kl = 0.0;
        for i in 0..self.dim() {
            let s2 = math::exp(2.0 * self.rho[i]);
            kl += 0.5 * (s2 + self.mu[i] * self.mu[i] - 1.0 - 2.0 * self.rho[i]);
        }
        kl
    }

    /// Differential entropy in nats, analytic: `sum_i (rho_i + 1/2 ln(2 pi e))`.
    pub fn entropy(&self) -> f64 {
        let c = 0.5 * (1.0 + math::ln(2.0 * core::f64::consts::PI));
        self.rho.iter().map(|r| r + c).sum()
    }

    /// `z = mu + sigma * eps`.
    pub fn reparameterize(&self, eps: &[f64], z: &mut [f64]) {
        for i in 0..self.dim() {
            z[i] = self.mu[i] + self.sigma(i) * eps[i];
        }
    }
}

/// Draw `eps ~ N(0, I)` with the block's generator (Box-Muller, portable).
pub fn standard_normal(rng: &mut BlockRng, eps: &mut [f64]) {
    for e in eps.iter_mut() {
        *e = math::box_muller(rng.uniform_open(), rng.uniform());
    }
}

/// One reparameterization estimate of the ELBO gradient (nats) w.r.t. `(mu, rho)`,
/// averaged over `samples` draws. `log_lik_grad(z, g)` returns `log p(x | z)` (nats)
/// and writes its gradient w.r.t. `z` into `g`. Returns the mean of the single-sample
/// ELBO estimates `log p(x|z) - KL`.
pub fn reparam_gradient(
    q: &DiagGaussian,
    samples: usize,
    rng: &mut BlockRng,
    log_lik_grad: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    grad_mu: &mut [f64],
    grad_rho: &mut [f64],
) -> f64 {
    let d = q.dim();
    let mut eps = vec![0.0; d];
    let mut z = vec![0.0; d];
    let mut g = vec![0.0; d];
    grad_mu.iter_mut().for_each(|x| *x = 0.0);
    grad_rho.iter_mut().for_each(|x| *x = 0.0);
    let mut elbo = 0.0;
    let inv = 1.0 / samples as f64;
    for _ in 0..samples {
        standard_normal(rng, &mut eps);
        q.reparameterize(&eps, &mut z);
        elbo += log_lik_grad(&z, &mut g) * inv;
        for i in 0..d {
            grad_mu[i] += g[i] * inv;
            grad_rho[i] += g[i] * eps[i] * q.sigma(i) * inv;
        }
    }
    for i in 0..d {
        let s2 = math::exp(2.0 * q.rho[i]);
        grad_mu[i] -= q.mu[i];
        grad_rho[i] -= s2 - 1.0;
    }
    elbo - q.kl_to_standard_normal()
}

/// Configuration of [`reparam_fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReparamConfig {
    /// Adam iterations (fixed).
    pub iterations: u32,
    /// Draws per iteration.
    pub samples: u32,
    /// Adam step size (decays linearly to a tenth).
    pub learning_rate: f64,
}

/// Fit `Q` by Adam on reparameterization gradients, starting from `init` (the standard
/// normal [`DiagGaussian::standard`], or e.g. an amortized encoder's output).
/// If `trace` is given it receives the per-iteration ELBO estimates (nats).
pub fn reparam_fit(
    init: DiagGaussian,
    config: &ReparamConfig,
    rng: &mut BlockRng,
    log_lik_grad: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    mut trace: Option<&mut Vec<f64>>,
) -> DiagGaussian {
    let mut q = init;
    let d = q.dim();
    let mut adam = Adam::new(2 * d);
    let mut params = vec![0.0; 2 * d];
    let mut grad = vec![0.0; 2 * d];
    let (mut gm, mut gr) = (vec![0.0; d], vec![0.0; d]);
    let iters = config.iterations as usize;
    for t in 0..iters {
        let e = reparam_gradient(
            &q,
            config.samples as usize,
            rng,
            log_lik_grad,
            &mut gm,
            &mut gr,
        );
        if let Some(tr) = trace.as_deref_mut() {
            tr.push(e);
        }
        grad[..d].copy_from_slice(&gm);
        grad[d..].copy_from_slice(&gr);
        params[..d].copy_from_slice(&q.mu);
        params[d..].copy_from_slice(&q.rho);
        let lr = config.learning_rate * (1.0 - 0.9 * t as f64 / iters.max(1) as f64);
        adam.step(&mut params, &grad, lr);
        q.mu.copy_from_slice(&params[..d]);
        for i in 0..d {
            // Keep sigma in a range where exp and the bins stay finite.
            q.rho[i] = params[d + i].clamp(-30.0, 5.0);
        }
    }
    q
}

/// MAP latent by Adam ascent on `log p(x | z) + log N(z; 0, I)` from `z = init`.
pub fn map_fit(
    init: &[f64],
    config: &ReparamConfig,
    log_lik_grad: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
) -> Vec<f64> {
    let d = init.len();
    let mut z = init.to_vec();
    let mut g = vec![0.0; d];
    let mut adam = Adam::new(d);
    let iters = config.iterations as usize;
    for t in 0..iters {
        log_lik_grad(&z, &mut g);
        for i in 0..d {
            g[i] -= z[i];
        }
        let lr = config.learning_rate * (1.0 - 0.9 * t as f64 / iters.max(1) as f64);
        adam.step(&mut z, &g, lr);
    }
    z
}
