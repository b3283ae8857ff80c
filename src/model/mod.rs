//! Latent-variable models `P(z) P(x | z)`: what the bits-back chain codes with.
//!
//! A model is an exactly invertible entropy model for the latent (the prior) and for each
//! observed symbol given the latent (the likelihood), plus the log densities that the
//! posterior fit and the rate accounting read: the traits [`DiscreteLatentModel`] and
//! [`ContinuousLatentModel`] of [`crate::chain`], re-exported here. Implement one to
//! code your own symbol streams (alphabets up to 2^16 symbols) with bits-back.
//!
//! The built-in models of the file codec each live in a folder of their own and answer
//! the file codec's questions through [`FileModel`]; [`registry`] lists them.

pub mod continuous;
pub mod file_model;
pub mod linear_gaussian;
pub mod logistic;
pub mod mixture;
pub mod mnist;
pub mod registry;

pub use crate::chain::{BlockLikelihood, ContinuousLatentModel, DiscreteLatentModel};
pub use file_model::{Coding, FileModel, LatentKind, ModelOption};
pub use linear_gaussian::LinearGaussian;
pub use logistic::{LogisticConfig, LogisticModel};
pub use mixture::{MixtureConfig, MixtureFitOptions, MixtureModel, MixtureParams};
pub use mnist::{MnistConfig, MnistModel};
pub use registry::{ModelConfig, ModelKind};
