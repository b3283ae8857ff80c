//! Training the [`super::MnistModel`] by amortized variational
//! inference: minibatch Adam on the single-draw reparameterized ELBO (seed Eq. 4 with
//! the analytic Gaussian KL, gradients by Eq. 7) of the encoder, decoder and pixel
//! network jointly.
//!
//! Training is deterministic for a given configuration: draws come from ChaCha8 keyed by
//! (seed, epoch, image), each batch is split into a fixed number of shards whose
//! gradients are summed in shard order, whatever the number of threads.

use rayon::prelude::*;

use super::{Gradients, Linear, MnistDims, MnistModel, Workspace, PIXELS, SIDE};
use crate::error::{CodecError, WeightsError};
use crate::inference::gaussian::standard_normal;
use crate::math;
use crate::rng::BlockRng;

/// Training configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Model shape.
    pub dims: MnistDims,
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per Adam step.
    pub batch: usize,
    /// Adam step size at the start (decays linearly to a tenth).
    pub learning_rate: f64,
    /// Epochs over which the KL weight rises linearly from 0.2 to 1.
    pub kl_warmup_epochs: usize,
    /// Seed of the initialization, the shuffles and the draws.
    pub seed: u64,
    /// Gradient shards per batch (fixed, so results do not depend on threads).
    pub shards: usize,
    /// Shift each training image by a random offset in `-1..=1` pixels per axis
    /// (augmentation against overfitting a small training set).
    pub shift_augment: bool,
}

/// Image `x` shifted by `(dr, dc)` pixels, filled with 0.
pub fn shifted(x: &[u16], dr: isize, dc: isize) -> Vec<u16> {
    let mut out = vec![0u16; PIXELS];
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            let (sr, sc) = (r - dr, c - dc);
            if (0..SIDE as isize).contains(&sr) && (0..SIDE as isize).contains(&sc) {
                out[(r * SIDE as isize + c) as usize] = x[(sr * SIDE as isize + sc) as usize];
            }
        }
    }
    out
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dims: MnistDims::default(),
            epochs: 50,
            batch: 32,
            learning_rate: 1e-3,
            kl_warmup_epochs: 3,
            seed: 0x6d6e_6973_7431,
            shards: 8,
            shift_augment: true,
        }
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// Epoch index (from 0).
    pub epoch: usize,
    /// Mean single-draw `-ELBO` per pixel in bits over the epoch (at full KL weight).
    pub neg_elbo_bpp: f64,
    /// Mean KL per image in bits.
    pub kl_bits: f64,
}

/// A freshly initialized model: He-uniform weights, output layers scaled down, and
/// pixel-mixture biases spread over the pixel range.
pub fn init_model(dims: MnistDims, seed: u64) -> Result<MnistModel, CodecError> {
    let mut rng = BlockRng::for_block(seed, u64::MAX, 0);
    let shapes = dims.layer_shapes();
    let mut layers = Vec::new();
    for (li, &(n_in, n_out)) in shapes.iter().enumerate() {
        let mut l = Linear::zeros(n_in, n_out);
        // Output layers (heads, decoder 2, context 2) start smaller; the skip starts at 0.
        let gain = match li {
            1 | 2 => 0.1,
            4 | 6 => 0.5,
            7 => 0.0,
            _ => 1.0,
        };
        let limit = gain * math::sqrt(6.0 / n_in as f64);
        for w in l.w.iter_mut() {
            *w = ((2.0 * rng.uniform() - 1.0) * limit) as f32;
        }
        layers.push(l);
    }
    // rho head: start with small posterior scales.
    layers[2].b.iter_mut().for_each(|b| *b = -1.0);
    let k = dims.components;
    for c in 0..k {
        let m = if k == 1 {
            0.0
        } else {
            -0.9 + 1.8 * c as f64 / (k - 1) as f64
        };
        layers[6].b[k + c] = m as f32;
        layers[6].b[2 * k + c] = -2.0;
    }
    MnistModel::with_layers(dims, layers)
}

struct Shard {
    grads: Gradients,
    ws: Workspace,
}

/// Train on `images` (each `PIXELS` symbols). `on_epoch` sees each epoch's statistics
/// and the model after it.
pub fn train(
    images: &[Vec<u16>],
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats, &MnistModel),
) -> Result<MnistModel, CodecError> {
    if images.is_empty() || images.iter().any(|x| x.len() != PIXELS) {
        return Err(WeightsError::NoImages(images.len()).into());
    }
    let mut model = init_model(config.dims, config.seed)?;
    let d = config.dims.latent;
    let nparams: usize = model.layers().iter().map(|l| l.w.len() + l.b.len()).sum();
    let mut m1 = vec![0f32; nparams];
    let mut m2 = vec![0f32; nparams];
    let (beta1, beta2, eps_adam) = (0.9f64, 0.999f64, 1e-8f64);
    let mut t = 0u32;
    let shards = config.shards.max(1);
    let mut states: Vec<Shard> = (0..shards)
        .map(|_| Shard {
            grads: model.zero_gradients(),
            ws: Workspace::default(),
        })
        .collect();
    let steps_per_epoch = images.len().div_ceil(config.batch.max(1));
    let total_steps = (steps_per_epoch * config.epochs).max(1);
    let mut order: Vec<usize> = (0..images.len()).collect();
    for epoch in 0..config.epochs {
        // Fisher-Yates shuffle from the epoch's stream.
        let mut rng = BlockRng::for_block(config.seed, epoch as u64, u64::MAX);
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let kl_weight = if config.kl_warmup_epochs == 0 {
            1.0
        } else {
            (0.2 + 0.8 * epoch as f64 / config.kl_warmup_epochs as f64).min(1.0)
        };
        let (mut sum_lp, mut sum_kl) = (0.0, 0.0);
        for batch in order.chunks(config.batch.max(1)) {
            let per = batch.len().div_ceil(shards);
            let model_ref = &model;
            let results: Vec<(f64, f64)> = states
                .par_iter_mut()
                .enumerate()
                .map(|(si, st)| {
                    for l in st.grads.iter_mut() {
                        l.w.iter_mut().for_each(|v| *v = 0.0);
                        l.b.iter_mut().for_each(|v| *v = 0.0);
                    }
                    let (mut lp, mut kl) = (0.0, 0.0);
                    let lo = (si * per).min(batch.len());
                    let hi = ((si + 1) * per).min(batch.len());
                    let mut eps = vec![0.0; d];
                    for &idx in &batch[lo..hi] {
                        let mut r = BlockRng::for_block(config.seed, epoch as u64, idx as u64);
                        let img;
                        let x = if config.shift_augment {
                            let s = r.next_u64() % 9;
                            img = shifted(&images[idx], s as isize / 3 - 1, s as isize % 3 - 1);
                            &img
                        } else {
                            &images[idx]
                        };
                        standard_normal(&mut r, &mut eps);
                        let (a, b) =
                            model_ref.train_step(x, &eps, kl_weight, &mut st.grads, &mut st.ws);
                        lp += a;
                        kl += b;
                    }
                    (lp, kl)
                })
                .collect();
            for (a, b) in results {
                sum_lp += a;
                sum_kl += b;
            }
            // Adam ascent on the batch-mean ELBO, shards summed in order.
            t += 1;
            let lr = config.learning_rate * (1.0 - 0.9 * (t - 1) as f64 / total_steps as f64);
            let c1 = 1.0 - math::powi(beta1, t);
            let c2 = 1.0 - math::powi(beta2, t);
            let scale = 1.0 / batch.len() as f64;
            let mut p = 0usize;
            let nl = model.layers().len();
            for li in 0..nl {
                let layer = &mut model.layers_mut()[li];
                let n_w = layer.w.len();
                for idx in 0..n_w + layer.b.len() {
                    let mut g = 0.0f64;
                    for st in &states {
                        let gl = &st.grads[li];
                        g += if idx < n_w {
                            gl.w_flat()[idx]
                        } else {
                            gl.b[idx - n_w]
                        } as f64;
                    }
                    g *= scale;
                    let a = beta1 * m1[p] as f64 + (1.0 - beta1) * g;
                    let b = beta2 * m2[p] as f64 + (1.0 - beta2) * g * g;
                    m1[p] = a as f32;
                    m2[p] = b as f32;
                    let step = lr * (a / c1) / (math::sqrt(b / c2) + eps_adam);
                    if idx < n_w {
                        layer.w_flat_mut()[idx] += step as f32;
                    } else {
                        layer.b[idx - n_w] += step as f32;
                    }
                    p += 1;
                }
            }
            model.sync();
        }
        let n = images.len() as f64;
        let stats = EpochStats {
            epoch,
            neg_elbo_bpp: (sum_kl - sum_lp) / n / PIXELS as f64 / math::LN_2,
            kl_bits: sum_kl / n / math::LN_2,
        };
        on_epoch(&stats, &model);
    }
    Ok(model)
}

/// Mean amortized `-ELBO` in bits per pixel of `images` under `model` (one draw per
/// image from the encoder's `Q`, seeded by `seed`), and the mean KL in bits per image.
pub fn evaluate(model: &MnistModel, images: &[Vec<u16>], seed: u64) -> (f64, f64) {
    let d = model.dims().latent;
    let parts: Vec<(f64, f64)> = images
        .par_iter()
        .enumerate()
        .map(|(i, x)| {
            let mut ws = Workspace::default();
            let q = model.encode_posterior(x, &mut ws);
            let mut eps = vec![0.0; d];
            let mut rng = BlockRng::for_block(seed, 0, i as u64);
            standard_normal(&mut rng, &mut eps);
            let mut z = vec![0.0; d];
            q.reparameterize(&eps, &mut z);
            let lp = model.log_lik(x, &z, None, None, &mut ws);
            (lp, q.kl_to_standard_normal())
        })
        .collect();
    let (lp, kl) = parts
        .iter()
        .fold((0.0, 0.0), |(a, b), &(c, e)| (a + c, b + e));
    let n = images.len().max(1) as f64;
    (
        (kl - lp) / n / PIXELS as f64 / math::LN_2,
        kl / n / math::LN_2,
    )
}
