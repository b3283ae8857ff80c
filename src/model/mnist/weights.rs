//! The weights file (`.bbim`, layout in the module documentation of
//! [`crate::model::mnist`]) and the built-in model.

use super::{Linear, MnistDims, MnistModel, LAYERS, QUANTIZE_FROM, SIDE, WEIGHTS_MAGIC};
use crate::error::{CodecError, WeightsError};

impl MnistModel {
    /// Serialize to the weights file format, quantizing every weight to `i8` with one
    /// scale per output unit. Returns the bytes; [`MnistModel::from_bytes`] of them gives
    /// the model that coding uses.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&WEIGHTS_MAGIC);
        out.push(1);
        let d = &self.dims;
        for v in [
            SIDE,
            d.latent,
            d.enc_hidden,
            d.dec_hidden,
            d.features,
            d.ctx_hidden,
            d.components,
        ] {
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        for l in &self.layers {
            if l.w.len() < QUANTIZE_FROM {
                out.push(0);
                for v in l.w.iter().chain(&l.b) {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                continue;
            }
            out.push(1);
            let mut scales = vec![0f32; l.n_out];
            for o in 0..l.n_out {
                let mut m = 0f32;
                for j in 0..l.n_in {
                    m = m.max(l.w[[j, o]].abs());
                }
                scales[o] = if m > 0.0 { m / 127.0 } else { 1.0 };
            }
            for s in &scales {
                out.extend_from_slice(&s.to_le_bytes());
            }
            for j in 0..l.n_in {
                for o in 0..l.n_out {
                    let q = (l.w[[j, o]] / scales[o]).round().clamp(-127.0, 127.0);
                    out.push(q as i8 as u8);
                }
            }
            for b in &l.b {
                out.extend_from_slice(&b.to_le_bytes());
            }
        }
        out
    }

    /// Read a weights file (see the module documentation). Every size is checked against
    /// the supported range before anything is allocated.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() < 19 || bytes[..4] != WEIGHTS_MAGIC {
            return Err(WeightsError::Magic.into());
        }
        if bytes[4] != 1 {
            return Err(WeightsError::Version(bytes[4]).into());
        }
        let u = |i: usize| u16::from_le_bytes([bytes[5 + 2 * i], bytes[6 + 2 * i]]) as usize;
        if u(0) != SIDE {
            return Err(WeightsError::Shape {
                field: "image side",
                got: u(0) as u64,
                min: SIDE as u64,
                max: SIDE as u64,
            }
            .into());
        }
        let dims = MnistDims {
            latent: u(1),
            enc_hidden: u(2),
            dec_hidden: u(3),
            features: u(4),
            ctx_hidden: u(5),
            components: u(6),
        };
        dims.validate()?;
        let shapes = dims.layer_shapes();
        let expected: usize = 19
            + shapes
                .iter()
                .map(|&(i, o)| {
                    1 + if i * o < QUANTIZE_FROM {
                        4 * (i * o + o)
                    } else {
                        8 * o + i * o
                    }
                })
                .sum::<usize>();
        if bytes.len() != expected {
            return Err(WeightsError::Length {
                got: bytes.len() as u64,
                expected: expected as u64,
            }
            .into());
        }
        let mut pos = 19;
        let f32_at = |p: &mut usize| {
            let v = f32::from_le_bytes([bytes[*p], bytes[*p + 1], bytes[*p + 2], bytes[*p + 3]]);
            *p += 4;
            v
        };
        let mut layers = Vec::with_capacity(LAYERS);
        for (layer, &(n_in, n_out)) in shapes.iter().enumerate() {
            let kind = bytes[pos];
            pos += 1;
            if kind != u8::from(n_in * n_out >= QUANTIZE_FROM) {
                return Err(WeightsError::StorageKind { layer, kind }.into());
            }
            if kind == 0 {
                let w: Vec<f32> = (0..n_in * n_out).map(|_| f32_at(&mut pos)).collect();
                let b: Vec<f32> = (0..n_out).map(|_| f32_at(&mut pos)).collect();
                if w.iter().chain(&b).any(|v| !v.is_finite()) {
                    return Err(WeightsError::NonFinite(layer).into());
                }
                layers.push(Linear::from_vecs(n_in, n_out, w, b).expect("sized from the shape"));
                continue;
            }
            let scales: Vec<f32> = (0..n_out).map(|_| f32_at(&mut pos)).collect();
            let mut w = vec![0f32; n_in * n_out];
            for j in 0..n_in {
                for o in 0..n_out {
                    w[j * n_out + o] = bytes[pos] as i8 as f32 * scales[o];
                    pos += 1;
                }
            }
            let b: Vec<f32> = (0..n_out).map(|_| f32_at(&mut pos)).collect();
            if scales.iter().chain(&b).any(|v| !v.is_finite()) {
                return Err(WeightsError::NonFinite(layer).into());
            }
            layers.push(Linear::from_vecs(n_in, n_out, w, b).expect("sized from the shape"));
        }
        let mut m = Self::with_layers(dims, layers)?;
        m.hash = xxhash_rust::xxh64::xxh64(bytes, 0);
        Ok(m)
    }
}

/// The weights file shipped with bbcodec: trained on the first 8000 images of the
/// MNIST test set (recipe in the README). Its hash is in every file coded with it.
pub static BUILTIN_WEIGHTS: &[u8] = include_bytes!("../../../models/mnist.bbim");

/// The built-in model, parsed once.
pub fn builtin_mnist_model() -> Result<&'static MnistModel, CodecError> {
    static MODEL: std::sync::OnceLock<Result<MnistModel, CodecError>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| MnistModel::from_bytes(BUILTIN_WEIGHTS))
        .as_ref()
        .map_err(|e| e.clone())
}
