//! The networks' building blocks: dense layers in fixed-order loops (DESIGN section 2),
//! ReLU, and the causal neighbourhood of a pixel.

use super::{NEIGHBOURS, SIDE};

/// A dense layer `out = W^T x + b`, weights stored input-major (`w[j * n_out + o]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// Weights, input-major.
    pub w: Vec<f32>,
    /// Biases.
    pub b: Vec<f32>,
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
            w: vec![0.0; n_in * n_out],
            b: vec![0.0; n_out],
        }
    }

    /// `out = W^T x + b`, each output accumulated over the inputs in index order
    /// (zero inputs skipped).
    #[inline]
    pub fn forward(&self, x: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.b);
        self.forward_add(x, out);
    }

    /// `out += W^T x`.
    #[inline]
    pub(super) fn forward_add(&self, x: &[f32], out: &mut [f32]) {
        let n = self.n_out;
        for (j, &xj) in x.iter().enumerate() {
            if xj == 0.0 {
                continue;
            }
            let row = &self.w[j * n..(j + 1) * n];
            for (o, &w) in out.iter_mut().zip(row) {
                *o += w * xj;
            }
        }
    }

    /// `dx = W dout` (`dx[j] = sum_o w[j][o] dout[o]`); `mask` skips inputs whose
    /// gradient is not needed (e.g. inactive ReLUs), leaving them 0.
    #[inline]
    pub(super) fn backward_input(&self, dout: &[f32], dx: &mut [f32], mask: Option<&[f32]>) {
        let n = self.n_out;
        for j in 0..self.n_in {
            if let Some(m) = mask {
                if m[j] <= 0.0 {
                    dx[j] = 0.0;
                    continue;
                }
            }
            dx[j] = dot(&self.w[j * n..(j + 1) * n], dout);
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
            let row = &mut g.w[j * n..(j + 1) * n];
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
