//! The mnist image model as a file model: IDX framing, options (weights, bin depth),
//! header section and chunk coding.

use std::sync::Arc;

use super::idx::read_images;
use super::idx::{IdxHeader, IDX_HEADER_BYTES};
use super::train::{evaluate, train, TrainConfig};
use super::{builtin_mnist_model, MnistModel, MAX_FIT_EVALUATIONS, PIXELS};
use crate::chain::bins::{MAX_BIN_BITS, MIN_BIN_BITS};
use crate::chain::ContinuousBitsBackCoder;
use crate::error::{CodecError, Error, Field, FormatError, OptionError};
use crate::inference::trace::Trace;
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::continuous::{
    chain_config, check_bin_bits, check_continuous_fit, parse_bin_bits, reparam_traces,
    BIN_BITS_OPTION, POSTERIORS, ROWS,
};
use crate::model::file_model::{
    blocks_of, check_posterior, check_work, unknown_option, Arm, CodedChunk, Coding,
    DecodedModelChunk, Defaults, FileModel, Framing, LatentKind, ModelOption, TrainSettings,
    Trained,
};
use crate::wire::{put_varint, SliceReader};

/// `--model mnist`: the trained latent image model over IDX files of 28x28 images.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistConfig {
    /// The weights (None: the built-in model).
    pub weights: Option<Arc<MnistModel>>,
    /// Bits per latent bin index: `2^bin_bits` equal-mass bins per dimension.
    pub bin_bits: u8,
}

impl Default for MnistConfig {
    fn default() -> Self {
        Self {
            weights: None,
            bin_bits: 10,
        }
    }
}

impl MnistConfig {
    /// The model these options code with (the built-in one unless set).
    pub fn model(&self) -> Result<&MnistModel, CodecError> {
        match &self.weights {
            Some(m) => Ok(m),
            None => builtin_mnist_model(),
        }
    }
}

const OPTIONS: &[ModelOption] = &[
    BIN_BITS_OPTION,
    ModelOption {
        name: "weights",
        value: "FILE",
        help: "mnist model: a .bbim weights file from `bbcodec train` (default: built in; also to decode)",
        decode: true,
    },
];

/// Whole images per block; 32 Adam steps of one draw from the amortized encoder's
/// posterior, step 0.05.
///
/// These are also the kind's format defaults, frozen with format version 2: to change
/// what the encoder picks, give `defaults` a value of its own and leave these.
fn kind_defaults() -> Defaults {
    Defaults {
        coding: Coding {
            fit: FitConfig {
                posterior: PosteriorKind::Bbvi(Estimator::Reparameterization),
                iterations: 32,
                samples: 1,
                learning_rate: 0.05,
                ..FitConfig::default()
            },
            block_size: PIXELS as u32,
            iwae_samples: 0,
        },
        chunk_size: 128 * PIXELS as u32,
    }
}

/// The IDX header of an image file: stored raw ahead of the images.
struct IdxFraming;

impl Framing for IdxFraming {
    fn prefix_len(&self) -> usize {
        IDX_HEADER_BYTES
    }
    fn body_len(&self, prefix: &[u8]) -> Result<u64, Error> {
        Ok(IdxHeader::parse(prefix)?.count as u64 * PIXELS as u64)
    }
    fn body_len_error(&self, prefix: &[u8], got: u64) -> Error {
        match IdxHeader::parse(prefix).and_then(|h| h.check_length(got)) {
            Err(e) => e.into(),
            Ok(()) => CodecError::Corrupt("IDX body length").into(),
        }
    }
    fn unit(&self) -> u32 {
        PIXELS as u32
    }
}

impl FileModel for MnistConfig {
    fn name(&self) -> &'static str {
        "mnist"
    }

    fn description(&self) -> &'static str {
        "mnist: the trained latent image model, for IDX files of 28x28 8-bit images"
    }

    fn latent(&self) -> LatentKind {
        LatentKind::Continuous {
            bin_bits: self.bin_bits as u32,
        }
    }

    fn defaults(&self) -> Defaults {
        kind_defaults()
    }

    fn format_defaults(&self) -> Defaults {
        kind_defaults()
    }

    fn options(&self) -> &'static [ModelOption] {
        OPTIONS
    }

    fn set_option(&mut self, name: &str, value: &str) -> Result<(), OptionError> {
        match name {
            "bin-bits" => self.bin_bits = parse_bin_bits(value)?,
            "weights" => {
                let bytes = std::fs::read(value).map_err(|e| OptionError::Unreadable {
                    option: "weights",
                    path: value.to_string(),
                    kind: e.kind(),
                })?;
                let m =
                    MnistModel::from_bytes(&bytes).map_err(|source| OptionError::Unloadable {
                        option: "weights",
                        path: value.to_string(),
                        source,
                    })?;
                self.weights = Some(Arc::new(m));
            }
            _ => return Err(unknown_option(self, name)),
        }
        Ok(())
    }

    fn posteriors(&self) -> &'static [PosteriorKind] {
        POSTERIORS
    }

    fn validate(&self, coding: &Coding, chunk_size: Option<u32>) -> Result<(), FormatError> {
        if coding.block_size != PIXELS as u32 {
            return Err(FormatError::Invalid {
                field: Field::BlockSize,
                got: coding.block_size as u64,
            });
        }
        if let Some(c) = chunk_size {
            if c % PIXELS as u32 != 0 {
                return Err(FormatError::Invalid {
                    field: Field::ChunkSize,
                    got: c as u64,
                });
            }
        }
        check_bin_bits(self.bin_bits)?;
        check_posterior(self, coding)?;
        // One likelihood gradient costs about a million operations.
        check_work(
            coding.fit.iterations as u64 * coding.fit.samples as u64,
            MAX_FIT_EVALUATIONS,
        )?;
        let d = self
            .model()
            .map_or(super::MAX_LATENT_DIM, |m| m.dims().latent);
        check_continuous_fit(coding, d as u64)
    }

    /// The weights' 64-bit hash (`u64` little endian), then `varint bin_bits`.
    fn write_config(&self, out: &mut Vec<u8>) {
        let hash = self.model().map_or(0, |m| m.hash());
        out.extend_from_slice(&hash.to_le_bytes());
        put_varint(out, self.bin_bits as u64);
    }

    fn read_config(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut r = SliceReader::new(bytes);
        let h = r.take(8, Field::ModelConfig)?;
        let stored = u64::from_le_bytes(h.try_into().expect("8 bytes"));
        self.bin_bits = r.varint_in(
            Field::ModelOption("bin-bits"),
            MIN_BIN_BITS as u64,
            MAX_BIN_BITS as u64,
        )? as u8;
        r.finish(Field::ModelConfig)?;
        self.check_hash(stored)
    }

    fn read_v1_config(&mut self, fields: [u8; 4]) -> Result<(), Error> {
        self.bin_bits = fields[3];
        let d = self.model()?.dims().latent;
        if fields[2] as usize != d {
            return Err(CodecError::Mismatch {
                what: "the file's latent dimension (the weights' is expected)",
                got: fields[2] as u64,
                expected: d as u64,
            }
            .into());
        }
        Ok(())
    }

    /// Version 1 stored the weights' hash with every chunk.
    fn v1_chunk_params(&self, params: Vec<u8>) -> Result<Vec<u8>, Error> {
        let stored = match params[..].try_into() {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => return Err(FormatError::Corrupt(Field::Parameters).into()),
        };
        self.check_hash(stored)?;
        Ok(Vec::new())
    }

    fn framing(&self) -> Option<&dyn Framing> {
        Some(&IdxFraming)
    }

    fn prepare(&self) -> Result<(), Error> {
        self.model()?;
        Ok(())
    }

    fn encode_chunk(
        &self,
        data: &[u8],
        index: u64,
        coding: &Coding,
        parallel: bool,
    ) -> Result<CodedChunk, Error> {
        let symbols = &crate::model::file_model::symbols_of(data)[..];
        let model = self.model()?;
        let chain = ContinuousBitsBackCoder::new(
            model,
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?
        .with_parallel_fits(parallel)
        .encode(symbols, index)?;
        Ok(CodedChunk {
            params: Vec::new(),
            chain: chain.into(),
            latents: model.dims().latent as u64,
        })
    }

    fn decode_chunk(
        &self,
        params: &[u8],
        segments: &[crate::chain::ChainSegment],
        len: usize,
        index: u64,
        coding: &Coding,
        accounting: bool,
    ) -> Result<DecodedModelChunk, Error> {
        let segment = crate::model::file_model::one_segment(segments)?;
        let (words, bootstrap_blocks) = (&segment.words[..], segment.bootstrap_blocks);
        if !params.is_empty() {
            return Err(FormatError::Invalid {
                field: Field::Parameters,
                got: params.len() as u64,
            }
            .into());
        }
        let model = self.model()?;
        let chain = ContinuousBitsBackCoder::new(
            model,
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?
        .with_accounting(accounting)
        .decode(words, len, bootstrap_blocks, index)?;
        Ok(DecodedModelChunk::from_symbols(
            chain,
            model.dims().latent as u64,
        )?)
    }

    fn analysis_rows(&self) -> (&'static [Arm], &'static str) {
        (ROWS, "reparam")
    }

    /// From the amortized encoder's posterior (what the coder does) and from the prior,
    /// on up to 50 images of the first chunk.
    fn traces(&self, first_chunk: &[u8], coding: &Coding) -> Result<Vec<Trace>, Error> {
        let model = self.model()?;
        let blocks = blocks_of(first_chunk, coding.block_size);
        Ok(vec![
            reparam_traces(model, &blocks, coding, true, 50),
            reparam_traces(model, &blocks, coding, false, 50),
        ])
    }
    /// Train on the first `settings.first` images of an IDX file (gzip-compressed or
    /// not) and evaluate the amortized `-ELBO` on them and on the rest.
    fn train(
        &self,
        input: &[u8],
        settings: &TrainSettings,
        log: &mut dyn FnMut(&str),
    ) -> Result<Trained, Error> {
        let images = read_images(input)?;
        if settings.first == 0 || settings.first > images.len() {
            return Err(OptionError::Range {
                option: "first",
                got: settings.first as u64,
                min: 1,
                max: images.len() as u64,
            }
            .into());
        }
        let (train_set, held_out) = images.split_at(settings.first);
        let mut config = TrainConfig {
            epochs: settings.epochs,
            ..Default::default()
        };
        if let Some(s) = settings.seed {
            config.seed = s;
        }
        log(&format!(
            "training on {} images, {} held out, {} epochs, shape {:?}",
            train_set.len(),
            held_out.len(),
            config.epochs,
            config.dims
        ));
        let t = std::time::Instant::now();
        let model = train(train_set, &config, |s, _| {
            log(&format!(
                "epoch {:3}: train -ELBO {:.4} bits/pixel (single draw), KL {:.1} bits/image, {:.0} s",
                s.epoch + 1,
                s.neg_elbo_bpp,
                s.kl_bits,
                t.elapsed().as_secs_f64()
            ))
        })?;
        let weights = model.to_bytes();
        let saved = MnistModel::from_bytes(&weights)?;
        let (tr, _) = evaluate(&saved, train_set, 1);
        let mut summary = format!(
            "{} bytes, hash {:016x}; amortized -ELBO {tr:.4} bits/pixel on the training images",
            weights.len(),
            saved.hash()
        );
        if !held_out.is_empty() {
            let (te, kl) = evaluate(&saved, held_out, 1);
            summary += &format!(
                ", {te:.4} on the {} held-out (KL {kl:.1} bits)",
                held_out.len()
            );
        }
        Ok(Trained { weights, summary })
    }
}

impl MnistConfig {
    fn check_hash(&self, stored: u64) -> Result<(), Error> {
        let given = self.model()?.hash();
        if stored != given {
            return Err(CodecError::WrongWeights {
                model: "mnist",
                stored,
                given,
            }
            .into());
        }
        Ok(())
    }
}
