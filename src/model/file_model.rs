//! The seam between the file codec and a built-in model: every question the codec,
//! the container, `analyze` and the command line ask of a model kind, in one trait.
//!
//! Each built-in model implements [`FileModel`] on its configuration type, in its own
//! folder; [`crate::model`] lists the kinds. The trait has no default for anything
//! that differs between models, so a new kind does not compile until it answers every
//! question.

use std::fmt;

use crate::chain::{ChainSegment, DecodedChunk, SegmentedChunk};
use crate::error::{CodecError, Error, FormatError, OptionError};
use crate::inference::trace::Trace;
use crate::inference::{FitConfig, PosteriorKind};
use crate::report::{BlockRecord, RateTotals};

/// The shape of a model's latent, as the rate accounting sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatentKind {
    /// A finite latent: `-log2 P(x)` is exact by enumeration.
    Discrete,
    /// A continuous latent coded in `2^bin_bits` equal-mass bins per dimension:
    /// `-log2 P(x)` is an importance-weighted estimate.
    Continuous {
        /// Bits per bin index.
        bin_bits: u32,
    },
}

/// What the chain codes a chunk with, besides the model: stored in every file header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coding {
    /// The posterior fit (kind, estimator, iterations, samples, step, seed).
    pub fit: FitConfig,
    /// Symbols per block (one latent per block).
    pub block_size: u32,
    /// Importance samples per block of the accounting's IWAE estimate of `-log2 P(x)`
    /// for continuous latents (0: the default, 16, or `16 N` under importance weighting
    /// with `N` particles). Not stored: it changes no coded bit, and a decoder takes
    /// its own.
    pub iwae_samples: u32,
}

/// A model kind's encoder defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Defaults {
    /// Posterior fit and block size.
    pub coding: Coding,
    /// Bytes per chunk.
    pub chunk_size: u32,
}

/// One option a model takes: a command-line flag `--NAME VALUE` and
/// [`FileModel::set_option`]'s key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelOption {
    /// Flag name without `--`.
    pub name: &'static str,
    /// Name of the value in the help text.
    pub value: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Also needed to decode (e.g. a weights file the format cannot carry).
    pub decode: bool,
}

/// A prefix of the input that the model frames apart (e.g. the IDX header of an image
/// file): stored raw as the first chunk, and declaring how many bytes follow it.
pub trait Framing: Sync {
    /// Bytes of the prefix.
    fn prefix_len(&self) -> usize;
    /// Check a prefix (possibly shorter than [`Framing::prefix_len`] when the input
    /// is); returns the number of bytes that must follow it.
    fn body_len(&self, prefix: &[u8]) -> Result<u64, Error>;
    /// The error for a body of `got` bytes after `prefix` (not the declared length).
    fn body_len_error(&self, prefix: &[u8], got: u64) -> Error;
    /// Bytes of the body that make one coding unit; chunks hold whole units.
    fn unit(&self) -> u32;
}

/// One chunk coded by a model: its stored parameters and the chain's output.
#[derive(Clone, Debug)]
pub struct CodedChunk {
    /// Parameters stored with the chunk (counted in `header_bits`).
    pub params: Vec<u8>,
    /// The chain's segments and measurements.
    pub chain: SegmentedChunk,
    /// The model's size for this chunk (mixture components, latent dimensions).
    pub latents: u64,
}

/// A decoded chunk and the model's size for it.
#[derive(Clone, Debug)]
pub struct DecodedModelChunk {
    /// The chunk's bytes.
    pub data: Vec<u8>,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
    /// The model's size for this chunk (mixture components, latent dimensions).
    pub latents: u64,
}

impl DecodedModelChunk {
    /// From a chain's symbols, which must be bytes.
    pub fn from_symbols(chain: DecodedChunk, latents: u64) -> Result<Self, CodecError> {
        let data = chain
            .symbols
            .iter()
            .map(|&s| u8::try_from(s))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| CodecError::Corrupt("symbol outside the byte range"))?;
        Ok(Self {
            data,
            blocks: chain.blocks,
            totals: chain.totals,
            latents,
        })
    }
}

/// A chunk's bytes as the chains' symbols.
pub fn symbols_of(data: &[u8]) -> Vec<u16> {
    data.iter().map(|&b| b as u16).collect()
}

/// Everything the file codec asks of one model kind. Implemented by each built-in
/// model's configuration (its library fields), so that a value of the type is one
/// fully configured model.
pub trait FileModel: fmt::Debug + Send + Sync {
    /// Stable name (`--model NAME`, the report's `model`).
    fn name(&self) -> &'static str;

    /// One line for `--model`'s help: what the model is and what it codes.
    fn description(&self) -> &'static str;

    /// The latent's shape.
    fn latent(&self) -> LatentKind;

    /// Encoder defaults: posterior fit, block size, chunk size.
    fn defaults(&self) -> Defaults;

    /// What a version 2 file means when it omits the posterior, block or chunk
    /// section. Frozen with the format: changing it changes the meaning of stored files.
    fn format_defaults(&self) -> Defaults;

    /// The options the model takes (flags and [`FileModel::set_option`] keys), in the
    /// order they are applied.
    fn options(&self) -> &'static [ModelOption];

    /// Set option `name` from its command-line value.
    fn set_option(&mut self, name: &str, value: &str) -> Result<(), OptionError>;

    /// The posteriors the model codes with (the first BBVI one is the default
    /// estimator of `--posterior bbvi`).
    fn posteriors(&self) -> &'static [PosteriorKind];

    /// Check the configuration with the chain's: the model's own fields, and the fit
    /// work per symbol that a decoder would have to repeat. `chunk_size` is the
    /// encoder's (files do not store it).
    fn validate(&self, coding: &Coding, chunk_size: Option<u32>) -> Result<(), FormatError>;

    /// The model's section of a version 2 header (after the kind).
    fn write_config(&self, out: &mut Vec<u8>);

    /// Read the model's section of a version 2 header into `self`, which supplies
    /// what a file does not carry (e.g. the weights). Checks and bounds every field.
    fn read_config(&mut self, bytes: &[u8]) -> Result<(), Error>;

    /// Read the model's fields of a version 1 header (bytes 28..32) into `self`.
    fn read_v1_config(&mut self, fields: [u8; 4]) -> Result<(), Error>;

    /// A version 1 chunk's stored parameters as [`FileModel::decode_chunk`] takes
    /// them (checked).
    fn v1_chunk_params(&self, params: Vec<u8>) -> Result<Vec<u8>, Error>;

    /// The prefix the model frames apart from the coded chunks, if any.
    fn framing(&self) -> Option<&dyn Framing>;

    /// Load what coding needs before the first chunk (e.g. the built-in weights), so
    /// that a failure is reported once, up front.
    fn prepare(&self) -> Result<(), Error>;

    /// Fit the model to one chunk and code it (encoder side). `parallel`: the fit may
    /// use the current rayon pool.
    fn encode_chunk(
        &self,
        data: &[u8],
        index: u64,
        coding: &Coding,
        parallel: bool,
    ) -> Result<CodedChunk, Error>;

    /// Decode one chunk of `len` symbols from its parameters and segments.
    fn decode_chunk(
        &self,
        params: &[u8],
        segments: &[ChainSegment],
        len: usize,
        index: u64,
        coding: &Coding,
        accounting: bool,
    ) -> Result<DecodedModelChunk, Error>;

    /// The rows `analyze` codes, and the name of the row whose blocks it keeps.
    fn analysis_rows(&self) -> (&'static [Arm], &'static str);

    /// Fit traces on the first chunk's body (after any framing prefix).
    fn traces(&self, first_chunk: &[u8], coding: &Coding) -> Result<Vec<Trace>, Error>;

    /// Train the model's weights on `input` (`bbcodec train`); `log` receives one line
    /// per epoch. Models fitted per chunk have nothing to train and say so.
    fn train(
        &self,
        input: &[u8],
        settings: &TrainSettings,
        log: &mut dyn FnMut(&str),
    ) -> Result<Trained, Error>;
}

/// One row `analyze` codes: a posterior, and what else the row changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arm {
    /// The row's name.
    pub name: &'static str,
    /// The posterior it codes with.
    pub posterior: PosteriorKind,
    /// Fit iterations instead of the options' (0: the model's starting posterior).
    pub iterations: Option<u32>,
    /// Draws per fit iteration instead of the options'.
    pub samples: Option<u32>,
    /// Model options set for the row ([`FileModel::set_option`] names and values).
    pub options: &'static [(&'static str, &'static str)],
}

impl Arm {
    /// A row that changes only the posterior.
    pub const fn new(name: &'static str, posterior: PosteriorKind) -> Self {
        Self {
            name,
            posterior,
            iterations: None,
            samples: None,
            options: &[],
        }
    }
}

/// What `bbcodec train` is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainSettings {
    /// Train on the first this many items; the rest are evaluated as held out.
    pub first: usize,
    /// Passes over the training items.
    pub epochs: usize,
    /// Seed of the initialization, shuffles and draws (None: the model's own).
    pub seed: Option<u64>,
}

/// A trained model: its weights file and a summary line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trained {
    /// The weights file's bytes.
    pub weights: Vec<u8>,
    /// What was trained and how well it does.
    pub summary: String,
}

/// The error of a model that has nothing to train.
pub fn not_trainable(model: &dyn FileModel) -> Error {
    OptionError::NotTrainable {
        model: model.name(),
    }
    .into()
}

/// Split a chunk into blocks of symbols.
pub fn blocks_of(chunk: &[u8], block_size: u32) -> Vec<Vec<u16>> {
    chunk
        .chunks(block_size.max(1) as usize)
        .map(|b| b.iter().map(|&v| v as u16).collect())
        .collect()
}

/// Parse an integer option value in `min..=max`.
pub fn parse_option<T: TryFrom<u64>>(
    option: &'static str,
    value: &str,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<T, OptionError> {
    let bad = || OptionError::Value {
        option,
        got: value.to_string(),
        expected,
    };
    let v: u64 = value.trim().parse().map_err(|_| bad())?;
    if v < min || v > max {
        return Err(bad());
    }
    T::try_from(v).map_err(|_| bad())
}

/// The error for an option the model does not take.
pub fn unknown_option(model: &dyn FileModel, name: &str) -> OptionError {
    OptionError::Unknown {
        option: name.to_string(),
        model: model.name(),
        options: {
            let names: Vec<String> = model
                .options()
                .iter()
                .map(|o| format!("--{}", o.name))
                .collect();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        },
    }
}

/// Check that `coding.fit.posterior` is one of the model's.
pub fn check_posterior(model: &dyn FileModel, coding: &Coding) -> Result<(), FormatError> {
    let p = coding.fit.posterior;
    if model.posteriors().iter().any(|q| q.same_kind(p)) {
        return Ok(());
    }
    Err(FormatError::Posterior {
        model: model.name(),
        posterior: p.label(),
        allowed: model
            .posteriors()
            .iter()
            .map(|q| q.label())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The one segment of a chunk coded by a chain of one stack.
pub fn one_segment(segments: &[ChainSegment]) -> Result<&ChainSegment, FormatError> {
    match segments {
        [s] => Ok(s),
        _ => Err(FormatError::Limit {
            field: crate::error::Field::Segment,
            got: segments.len() as u64,
            max: 1,
        }),
    }
}

/// Check `got <= max` for the fit-work field.
pub fn check_work(got: u64, max: u64) -> Result<(), FormatError> {
    crate::wire::check_range(crate::error::Field::FitWork, got, 0, max)
}
