//! The linear-Gaussian oracle (factor analysis): `z ~ N(0, I_d)`,
//! `x = W z + b + noise`, `noise ~ N(0, s^2 I_n)`, for blocks of `n` values.
//!
//! Its posterior is Gaussian in closed form, `P(z | x) = N(m, Lambda^{-1})` with
//! `Lambda = I + W^T W / s^2` and `m = Lambda^{-1} W^T (x - b) / s^2`; the optimal
//! fully factorized `Q` has means `m` and variances `1 / Lambda_ii`. That makes it the
//! oracle for the Gaussian family: BBVI must reach it, and the analytic ELBO, evidence
//! and `KL(Q || P(z|x))` check the estimators. For coding, each `x_j` is an integer
//! symbol and its likelihood the normal density integrated over `[x - 1/2, x + 1/2)`.
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use crate::categorical::QuantizedCategorical;
use crate::chain::ContinuousLatentModel;
use crate::inference::gaussian::DiagGaussian;
use crate::math;

/// The linear-Gaussian model.
///
/// Invariant: `w.len() == n * d` (row `j` is `W_j`, row-major), `b.len() == n`,
/// `noise_sd > 0`, `alphabet >= 1`.
#[derive(Clone, Debug)]
pub struct LinearGaussian {
    /// Latent dimension `d`.
    pub d: usize,
    /// Block length `n`.
    pub n: usize,
    /// Loadings `W`, `n x d`, row-major.
    pub w: Vec<f64>,
    /// Offsets `b`.
    pub b: Vec<f64>,
    /// Noise standard deviation `s`.
    pub noise_sd: f64,
    /// Alphabet of the coded symbols (`0..alphabet`).
    pub alphabet: usize,
}

/// Cholesky factor `L` (lower, row-major) of a symmetric positive definite `d x d` matrix.
fn cholesky(a: &[f64], d: usize) -> Vec<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = if i == j {
                math::sqrt(s)
            } else {
                s / l[j * d + j]
            };
        }
    }
    l
}

/// Solve `A x = y` given the Cholesky factor of `A`.
fn chol_solve(l: &[f64], d: usize, y: &[f64]) -> Vec<f64> {
    let mut t = vec![0.0; d];
    for i in 0..d {
        let mut s = y[i];
        for k in 0..i {
            s -= l[i * d + k] * t[k];
        }
        t[i] = s / l[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let mut s = t[i];
        for k in i + 1..d {
            s -= l[k * d + i] * x[k];
        }
        x[i] = s / l[i * d + i];
    }
    x
}

impl LinearGaussian {
    /// Mean `W z + b` of `x` given `z`.
    pub fn mean(&self, z: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|j| {
                let mut m = self.b[j];
                for k in 0..self.d {
                    m += self.w[j * self.d + k] * z[k];
                }
                m
            })
            .collect()
    }

    /// Posterior precision `Lambda = I + W^T W / s^2` (row-major `d x d`).
    pub fn posterior_precision(&self) -> Vec<f64> {
        let (d, s2) = (self.d, self.noise_sd * self.noise_sd);
        let mut lam = vec![0.0; d * d];
        for a in 0..d {
            for c in 0..d {
                let mut v = 0.0;
                for j in 0..self.n {
                    v += self.w[j * d + a] * self.w[j * d + c];
                }
                lam[a * d + c] = v / s2 + if a == c { 1.0 } else { 0.0 };
            }
        }
        lam
    }

    fn wt_residual(&self, x: &[f64]) -> Vec<f64> {
        let s2 = self.noise_sd * self.noise_sd;
        (0..self.d)
            .map(|k| {
                let mut v = 0.0;
                for j in 0..self.n {
                    v += self.w[j * self.d + k] * (x[j] - self.b[j]);
                }
                v / s2
            })
            .collect()
    }

    /// Exact posterior mean `m`.
    pub fn posterior_mean(&self, x: &[f64]) -> Vec<f64> {
        let l = cholesky(&self.posterior_precision(), self.d);
        chol_solve(&l, self.d, &self.wt_residual(x))
    }

    /// The optimal fully factorized `Q`: means `m`, variances `1 / Lambda_ii`.
    pub fn optimal_mean_field(&self, x: &[f64]) -> DiagGaussian {
        let lam = self.posterior_precision();
        DiagGaussian {
            mu: self.posterior_mean(x),
            rho: (0..self.d)
                .map(|i| -0.5 * math::ln(lam[i * self.d + i]))
                .collect(),
        }
    }

    /// CAVI (seed, Problem 8.2 intro): closed-form coordinate updates
    /// `sigma_i^2 = 1 / Lambda_ii`,
    /// `mu_i = (W_i^T (x - b) / s^2 - sum_{j != i} Lambda_ij mu_j) / Lambda_ii`,
    /// for `sweeps` passes over the coordinates, from `mu = 0`.
    pub fn cavi(&self, x: &[f64], sweeps: usize) -> DiagGaussian {
        let d = self.d;
        let lam = self.posterior_precision();
        let r = self.wt_residual(x);
        let mut mu = vec![0.0; d];
        for _ in 0..sweeps {
            for i in 0..d {
                let mut s = r[i];
                for j in 0..d {
                    if j != i {
                        s -= lam[i * d + j] * mu[j];
                    }
                }
                mu[i] = s / lam[i * d + i];
            }
        }
        DiagGaussian {
            mu,
            rho: (0..d).map(|i| -0.5 * math::ln(lam[i * d + i])).collect(),
        }
    }

    /// `ln p(x | z)` of the continuous density and its gradient in `z`.
    pub fn log_density_grad(&self, x: &[f64], z: &[f64], grad: &mut [f64]) -> f64 {
        let s2 = self.noise_sd * self.noise_sd;
        let m = self.mean(z);
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut lp = 0.0;
        for j in 0..self.n {
            let r = x[j] - m[j];
            lp += -0.5 * r * r / s2;
            for k in 0..self.d {
                grad[k] += r / s2 * self.w[j * self.d + k];
            }
        }
        lp - self.n as f64 * (math::ln(self.noise_sd) + 0.918_938_533_204_672_8)
    }

    /// Analytic ELBO (nats) of a diagonal Gaussian `q` (Eq. 4 with both terms closed form).
    pub fn elbo(&self, x: &[f64], q: &DiagGaussian) -> f64 {
        let s2 = self.noise_sd * self.noise_sd;
        let m = self.mean(&q.mu);
        let mut ell = -(self.n as f64) * (math::ln(self.noise_sd) + 0.918_938_533_204_672_8);
        for j in 0..self.n {
            let r = x[j] - m[j];
            let mut var = 0.0;
            for k in 0..self.d {
                let wk = self.w[j * self.d + k];
                var += wk * wk * math::exp(2.0 * q.rho[k]);
            }
            ell -= 0.5 * (r * r + var) / s2;
        }
        ell - q.kl_to_standard_normal()
    }

    /// Analytic `ln p(x)`: `x ~ N(b, W W^T + s^2 I)`, by the matrix determinant lemma
    /// and the Woodbury identity (only `d x d` factorizations).
    pub fn log_evidence(&self, x: &[f64]) -> f64 {
        let (d, n) = (self.d, self.n as f64);
        let s2 = self.noise_sd * self.noise_sd;
        let lam = self.posterior_precision();
        let l = cholesky(&lam, d);
        let log_det_lam: f64 = (0..d).map(|i| 2.0 * math::ln(l[i * d + i])).sum();
        let r: Vec<f64> = (0..self.n).map(|j| x[j] - self.b[j]).collect();
        let rr: f64 = r.iter().map(|v| v * v).sum();
        let u = self.wt_residual(x); // W^T r / s^2
        let v = chol_solve(&l, d, &u);
        let quad = rr / s2 - u.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
        -0.5 * (n * math::ln(2.0 * core::f64::consts::PI * s2) + log_det_lam + quad)
    }

    /// Analytic `KL(q || P(z | x))` (nats).
    pub fn kl_to_posterior(&self, x: &[f64], q: &DiagGaussian) -> f64 {
        let d = self.d;
        let lam = self.posterior_precision();
        let l = cholesky(&lam, d);
        let log_det_lam: f64 = (0..d).map(|i| 2.0 * math::ln(l[i * d + i])).sum();
        let m = self.posterior_mean(x);
        let mut kl = -(d as f64) - log_det_lam;
        for i in 0..d {
            kl += lam[i * d + i] * math::exp(2.0 * q.rho[i]) - 2.0 * q.rho[i];
            for j in 0..d {
                kl += (m[i] - q.mu[i]) * lam[i * d + j] * (m[j] - q.mu[j]);
            }
        }
        0.5 * kl
    }
}

impl ContinuousLatentModel for LinearGaussian {
    type Block = Vec<f64>;

    fn latent_dim(&self) -> usize {
        self.d
    }
    fn alphabet_size(&self) -> usize {
        self.alphabet
    }
    fn prepare(&self, x: &[u16]) -> Vec<f64> {
        x.iter().map(|&v| v as f64).collect()
    }
    fn log_lik_grad(&self, x: &Vec<f64>, z: &[f64], grad: &mut [f64]) -> f64 {
        // Blocks may be shorter than n (the last one): use the first len rows.
        if x.len() == self.n {
            return self.log_density_grad(x, z, grad);
        }
        let short = LinearGaussian {
            n: x.len(),
            w: self.w[..x.len() * self.d].to_vec(),
            b: self.b[..x.len()].to_vec(),
            ..self.clone()
        };
        short.log_density_grad(x, z, grad)
    }
    fn likelihood(&self, z: &[f64], len: usize) -> Vec<QuantizedCategorical> {
        let m = self.mean(z);
        let s = self.noise_sd;
        (0..len.min(self.n))
            .map(|j| {
                let w: Vec<f64> = (0..self.alphabet)
                    .map(|v| {
                        let hi = if v + 1 == self.alphabet {
                            f64::INFINITY
                        } else {
                            (v as f64 + 0.5 - m[j]) / s
                        };
                        let lo = if v == 0 {
                            f64::NEG_INFINITY
                        } else {
                            (v as f64 - 0.5 - m[j]) / s
                        };
                        math::normal_cdf(hi) - math::normal_cdf(lo)
                    })
                    .collect();
                QuantizedCategorical::from_float_weights(&w, true).expect("positive mass")
            })
            .collect()
    }
}
