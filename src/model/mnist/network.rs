//! The networks' building blocks: dense layers in fixed-order loops (DESIGN section 2),
//! ReLU, and the causal neighbourhood of a pixel.

use std::ops::{Deref, DerefMut};

use ndarray::{Array1, Array2};

use super::{NEIGHBOURS, SIDE};

/// A dense layer `out = W^T x + b`.
///
/// Invariant: `w` has shape `(n_in, n_out)` in standard (row-major) layout, so row `j`
/// (the weights out of input `j`) is contiguous; `b` has `n_out` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// Weights `W[j, o]`, input-major.
    pub w: Array2<f32>,
    /// Biases.
    pub b: Array1<f32>,
}

/// An activation or gradient vector of a network evaluation: `ndarray` storage, read
/// and written as a slice by the fixed-order loops.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activations(Array1<f32>);

impl Activations {
    /// `n` zeros.
    pub fn zeros(n: usize) -> Self {
        Self(Array1::zeros(n))
    }
}

impl Deref for Activations {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        self.0.as_slice().expect("a fresh Array1 is contiguous")
    }
}

impl<'a> IntoIterator for &'a Activations {
    type Item = &'a f32;
    type IntoIter = std::slice::Iter<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl DerefMut for Activations {
    fn deref_mut(&mut self) -> &mut [f32] {
        self.0.as_slice_mut().expect("a fresh Array1 is contiguous")
    }
}

/// `sum_i a_i b_i` with eight partial sums in a fixed order (deterministic, vectorizable).
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += ca[l] * cb[l];
        }
    }
    for i in n8..a.len() {
        acc[i - n8] += a[i] * b[i];
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

impl Linear {
    /// A zero layer.
    pub fn zeros(n_in: usize, n_out: usize) -> Self {
        Self {
            n_in,
            n_out,
            w: Array2::zeros((n_in, n_out)),
            b: Array1::zeros(n_out),
        }
    }

    /// A layer from input-major weights and biases; `None` unless the lengths are
    /// `n_in * n_out` and `n_out`.
    pub fn from_vecs(n_in: usize, n_out: usize, w: Vec<f32>, b: Vec<f32>) -> Option<Self> {
        if b.len() != n_out {
            return None;
        }
        Some(Self {
            n_in,
            n_out,
            w: Array2::from_shape_vec((n_in, n_out), w).ok()?,
            b: Array1::from(b),
        })
    }

    /// True when the arrays have the declared shapes and the weights are contiguous.
    pub fn is_well_formed(&self) -> bool {
        self.w.dim() == (self.n_in, self.n_out)
            && self.w.is_standard_layout()
            && self.b.len() == self.n_out
    }

    /// All weights, input-major (`[j * n_out + o]`).
    #[inline]
    pub fn w_flat(&self) -> &[f32] {
        self.w
            .as_slice()
            .expect("Linear weights are in standard layout")
    }

    /// All weights, input-major, to change them.
    #[inline]
    pub fn w_flat_mut(&mut self) -> &mut [f32] {
        self.w
            .as_slice_mut()
            .expect("Linear weights are in standard layout")
    }

    /// Row `j` of `W`: the weights out of input `j`.
    #[inline]
    pub fn row(&self, j: usize) -> &[f32] {
        let n = self.n_out;
        &self.w_flat()[j * n..(j + 1) * n]
    }

    /// The biases.
    #[inline]
    pub fn bias(&self) -> &[f32] {
        self.b.as_slice().expect("a fresh Array1 is contiguous")
    }

    /// `out = W^T x + b`, each output accumulated over the inputs in index order
    /// (zero inputs skipped).
    #[inline]
    pub fn forward(&self, x: &[f32], out: &mut [f32]) {
        out.copy_from_slice(self.bias());
        self.forward_add(x, out);
    }

    /// `out += W^T x`.
    #[inline]
    pub(super) fn forward_add(&self, x: &[f32], out: &mut [f32]) {
        let (n, w) = (self.n_out, self.w_flat());
        for (j, &xj) in x.iter().enumerate() {
            if xj == 0.0 {
                continue;
            }
            for (o, &w) in out.iter_mut().zip(&w[j * n..(j + 1) * n]) {
                *o += w * xj;
            }
        }
    }

    /// `dx = W dout` (`dx[j] = sum_o w[j][o] dout[o]`); `mask` skips inputs whose
    /// gradient is not needed (e.g. inactive ReLUs), leaving them 0.
    #[inline]
    pub(super) fn backward_input(&self, dout: &[f32], dx: &mut [f32], mask: Option<&[f32]>) {
        let (n, w) = (self.n_out, self.w_flat());
        for j in 0..self.n_in {
            if let Some(m) = mask {
                if m[j] <= 0.0 {
                    dx[j] = 0.0;
                    continue;
                }
            }
            dx[j] = dot(&w[j * n..(j + 1) * n], dout);
        }
    }

    /// Accumulate this layer's parameter gradient for input `x` and output gradient
    /// `dout` into `g`.
    #[inline]
    pub(super) fn accumulate(&self, x: &[f32], dout: &[f32], g: &mut Linear) {
        for (gb, &d) in g.b.iter_mut().zip(dout) {
            *gb += d;
        }
        self.accumulate_weights(x, dout, g);
    }

    /// Accumulate the weight gradient only (for a layer whose bias is unused).
    #[inline]
    pub(super) fn accumulate_weights(&self, x: &[f32], dout: &[f32], g: &mut Linear) {
        let n = self.n_out;
        for (j, &xj) in x.iter().enumerate() {
            if xj == 0.0 {
                continue;
            }
            let row = &mut g.w_flat_mut()[j * n..(j + 1) * n];
            for (gw, &d) in row.iter_mut().zip(dout) {
                *gw += xj * d;
            }
        }
    }
}

/// `relu` in place.
#[inline]
pub(super) fn relu(v: &mut [f32]) {
    for x in v {
        if *x < 0.0 {
            *x = 0.0;
        }
    }
}

/// The twelve causal neighbours of pixel `i` from the (prefix of the) image, scaled to
/// `[0, 1]`; 0 outside the image.
#[inline]
pub fn neighbours(x: &[u16], i: usize, out: &mut [f32]) {
    let (r, c) = ((i / SIDE) as isize, (i % SIDE) as isize);
    for (k, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
        let (rr, cc) = (r + dr, c + dc);
        out[k] = if rr < 0 || cc < 0 || cc >= SIDE as isize {
            0.0
        } else {
            x[rr as usize * SIDE + cc as usize] as f32 / 255.0
        };
    }
}
