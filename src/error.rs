//! Error types, one enum per layer. A leaf module: it imports nothing of the crate.

use std::fmt;
use std::io;

/// A field of the file format or of the encoder's options: what a [`FormatError`] is
/// about. The command line maps it to the flag that sets it, without reading messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The file header as a whole (its bytes, its checksum).
    FileHeader,
    /// Length of the header's sections.
    HeaderLength,
    /// A section's id and length.
    Section,
    /// The model kind.
    ModelKind,
    /// The model's own configuration section.
    ModelConfig,
    /// One of the model's own options (its command-line name, without `--`).
    ModelOption(&'static str),
    /// The posterior kind.
    Posterior,
    /// The BBVI gradient estimator.
    Estimator,
    /// BBVI iterations.
    Iterations,
    /// BBVI samples per iteration.
    Samples,
    /// Particles of importance-weighted bits-back.
    Particles,
    /// BBVI learning rate.
    LearningRate,
    /// BBVI work per symbol (iterations, samples, block size together).
    FitWork,
    /// Symbols per block.
    BlockSize,
    /// Bytes per chunk.
    ChunkSize,
    /// The encoder's level.
    Level,
    /// A chunk record's head (kind and length).
    ChunkRecord,
    /// A chunk's original length.
    ChunkLength,
    /// A chunk's stored bytes.
    ChunkPayload,
    /// The original bytes of one chunk (its checksum).
    Chunk,
    /// A chunk's model parameters.
    Parameters,
    /// A chunk's ANS segment list.
    Segment,
    /// The number of blocks of an ANS segment.
    SegmentBlocks,
    /// Chunk-start blocks of a segment.
    BootstrapBlocks,
    /// ANS words of a segment.
    Words,
    /// The end of the member (total length and content checksum).
    EndRecord,
    /// The whole original content (its checksum).
    Content,
}

impl Field {
    /// What the field is, in words.
    pub fn name(self) -> &'static str {
        match self {
            Field::FileHeader => "the file header",
            Field::HeaderLength => "header length",
            Field::Section => "header section",
            Field::ModelKind => "model kind",
            Field::ModelConfig => "model configuration",
            Field::ModelOption(n) => n,
            Field::Posterior => "posterior",
            Field::Estimator => "estimator",
            Field::Iterations => "iterations",
            Field::Samples => "samples",
            Field::Particles => "particles",
            Field::LearningRate => "learning rate",
            Field::FitWork => "BBVI work per symbol",
            Field::BlockSize => "block size",
            Field::ChunkSize => "chunk size",
            Field::Level => "level",
            Field::ChunkRecord => "chunk record",
            Field::ChunkLength => "chunk length",
            Field::ChunkPayload => "chunk payload",
            Field::Chunk => "chunk",
            Field::Parameters => "model parameters",
            Field::Segment => "ANS segment",
            Field::SegmentBlocks => "blocks of an ANS segment",
            Field::BootstrapBlocks => "chunk-start block count",
            Field::Words => "ANS words",
            Field::EndRecord => "end record",
            Field::Content => "whole content",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the file format layer (container and stored parameters), and of options
/// that the format could not store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ends inside a field that must be present.
    #[error("truncated: input ends inside {0}")]
    Truncated(Field),
    /// The magic bytes are not bbcodec's.
    #[error("not a bbcodec file (magic is {got:02x?}, expected {expected:02x?})")]
    BadMagic {
        /// Bytes found.
        got: [u8; 4],
        /// Bytes expected.
        expected: [u8; 4],
    },
    /// The format version is not one this build reads.
    #[error("format version is {got}, expected 1 or 2")]
    Version {
        /// Version found.
        got: u8,
    },
    /// A field holds a value that is not allowed.
    #[error("{field} is {got}, which is not a valid value")]
    Invalid {
        /// The field.
        field: Field,
        /// Value found.
        got: u64,
    },
    /// A field exceeds its limit.
    #[error("{field} is {got}, expected at most {max}")]
    Limit {
        /// The field.
        field: Field,
        /// Value found.
        got: u64,
        /// Limit.
        max: u64,
    },
    /// A field is below its lower limit.
    #[error("{field} is {got}, expected at least {min}")]
    TooSmall {
        /// The field.
        field: Field,
        /// Value found.
        got: u64,
        /// Lower limit.
        min: u64,
    },
    /// A posterior the model does not allow.
    #[error(
        "posterior {posterior} does not apply to the {model} model, expected one of: {allowed}"
    )]
    Posterior {
        /// The model's name.
        model: &'static str,
        /// The posterior (and estimator) given.
        posterior: &'static str,
        /// The posteriors the model allows.
        allowed: String,
    },
    /// A checksum does not match.
    #[error("checksum mismatch in {field}: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// What the checksum covers.
        field: Field,
        /// Stored value.
        stored: u32,
        /// Recomputed value.
        computed: u32,
    },
    /// A section this build does not know and may not skip.
    #[error("header section {0} is not one this build reads (written by a newer bbcodec?)")]
    UnknownSection(u64),
    /// Sections out of order or repeated.
    #[error("header section {got} follows section {after}, expected increasing ids")]
    SectionOrder {
        /// The section found.
        got: u64,
        /// The section before it.
        after: u64,
    },
    /// A required section is missing.
    #[error("the header has no {0} section")]
    MissingSection(Field),
    /// Stored bytes that do not decode.
    #[error("corrupt data in {0}")]
    Corrupt(Field),
    /// Bytes follow the end of the member.
    #[error("trailing data after the end of the compressed stream")]
    TrailingData,
}

/// Errors of the bits-back chain and of the models it codes with.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A model or chain quantity outside its range.
    #[error("{what} is {got}, expected {min}..={max}")]
    OutOfRange {
        /// What it is.
        what: &'static str,
        /// Value found.
        got: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Two quantities that must agree do not.
    #[error("{what} is {got}, expected {expected}")]
    Mismatch {
        /// What it is.
        what: &'static str,
        /// Value found.
        got: u64,
        /// Value required.
        expected: u64,
    },
    /// A posterior the chain cannot code with.
    #[error("posterior {posterior} is not available for a {latent} latent, expected {expected}")]
    Posterior {
        /// The posterior given.
        posterior: &'static str,
        /// The latent's kind.
        latent: &'static str,
        /// What the chain takes.
        expected: &'static str,
    },
    /// The prior gives a latent zero probability.
    #[error("the prior gives latent {0} zero probability, expected every latent to have nonzero probability")]
    ZeroPrior(usize),
    /// A likelihood with the wrong number of distributions for its block.
    #[error("likelihood returned {got} distributions for a block of {len}, expected 1 or {len}")]
    LikelihoodCount {
        /// Distributions returned.
        got: usize,
        /// Symbols in the block.
        len: usize,
    },
    /// A weights file that does not load.
    #[error("mnist model weights: {0}")]
    Weights(#[from] WeightsError),
    /// A symbol has zero probability under the model for the latent that was coded.
    #[error("symbol {symbol} at block {block}, position {position} has zero probability under latent {latent}, expected every occurring symbol to have nonzero probability under every latent")]
    ImpossibleSymbol {
        /// Block index.
        block: usize,
        /// Position in the block.
        position: usize,
        /// Symbol value.
        symbol: usize,
        /// Latent value.
        latent: usize,
    },
    /// The compressed words do not decode to a complete, consistent stream.
    #[error("corrupt compressed data: {0}")]
    Corrupt(&'static str),
    /// The file names a model whose weights are not the ones given.
    #[error("the file was coded with {model} model {stored:016x}, these weights are {given:016x} (pass the right --weights)")]
    WrongWeights {
        /// The model's name.
        model: &'static str,
        /// Hash recorded in the file.
        stored: u64,
        /// Hash of the weights given.
        given: u64,
    },
}

/// Why a weights file (`.bbim`) does not load.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightsError {
    /// Not a weights file.
    #[error("not a bbcodec image model file (magic BBIM expected)")]
    Magic,
    /// A version this build does not read.
    #[error("version is {0}, expected 1")]
    Version(u8),
    /// A shape field outside the supported range.
    #[error("{field} is {got}, expected {min}..={max}")]
    Shape {
        /// The shape field.
        field: &'static str,
        /// Value found.
        got: u64,
        /// Smallest supported.
        min: u64,
        /// Largest supported.
        max: u64,
    },
    /// The file's length does not match its shape.
    #[error("{got} bytes, expected {expected} for the declared shape")]
    Length {
        /// Bytes found.
        got: u64,
        /// Bytes the shape needs.
        expected: u64,
    },
    /// A layer stored in the other of the two storage kinds.
    #[error("layer {layer} has storage kind {kind}, which does not match its size")]
    StorageKind {
        /// Layer index.
        layer: usize,
        /// Kind byte found.
        kind: u8,
    },
    /// A weight, scale or bias that is not finite.
    #[error("layer {0} holds a non-finite weight, scale or bias")]
    NonFinite(usize),
    /// Layers that do not have the model's shape.
    #[error("layer {0} does not have the shape the model declares")]
    LayerShape(usize),
    /// Training without images.
    #[error("training needs at least one image of 784 pixels, got {0} images")]
    NoImages(usize),
}

/// Why an input is not what the model codes (an IDX file of 28x28 images).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// Shorter than a header.
    #[error("not an IDX image file: {0} bytes, shorter than the 16-byte header")]
    Short(usize),
    /// A gzip stream that does not decompress.
    #[error("gzip-compressed input does not decompress: {0}")]
    Gzip(GzipError),
    /// Wrong magic.
    #[error("not an uncompressed IDX image file: magic {0:02x?}, expected 00 00 08 03 (gunzip .gz files first)")]
    Magic([u8; 4]),
    /// Not 28x28.
    #[error("IDX images are {rows}x{cols}, the mnist model codes 28x28 images")]
    Size {
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
    },
    /// The pixel bytes do not match the declared count.
    #[error("IDX header declares {declared} images but the file holds {bytes} pixel bytes ({expected} expected)")]
    Length {
        /// Declared images.
        declared: u32,
        /// Pixel bytes present.
        bytes: u64,
        /// Pixel bytes expected.
        expected: u64,
    },
}

/// The cause of a gzip stream failing to decompress (an I/O error kind, kept
/// comparable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GzipError(pub io::ErrorKind);

impl fmt::Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", io::Error::from(self.0))
    }
}

/// A model option given a value it does not take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionError {
    /// The model takes no such option.
    #[error("--{option} does not apply to the {model} model (its options: {options})")]
    Unknown {
        /// The option's name.
        option: String,
        /// The model's name.
        model: &'static str,
        /// The options the model takes.
        options: String,
    },
    /// The value does not parse or is out of range.
    #[error("--{option} is '{got}', expected {expected}")]
    Value {
        /// The option's name.
        option: &'static str,
        /// The value given.
        got: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// `bbcodec train` with a model that is fitted per chunk.
    #[error("--model is {model}, which is fitted per chunk and has no weights to train")]
    NotTrainable {
        /// The model's name.
        model: &'static str,
    },
    /// A count outside its range (e.g. `train --first`).
    #[error("--{option} is {got}, expected {min}..={max}")]
    Range {
        /// The option's name.
        option: &'static str,
        /// The value given.
        got: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// The option names a file that cannot be read.
    #[error("--{option}: {path}: {}", io::Error::from(*kind))]
    Unreadable {
        /// The option's name.
        option: &'static str,
        /// The path given.
        path: String,
        /// What reading it gave.
        kind: io::ErrorKind,
    },
    /// The option names a file that does not load as what it must be.
    #[error("--{option}: {path}: {source}")]
    Unloadable {
        /// The option's name.
        option: &'static str,
        /// The path given.
        path: String,
        /// Why it does not load.
        source: CodecError,
    },
}

/// Top-level error of the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The container is malformed, or an option cannot be stored.
    #[error("{0}")]
    Format(#[from] FormatError),
    /// The bits-back chain failed.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// The input is not what the model codes (e.g. not an IDX image file).
    #[error("{0}")]
    Input(#[from] InputError),
    /// A model option is wrong.
    #[error("{0}")]
    Option(#[from] OptionError),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}
