//! A latent image model for 28x28 8-bit grey images (MNIST): `z ~ N(0, I_d)`, a decoder
//! network from `z` to per-pixel features, and a causal per-pixel likelihood that mixes
//! those features with the pixel's already-coded neighbours.
//!
//! # The model
//!
//! * **Decoder** `f = W_2 relu(W_1 z + b_1) + b_2`: `F` features per pixel.
//! * **Pixel likelihood** `p(x_i | z, x_{<i})`: a mixture of `K` discretized logistics
//!   over `0..=255` (the edge bins take the tails), whose parameters come from a small
//!   network shared by all pixels, `out = V_2 relu(V_1 v + c_1) + S v + c_2`, with the
//!   input `v` = the pixel's `F` features and twelve causal neighbours ([`NEIGHBOURS`]:
//!   up to three pixels left and up, and the rest of the two rows above within two
//!   columns; 0 outside the image). Pixels are coded in raster
//!   order, so the decoder has every neighbour when it needs it.
//! * **Amortized encoder** `(mu, rho) = heads(relu(E_1 x / 255 + e_1))`: the starting
//!   point of the per-image BBVI fit. The decoder recomputes it from the decoded image.
//!
//! The ELBO is seed Eq. 4 with the analytic Gaussian KL; training maximizes it with
//! reparameterization gradients (Eq. 7), and so does the per-image fit.
//!
//! # Determinism (DESIGN section 2)
//!
//! Everything the decoder recomputes runs in fixed-order loops: a matrix-vector product
//! accumulates each output over the inputs in index order (`out[o] += w[j][o] * x[j]`,
//! which vectorizes across outputs without reassociating any sum), and the transposed
//! products use eight partial sums combined in a fixed tree. Transcendentals go through
//! [`crate::math`]. No run-time-dispatched kernels.
//!
//! # Coding distributions
//!
//! A pixel is coded with the fixed-point CDF `C(s) = floor(F(e_s) (2^24 - 256)) + s`,
//! where `F` is the mixture's CDF at the lower edge `e_s` of symbol `s`: every symbol
//! keeps at least one unit of mass, and encoding or decoding one pixel needs only a few
//! CDF evaluations (a binary search when decoding), not a 256-entry table.
//!
//! # Weights file (`.bbim`)
//!
//! Little endian: magic `BBIM`, version 1, then `u16` side, latent dimension `d`,
//! encoder width, decoder width, features `F`, context width `G`, components `K`; then
//! eight layers (encoder, mu head, rho head, decoder 1, decoder 2, context 1, context 2,
//! context skip), each as a kind byte and then either (kind 1, layers of at least
//! [`QUANTIZE_FROM`] weights) `n_out` `f32` column scales, `n_in * n_out` `i8` weights
//! (input-major, weight = `q * scale`) and `n_out` `f32` biases, or (kind 0) the
//! weights and biases as `f32`. The file's 64-bit
//! xxHash identifies the model in every coded file.
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

pub mod config;
pub mod idx;
mod network;
mod pixel;
pub mod train;
mod weights;

pub use config::MnistConfig;
use network::{dot, relu};
pub use network::{neighbours, Activations, Linear};
pub use pixel::PixelMixture;
pub use weights::{builtin_mnist_model, BUILTIN_WEIGHTS};

use ndarray::Array2;

use crate::categorical::SymbolModel;
use crate::chain::{BlockLikelihood, ContinuousLatentModel};
use crate::error::{CodecError, WeightsError};
use crate::inference::gaussian::DiagGaussian;
use crate::math;

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image (one block of the chain).
pub const PIXELS: usize = SIDE * SIDE;
/// Causal neighbours fed to the pixel network, as (row, column) offsets.
pub const NEIGHBOURS: [(isize, isize); 12] = [
    (0, -1),
    (0, -2),
    (0, -3),
    (-1, -2),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (-1, 2),
    (-2, -1),
    (-2, 0),
    (-2, 1),
    (-3, 0),
];
/// Largest latent dimension.
pub const MAX_LATENT_DIM: usize = 64;
/// Largest `iterations * samples` of a per-image fit a file may ask for (bounds decode
/// time: each evaluation is a forward and backward pass of the network).
pub const MAX_FIT_EVALUATIONS: u64 = 4096;
/// Largest number of mixture components.
pub const MAX_COMPONENTS: usize = 4;
/// Smallest and largest log-scale of a logistic component (scaled pixel units).
const LOG_SCALE_RANGE: (f64, f64) = (-7.0, 5.0);
/// Layers with at least this many weights are stored as `i8` with per-output scales;
/// smaller ones (the heads and the pixel network, where precision matters most and
/// size least) as `f32`.
pub const QUANTIZE_FROM: usize = 100_000;
/// Weights file magic.
pub const WEIGHTS_MAGIC: [u8; 4] = *b"BBIM";

/// Layer indices.
const ENC1: usize = 0;
const ENC_MU: usize = 1;
const ENC_RHO: usize = 2;
const DEC1: usize = 3;
const DEC2: usize = 4;
const CTX1: usize = 5;
const CTX2: usize = 6;
const CTX_SKIP: usize = 7;
/// Number of layers.
pub const LAYERS: usize = 8;

/// The shape of an [`MnistModel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MnistDims {
    /// Latent dimension `d`.
    pub latent: usize,
    /// Hidden units of the amortized encoder.
    pub enc_hidden: usize,
    /// Hidden units of the decoder.
    pub dec_hidden: usize,
    /// Decoder features per pixel `F`.
    pub features: usize,
    /// Hidden units of the pixel network `G`.
    pub ctx_hidden: usize,
    /// Logistic components per pixel `K`.
    pub components: usize,
}

impl Default for MnistDims {
    fn default() -> Self {
        Self {
            latent: 16,
            enc_hidden: 256,
            dec_hidden: 256,
            features: 4,
            ctx_hidden: 64,
            components: 3,
        }
    }
}

impl MnistDims {
    /// Inputs of the pixel network: features and neighbours.
    pub fn ctx_inputs(&self) -> usize {
        self.features + NEIGHBOURS.len()
    }

    /// `(n_in, n_out)` of every layer, in file order.
    pub fn layer_shapes(&self) -> [(usize, usize); LAYERS] {
        let c = self.ctx_inputs();
        let o = 3 * self.components;
        [
            (PIXELS, self.enc_hidden),
            (self.enc_hidden, self.latent),
            (self.enc_hidden, self.latent),
            (self.latent, self.dec_hidden),
            (self.dec_hidden, PIXELS * self.features),
            (c, self.ctx_hidden),
            (self.ctx_hidden, o),
            (c, o),
        ]
    }

    fn validate(&self) -> Result<(), WeightsError> {
        for (field, got, max) in [
            ("latent dimension", self.latent, MAX_LATENT_DIM),
            ("encoder width", self.enc_hidden, 2048),
            ("decoder width", self.dec_hidden, 2048),
            ("features per pixel", self.features, 8),
            ("context width", self.ctx_hidden, 256),
            ("mixture components", self.components, MAX_COMPONENTS),
        ] {
            if !(1..=max).contains(&got) {
                return Err(WeightsError::Shape {
                    field,
                    got: got as u64,
                    min: 1,
                    max: max as u64,
                });
            }
        }
        Ok(())
    }
}

/// The contiguous slice of a standard-layout array.
#[inline]
fn flat(a: &Array2<f32>) -> &[f32] {
    a.as_slice()
        .expect("the transposed copies are built in standard layout")
}

/// Scratch buffers of one network evaluation.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    z: Activations,
    h: Activations,
    feat: Activations,
    dfeat: Activations,
    dh: Activations,
    dz: Activations,
    v: Activations,
    hc: Activations,
    out: Activations,
    dout: Activations,
    dhc: Activations,
    dv: Activations,
    u: Activations,
    he: Activations,
    mu: Activations,
    rho: Activations,
}

/// The trained model. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistModel {
    dims: MnistDims,
    layers: Vec<Linear>,
    hash: u64,
    /// Output-major copies of the pixel network's output layers (`[o * n_in + j]`):
    /// each output is one dot product over a contiguous row.
    ctx2_t: Array2<f32>,
    skip_t: Array2<f32>,
}

/// Per-layer gradients (same shapes as the model's layers).
pub type Gradients = Vec<Linear>;

impl MnistModel {
    /// A model with the given shape and weights drawn from `init(layer, n_in)` (used by
    /// training), unhashed.
    pub fn with_layers(dims: MnistDims, layers: Vec<Linear>) -> Result<Self, CodecError> {
        dims.validate()?;
        let shapes = dims.layer_shapes();
        if layers.len() != LAYERS {
            return Err(WeightsError::LayerShape(layers.len().min(LAYERS)).into());
        }
        if let Some(bad) = layers
            .iter()
            .zip(shapes)
            .position(|(l, (i, o))| l.n_in != i || l.n_out != o || !l.is_well_formed())
        {
            return Err(WeightsError::LayerShape(bad).into());
        }
        let mut m = Self {
            dims,
            layers,
            hash: 0,
            ctx2_t: Array2::zeros((0, 0)),
            skip_t: Array2::zeros((0, 0)),
        };
        m.sync();
        Ok(m)
    }

    /// Recompute the derived (transposed) weights after the layers changed. Training
    /// calls it after every step.
    pub fn sync(&mut self) {
        let t = |l: &Linear| {
            let mut v = Array2::zeros((l.n_out, l.n_in));
            for j in 0..l.n_in {
                for o in 0..l.n_out {
                    v[[o, j]] = l.w[[j, o]];
                }
            }
            v
        };
        self.ctx2_t = t(&self.layers[CTX2]);
        self.skip_t = t(&self.layers[CTX_SKIP]);
    }

    /// Shape.
    pub fn dims(&self) -> MnistDims {
        self.dims
    }

    /// The layers (encoder, mu head, rho head, decoder 1, decoder 2, context 1,
    /// context 2, context skip).
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Mutable layers (training; call [`MnistModel::sync`] after changing them).
    pub fn layers_mut(&mut self) -> &mut [Linear] {
        &mut self.layers
    }

    /// 64-bit xxHash of the weights file this model was read from (0 if never saved).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Zero gradients shaped like the model.
    pub fn zero_gradients(&self) -> Gradients {
        self.layers
            .iter()
            .map(|l| Linear::zeros(l.n_in, l.n_out))
            .collect()
    }

    fn prepare_ws(&self, ws: &mut Workspace) {
        let d = &self.dims;
        let c = d.ctx_inputs();
        let o = 3 * d.components;
        let need = |v: &mut Activations, n: usize| {
            if v.len() != n {
                *v = Activations::zeros(n);
            }
        };
        need(&mut ws.z, d.latent);
        need(&mut ws.h, d.dec_hidden);
        need(&mut ws.feat, PIXELS * d.features);
        need(&mut ws.dfeat, PIXELS * d.features);
        need(&mut ws.dh, d.dec_hidden);
        need(&mut ws.dz, d.latent);
        need(&mut ws.v, c);
        need(&mut ws.hc, d.ctx_hidden);
        need(&mut ws.out, o);
        need(&mut ws.dout, o);
        need(&mut ws.dhc, d.ctx_hidden);
        need(&mut ws.dv, c);
        need(&mut ws.u, PIXELS);
        need(&mut ws.he, d.enc_hidden);
        need(&mut ws.mu, d.latent);
        need(&mut ws.rho, d.latent);
    }

    /// The decoder's features for latent `z` into `ws.feat`.
    fn features(&self, z: &[f64], ws: &mut Workspace) {
        for (a, &b) in ws.z.iter_mut().zip(z) {
            *a = b as f32;
        }
        self.layers[DEC1].forward(&ws.z, &mut ws.h);
        relu(&mut ws.h);
        self.layers[DEC2].forward(&ws.h, &mut ws.feat);
    }

    /// The pixel network's outputs for pixel `i` into `ws.out` (inputs left in `ws.v`,
    /// hidden activations in `ws.hc`).
    #[inline]
    fn pixel_outputs(&self, x: &[u16], i: usize, ws: &mut Workspace) {
        let f = self.dims.features;
        ws.v[..f].copy_from_slice(&ws.feat[i * f..(i + 1) * f]);
        neighbours(x, i, &mut ws.v[f..]);
        self.layers[CTX1].forward(&ws.v, &mut ws.hc);
        relu(&mut ws.hc);
        // out = V_2 hc + c_2 + S v (the skip layer has no bias of its own).
        let (g, c) = (self.dims.ctx_hidden, self.dims.ctx_inputs());
        let b = self.layers[CTX2].bias();
        let (ctx2_t, skip_t) = (flat(&self.ctx2_t), flat(&self.skip_t));
        for (o, out) in ws.out.iter_mut().enumerate() {
            *out = b[o]
                + dot(&ctx2_t[o * g..(o + 1) * g], &ws.hc)
                + dot(&skip_t[o * c..(o + 1) * c], &ws.v);
        }
    }

    /// The coding distribution of pixel `i` given the decoder features in `ws` and the
    /// image prefix `x[..i]` (later entries of `x` are not read).
    ///
    /// # Panics
    ///
    /// If `i >= PIXELS`, `x` is shorter than `i`, or [`MnistModel::begin`] has not
    /// filled `ws`.
    pub fn pixel(&self, x: &[u16], i: usize, ws: &mut Workspace) -> PixelMixture {
        self.pixel_outputs(x, i, ws);
        PixelMixture::from_outputs(&ws.out, self.dims.components)
    }

    /// Start coding an image at latent `z`: computes the decoder features into `ws`.
    pub fn begin(&self, z: &[f64], ws: &mut Workspace) {
        self.prepare_ws(ws);
        self.features(z, ws);
    }

    /// `ln p(x | z)` (nats) of a whole image. With `dz`, its gradient w.r.t. `z`; with
    /// `grads`, the decoder and pixel-network parameter gradients are accumulated.
    /// `-inf` (and a zero gradient) if `x` is not `PIXELS` long or `z` not `d`.
    pub fn log_lik(
        &self,
        x: &[u16],
        z: &[f64],
        dz: Option<&mut [f64]>,
        mut grads: Option<&mut Gradients>,
        ws: &mut Workspace,
    ) -> f64 {
        if x.len() != PIXELS || z.len() != self.dims.latent {
            // Not an image of this model: no probability (and no gradient).
            if let Some(dz) = dz {
                dz.iter_mut().for_each(|g| *g = 0.0);
            }
            return f64::NEG_INFINITY;
        }
        self.prepare_ws(ws);
        self.features(z, ws);
        let f = self.dims.features;
        let k = self.dims.components;
        let backward = dz.is_some() || grads.is_some();
        let mut lp = 0.0;
        for i in 0..PIXELS {
            self.pixel_outputs(x, i, ws);
            let m = PixelMixture::from_outputs(&ws.out, k);
            if !backward {
                lp += m.log_prob(x[i], None);
                continue;
            }
            lp += m.log_prob(x[i], Some(&mut ws.dout));
            let (ctx1, ctx2, skip) = (
                &self.layers[CTX1],
                &self.layers[CTX2],
                &self.layers[CTX_SKIP],
            );
            // dhc = V_2^T dout on the active units: a sum of output-major rows.
            let gh = self.dims.ctx_hidden;
            ws.dhc.iter_mut().for_each(|d| *d = 0.0);
            let ctx2_t = flat(&self.ctx2_t);
            for (o, &d) in ws.dout.iter().enumerate() {
                for (a, &w) in ws.dhc.iter_mut().zip(&ctx2_t[o * gh..(o + 1) * gh]) {
                    *a += d * w;
                }
            }
            for (a, &h) in ws.dhc.iter_mut().zip(&ws.hc) {
                if h <= 0.0 {
                    *a = 0.0;
                }
            }
            // dv = V_1 dhc + S dout: only the feature inputs need it.
            for j in 0..f {
                let n = ctx1.n_out;
                let no = skip.n_out;
                ws.dv[j] = dot(&ctx1.w_flat()[j * n..(j + 1) * n], &ws.dhc)
                    + dot(&skip.w_flat()[j * no..(j + 1) * no], &ws.dout);
            }
            ws.dfeat[i * f..(i + 1) * f].copy_from_slice(&ws.dv[..f]);
            if let Some(g) = grads.as_deref_mut() {
                ctx2.accumulate(&ws.hc, &ws.dout, &mut g[CTX2]);
                skip.accumulate_weights(&ws.v, &ws.dout, &mut g[CTX_SKIP]);
                ctx1.accumulate(&ws.v, &ws.dhc, &mut g[CTX1]);
            }
        }
        if !backward {
            return lp;
        }
        let dec2 = &self.layers[DEC2];
        dec2.backward_input(&ws.dfeat, &mut ws.dh, Some(&ws.h));
        if let Some(g) = grads {
            dec2.accumulate(&ws.h, &ws.dfeat, &mut g[DEC2]);
            self.layers[DEC1].accumulate(&ws.z, &ws.dh, &mut g[DEC1]);
        }
        if let Some(dz) = dz {
            self.layers[DEC1].backward_input(&ws.dh, &mut ws.dz, None);
            for (a, &b) in dz.iter_mut().zip(&ws.dz) {
                *a = b as f64;
            }
        }
        lp
    }

    /// The amortized encoder's `Q(z | x)`: the starting point of the per-image fit.
    pub fn encode_posterior(&self, x: &[u16], ws: &mut Workspace) -> DiagGaussian {
        self.prepare_ws(ws);
        self.encoder_forward(x, ws);
        DiagGaussian {
            mu: ws.mu.iter().map(|&v| v as f64).collect(),
            rho: ws
                .rho
                .iter()
                .map(|&v| (v as f64).clamp(-30.0, 5.0))
                .collect(),
        }
    }

    fn encoder_forward(&self, x: &[u16], ws: &mut Workspace) {
        for (u, &v) in ws.u.iter_mut().zip(x) {
            *u = v as f32 / 255.0;
        }
        self.layers[ENC1].forward(&ws.u, &mut ws.he);
        relu(&mut ws.he);
        self.layers[ENC_MU].forward(&ws.he, &mut ws.mu);
        self.layers[ENC_RHO].forward(&ws.he, &mut ws.rho);
    }

    /// One training evaluation of image `x`: the single-draw ELBO (nats) at
    /// `z = mu + sigma eps` of the amortized encoder, with every parameter's gradient of
    /// that ELBO accumulated into `grads` (seed Eq. 4 and Eq. 7, amortized).
    pub fn train_step(
        &self,
        x: &[u16],
        eps: &[f64],
        kl_weight: f64,
        grads: &mut Gradients,
        ws: &mut Workspace,
    ) -> (f64, f64) {
        self.prepare_ws(ws);
        self.encoder_forward(x, ws);
        let d = self.dims.latent;
        let mut z = vec![0.0f64; d];
        let mut sigma = vec![0.0f64; d];
        let mut kl = 0.0;
        for i in 0..d {
            let rho = (ws.rho[i] as f64).clamp(-30.0, 5.0);
            sigma[i] = math::exp(rho);
            let mu = ws.mu[i] as f64;
            z[i] = mu + sigma[i] * eps[i];
            kl += 0.5 * (sigma[i] * sigma[i] + mu * mu - 1.0 - 2.0 * rho);
        }
        let mut dz = vec![0.0f64; d];
        let lp = self.log_lik(x, &z, Some(&mut dz), Some(grads), ws);
        // d ELBO / d mu = g - w mu; d ELBO / d rho = g eps sigma - w (sigma^2 - 1).
        let mut dmu = vec![0f32; d];
        let mut drho = vec![0f32; d];
        for i in 0..d {
            dmu[i] = (dz[i] - kl_weight * ws.mu[i] as f64) as f32;
            drho[i] = (dz[i] * eps[i] * sigma[i] - kl_weight * (sigma[i] * sigma[i] - 1.0)) as f32;
        }
        // The encoder forward is still in ws (log_lik does not touch it).
        let mut dhe = vec![0f32; self.dims.enc_hidden];
        let mut tmp = vec![0f32; self.dims.enc_hidden];
        self.layers[ENC_MU].backward_input(&dmu, &mut dhe, Some(&ws.he));
        self.layers[ENC_RHO].backward_input(&drho, &mut tmp, Some(&ws.he));
        for (a, b) in dhe.iter_mut().zip(&tmp) {
            *a += b;
        }
        self.layers[ENC_MU].accumulate(&ws.he, &dmu, &mut grads[ENC_MU]);
        self.layers[ENC_RHO].accumulate(&ws.he, &drho, &mut grads[ENC_RHO]);
        self.layers[ENC1].accumulate(&ws.u, &dhe, &mut grads[ENC1]);
        (lp, kl)
    }
}

/// The coding distributions of one image at one latent, pixel by pixel.
struct MnistLikelihood<'a> {
    model: &'a MnistModel,
    ws: Workspace,
    len: usize,
    current: PixelMixture,
}

impl BlockLikelihood for MnistLikelihood<'_> {
    fn position(&mut self, j: usize, prefix: &[u16]) -> Result<&dyn SymbolModel, CodecError> {
        if self.len != PIXELS || j >= PIXELS || prefix.len() != j {
            return Err(CodecError::Mismatch {
                what: "pixels in an image block",
                got: self.len as u64,
                expected: PIXELS as u64,
            });
        }
        self.current = self.model.pixel(prefix, j, &mut self.ws);
        Ok(&self.current)
    }
}

impl ContinuousLatentModel for MnistModel {
    type Block = Vec<u16>;

    fn latent_dim(&self) -> usize {
        self.dims.latent
    }

    fn alphabet_size(&self) -> usize {
        256
    }

    fn prepare(&self, x: &[u16]) -> Vec<u16> {
        x.to_vec()
    }

    fn log_lik_grad(&self, x: &Vec<u16>, z: &[f64], grad: &mut [f64]) -> f64 {
        if x.len() != PIXELS || x.iter().any(|&v| v > 255) {
            grad.iter_mut().for_each(|g| *g = 0.0);
            return f64::NEG_INFINITY;
        }
        let mut ws = Workspace::default();
        MnistModel::log_lik(self, x, z, Some(grad), None, &mut ws)
    }

    fn log_lik(&self, x: &Vec<u16>, z: &[f64]) -> f64 {
        if x.len() != PIXELS || x.iter().any(|&v| v > 255) {
            return f64::NEG_INFINITY;
        }
        let mut ws = Workspace::default();
        MnistModel::log_lik(self, x, z, None, None, &mut ws)
    }

    fn block_likelihood<'a>(&'a self, z: &[f64], len: usize) -> Box<dyn BlockLikelihood + 'a> {
        let mut ws = Workspace::default();
        self.begin(z, &mut ws);
        Box::new(MnistLikelihood {
            model: self,
            ws,
            len,
            current: PixelMixture::from_outputs(&[0.0; 3 * MAX_COMPONENTS], 1),
        })
    }

    fn initial_posterior(&self, x: &Vec<u16>) -> Option<DiagGaussian> {
        if x.len() != PIXELS {
            return None;
        }
        let mut ws = Workspace::default();
        Some(self.encode_posterior(x, &mut ws))
    }
}

#[cfg(test)]
mod tests {
    use super::pixel::log_sigmoid_diff;
    use super::*;
    use crate::categorical::TOTAL;
    use crate::model::mnist::train::init_model;
    use crate::rng::BlockRng;

    fn small() -> MnistModel {
        let dims = MnistDims {
            latent: 3,
            enc_hidden: 8,
            dec_hidden: 8,
            features: 2,
            ctx_hidden: 5,
            components: 2,
        };
        let mut m = init_model(dims, 7).unwrap();
        // Nonzero skip weights so every path carries gradient.
        let mut rng = BlockRng::for_block(3, 0, 0);
        for w in m.layers_mut()[CTX_SKIP].w.iter_mut() {
            *w = (rng.uniform() - 0.5) as f32;
        }
        m.sync();
        m
    }

    fn image(seed: u64) -> Vec<u16> {
        let mut rng = BlockRng::for_block(seed, 1, 1);
        (0..PIXELS)
            .map(|i| {
                let (r, c) = (i / SIDE, i % SIDE);
                if (8..20).contains(&r) && (10..18).contains(&c) {
                    200 + (rng.next_u64() % 56) as u16
                } else if rng.uniform() < 0.1 {
                    (rng.next_u64() % 256) as u16
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn log_sigmoid_diff_matches_direct_and_its_derivatives() {
        for &(a, b) in &[
            (0.3, -0.2),
            (5.0, 4.0),
            (-8.0, -9.5),
            (30.0, 29.0),
            (-40.0, -41.0),
        ] {
            let (v, da, db) = log_sigmoid_diff(a, b, true);
            // Plain subtraction on the side of 0 where it does not cancel.
            let direct = if a + b > 0.0 {
                math::sigmoid(-b) - math::sigmoid(-a)
            } else {
                math::sigmoid(a) - math::sigmoid(b)
            };
            let direct = math::ln(direct);
            if direct.is_finite() && direct > -30.0 {
                assert!((v - direct).abs() < 1e-9 * direct.abs().max(1.0), "{a} {b}");
            }
            let h = 1e-6;
            let fa = (log_sigmoid_diff(a + h, b, false).0 - log_sigmoid_diff(a - h, b, false).0)
                / (2.0 * h);
            let fb = (log_sigmoid_diff(a, b + h, false).0 - log_sigmoid_diff(a, b - h, false).0)
                / (2.0 * h);
            assert!(
                (fa - da).abs() < 1e-5 * da.abs().max(1.0),
                "{a} {b}: {fa} vs {da}"
            );
            assert!(
                (fb - db).abs() < 1e-5 * db.abs().max(1.0),
                "{a} {b}: {fb} vs {db}"
            );
        }
    }

    #[test]
    fn pixel_probabilities_sum_to_one_and_match_fixed_point() {
        let out = [0.3f32, -0.2, -0.8, 0.4, -3.0, -1.5];
        let m = PixelMixture::from_outputs(&out, 2);
        let total: f64 = (0..256).map(|s| math::exp(m.log_prob(s, None))).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert_eq!(m.fixed_cdf(256), TOTAL);
        for s in 0..256 {
            let (l, p) = m.interval(s).unwrap();
            assert!(p >= 1);
            let p_float = math::exp(m.log_prob(s as u16, None));
            // Quantization error: at most one unit of 2^-24 per edge plus the leak.
            assert!((p as f64 / TOTAL as f64 - p_float).abs() < 300.0 / TOTAL as f64);
            assert_eq!(m.quantile(l), (s, l, p));
            assert_eq!(m.quantile(l + p - 1), (s, l, p));
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let m = small();
        let x = image(5);
        let mut ws = Workspace::default();
        let z = [0.3, -0.7, 1.1];
        let mut dz = [0.0; 3];
        let mut g = m.zero_gradients();
        let lp = m.log_lik(&x, &z, Some(&mut dz), Some(&mut g), &mut ws);
        assert!(lp.is_finite());
        for k in 0..3 {
            let h = 1e-3;
            let mut zp = z;
            zp[k] += h;
            let mut zm = z;
            zm[k] -= h;
            let fd = (m.log_lik(&x, &zp, None, None, &mut ws)
                - m.log_lik(&x, &zm, None, None, &mut ws))
                / (2.0 * h);
            // f32 network: relative agreement to a few 1e-3.
            assert!(
                (fd - dz[k]).abs() < 5e-3 * fd.abs().max(10.0),
                "z{k}: {fd} vs {}",
                dz[k]
            );
        }
        // A few parameters of every decoder-side layer.
        for li in [DEC1, DEC2, CTX1, CTX2, CTX_SKIP] {
            for idx in [0usize, 7, 13] {
                let mut mp = m.clone();
                let h = 1e-2f32;
                let w0 = mp.layers[li].w_flat()[idx];
                mp.layers[li].w_flat_mut()[idx] = w0 + h;
                mp.sync();
                let up = mp.log_lik(&x, &z, None, None, &mut ws);
                mp.layers[li].w_flat_mut()[idx] = w0 - h;
                mp.sync();
                let dn = mp.log_lik(&x, &z, None, None, &mut ws);
                let fd = (up - dn) / (2.0 * h as f64);
                let an = g[li].w_flat()[idx] as f64;
                assert!(
                    (fd - an).abs() < 2e-2 * fd.abs().max(1.0),
                    "layer {li} w{idx}: {fd} vs {an}"
                );
            }
        }
    }

    #[test]
    fn weights_roundtrip_and_reject_damage() {
        let m = small();
        let bytes = m.to_bytes();
        let r = MnistModel::from_bytes(&bytes).unwrap();
        assert_eq!(r.to_bytes(), bytes, "quantization is idempotent");
        assert_ne!(r.hash(), 0);
        assert!(MnistModel::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut b = bytes.clone();
        b[7] = 0xff; // latent dimension 0xff..
        assert!(MnistModel::from_bytes(&b).is_err());
        assert!(MnistModel::from_bytes(b"BBIM").is_err());
    }
}
