//! Error types, one enum per layer.

use std::io;

/// Errors of the file format layer (container and stored parameters).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ends before a field that must be present.
    #[error("truncated: input ends inside {0}")]
    Truncated(&'static str),
    /// The magic bytes are not bbcodec's.
    #[error("not a bbcodec file (magic is {got:02x?}, expected {expected:02x?})")]
    BadMagic {
        /// Bytes found.
        got: [u8; 4],
        /// Bytes expected.
        expected: [u8; 4],
    },
    /// The format version is not one this build reads.
    #[error("format version is {got}, expected {expected}")]
    Version {
        /// Version found.
        got: u8,
        /// Version this build reads.
        expected: u8,
    },
    /// A field holds a value that is not allowed.
    #[error("{what} is {got}, which is not a valid value")]
    Invalid {
        /// Field name.
        what: &'static str,
        /// Value found.
        got: u64,
    },
    /// A size field exceeds its limit.
    #[error("{what} is {got}, expected at most {max}")]
    Limit {
        /// Field name.
        what: &'static str,
        /// Value found.
        got: u64,
        /// Limit.
        max: u64,
    },
    /// A checksum does not match.
    #[error("checksum mismatch in {what}: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// What the checksum covers.
        what: &'static str,
        /// Stored value.
        stored: u32,
        /// Recomputed value.
        computed: u32,
    },
    /// Data that cannot be decoded.
    #[error("corrupt data in {0}")]
    Corrupt(&'static str),
    /// Bytes follow the end record.
    #[error("trailing data after the end of the compressed stream")]
    TrailingData,
}

/// Errors of the bits-back chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The model and the data do not fit together.
    #[error("model mismatch: {0}")]
    Model(String),
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
    /// An invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Top-level error of the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The container is malformed.
    #[error("{0}")]
    Format(#[from] FormatError),
    /// The bits-back chain failed.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// The input is not what the model codes (e.g. not an IDX image file).
    #[error("{0}")]
    Idx(#[from] crate::idx::IdxError),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}
