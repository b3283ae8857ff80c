//! # bbcodec
//!
//! Lossless compression by **bits-back coding on an ANS stack** with a latent-variable
//! model `P(z) P(x | z)`, fitting the variational posterior `Q(z | x)` of every block by
//! **black-box variational inference** (or enumerating it where the latent allows: the
//! mixture's default), and **measuring** the result: the empirical net bit rate against
//! `-ELBO`, and the overhead over `-log2 P(x)` against the predicted `KL(Q || P(z | x))`.
//!
//! Layers (data flows one way, each imports only those below it):
//!
//! * [`analysis`]: side-by-side runs of every posterior, and plots;
//! * [`codec`]: whole files, chunks, threads, streaming, the [`RateReport`];
//! * [`container`]: the byte layout (format version 2, and version 1 read only);
//! * [`model`]: the built-in file models ([`model::FileModel`], listed in
//!   [`model`]) and the reference models;
//! * [`chain`]: the bits-back chains on one ANS stack ([`DiscreteBitsBackCoder`],
//!   [`ContinuousBitsBackCoder`]) and the model traits they code with;
//! * [`inference`]: posterior fits (BBVI estimators, Adam, exact, MAP) and traces;
//! * [`report`]: rate accounting and the seed's three ELBO forms;
//! * leaves: [`categorical`], [`math`], [`rng`], [`wire`], [`error`].
//!
//! ```
//! let data = b"abracadabra, abracadabra, abracadabra!".repeat(50);
//! let (file, report) = bbcodec::compress(&data, &Default::default()).unwrap();
//! let (back, _) = bbcodec::decompress(&file, &Default::default()).unwrap();
//! assert_eq!(back, data);
//! assert_eq!(report.input_bytes, data.len() as u64);
//! assert!(report.compressed_bytes < data.len() as u64);
//! ```
#![deny(missing_docs)]

pub mod analysis;
pub mod categorical;
pub mod chain;
pub mod codec;
pub mod container;
pub mod error;
pub mod inference;
pub mod math;
pub mod model;
pub mod report;
pub mod rng;
pub mod wire;

pub use chain::{
    ContinuousBitsBackCoder, ContinuousConfig, DecodedChunk, DiscreteBitsBackCoder, EncodedChunk,
};
pub use codec::{
    compress, decode_members, decode_stream, decompress, encode_stream, list_members,
    DecodeOptions, DecodedMembers, EncodeOptions, MemberInfo,
};
pub use error::{CodecError, Error, Field, FormatError, InputError, OptionError};
pub use inference::{Estimator, FitConfig, PosteriorKind};
pub use model::{ModelConfig, ModelKind};
pub use report::{BlockRecord, RateReport};
