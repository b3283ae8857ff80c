//! Latent-variable models `P(z) P(x | z)`: what the bits-back chain codes with.
//!
//! A model is an exactly invertible entropy model for the latent (the prior) and for each
//! observed symbol given the latent (the likelihood), plus the log densities that the
//! posterior fit and the rate accounting read: the traits [`DiscreteLatentModel`] and
//! [`ContinuousLatentModel`] of [`crate::chain`], re-exported here. Implement one to
//! code your own symbol streams (alphabets up to 2^16 symbols) with bits-back.
//!
//! The built-in models of the file codec each live in a folder of their own and answer
//! the file codec's questions through [`FileModel`]. This module is the one place that
//! lists them: adding a model means its folder, a `pub mod` line, and a variant of
//! [`ModelKind`] and of [`ModelConfig`] here (the compiler then points at every match
//! below). Its options and its line of `--model` help come from the model itself.

pub mod cm;
pub mod continuous;
pub mod file_model;
pub mod linear_gaussian;
pub mod logistic;
pub mod mixture;
pub mod mnist;

pub use crate::chain::{BlockLikelihood, ContinuousLatentModel, DiscreteLatentModel};
pub use cm::CmConfig;
pub use file_model::{Coding, FileModel, LatentKind, ModelOption};
pub use linear_gaussian::LinearGaussian;
pub use logistic::{LogisticConfig, LogisticModel};
pub use mixture::{MixtureConfig, MixtureFitOptions, MixtureModel, MixtureParams};
pub use mnist::{MnistConfig, MnistModel};

/// Which latent-variable model a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelKind {
    /// Mixture of K categoricals over blocks of bytes.
    Mixture,
    /// Continuous latent, bytes i.i.d. given it with `softmax(b + W z)`.
    Logistic,
    /// The trained 28x28 image model ([`crate::model::mnist`]) over IDX image files.
    Mnist,
    /// Bitwise context mixing with history and a continuous latent per block.
    Cm,
}

impl ModelKind {
    /// Every kind, in code order.
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Mixture,
        ModelKind::Logistic,
        ModelKind::Mnist,
        ModelKind::Cm,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mixture => "mixture",
            ModelKind::Logistic => "logistic",
            ModelKind::Mnist => "mnist",
            ModelKind::Cm => "cm",
        }
    }

    /// Parse a name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Number stored in the container (version 1: the model byte; version 2: the model
    /// section's first varint).
    pub fn code(self) -> u64 {
        match self {
            ModelKind::Mixture => 0,
            ModelKind::Logistic => 1,
            ModelKind::Mnist => 2,
            ModelKind::Cm => 3,
        }
    }

    /// Inverse of [`ModelKind::code`].
    pub fn from_code(c: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == c)
    }

    /// The kind's default configuration.
    pub fn default_config(self) -> ModelConfig {
        match self {
            ModelKind::Mixture => ModelConfig::Mixture(MixtureConfig::default()),
            ModelKind::Logistic => ModelConfig::Logistic(LogisticConfig::default()),
            ModelKind::Mnist => ModelConfig::Mnist(MnistConfig::default()),
            ModelKind::Cm => ModelConfig::Cm(CmConfig::default()),
        }
    }
}

/// One configured model: its kind and its own fields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ModelConfig {
    /// `--model mixture`.
    Mixture(MixtureConfig),
    /// `--model logistic`.
    Logistic(LogisticConfig),
    /// `--model mnist`.
    Mnist(MnistConfig),
    /// `--model cm`.
    Cm(CmConfig),
}

/// The context-mixing model: the default for files.
impl Default for ModelConfig {
    fn default() -> Self {
        ModelKind::Cm.default_config()
    }
}

impl ModelConfig {
    /// The kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Mixture(_) => ModelKind::Mixture,
            ModelConfig::Logistic(_) => ModelKind::Logistic,
            ModelConfig::Mnist(_) => ModelKind::Mnist,
            ModelConfig::Cm(_) => ModelKind::Cm,
        }
    }

    /// The model, for the questions of [`FileModel`].
    pub fn model(&self) -> &dyn FileModel {
        match self {
            ModelConfig::Mixture(m) => m,
            ModelConfig::Logistic(m) => m,
            ModelConfig::Mnist(m) => m,
            ModelConfig::Cm(m) => m,
        }
    }

    /// The model, to set options or read a header into.
    pub fn model_mut(&mut self) -> &mut dyn FileModel {
        match self {
            ModelConfig::Mixture(m) => m,
            ModelConfig::Logistic(m) => m,
            ModelConfig::Mnist(m) => m,
            ModelConfig::Cm(m) => m,
        }
    }
}

/// Every option of every kind, each name once, in kind order: what a command line
/// offers. An option two kinds declare with different help lines shows both, joined
/// by `; `.
pub fn model_options() -> Vec<(file_model::ModelOption, String)> {
    let mut out: Vec<(file_model::ModelOption, String)> = Vec::new();
    for kind in ModelKind::ALL {
        for o in kind.default_config().model().options() {
            match out.iter_mut().find(|(p, _)| p.name == o.name) {
                Some((p, help)) => {
                    if p.help != o.help && !help.contains(o.help) {
                        help.push_str("; ");
                        help.push_str(o.help);
                    }
                }
                None => out.push((*o, o.help.to_string())),
            }
        }
    }
    out
}

/// Set the options given as `(name, value)` on `config`, in the model's order; an
/// option the model does not take is an error.
pub fn apply_options(
    config: &mut ModelConfig,
    given: &[(&str, String)],
) -> Result<(), crate::error::OptionError> {
    for (name, _) in given {
        if !config.model().options().iter().any(|o| o.name == *name) {
            return Err(file_model::unknown_option(config.model(), name));
        }
    }
    for o in config.model().options() {
        if let Some((_, v)) = given.iter().find(|(n, _)| *n == o.name) {
            config.model_mut().set_option(o.name, v)?;
        }
    }
    Ok(())
}

/// For decoding: a configuration of each kind that takes one of the given
/// decode-time options, with them set.
pub fn decode_configs(
    given: &[(&str, String)],
) -> Result<Vec<ModelConfig>, crate::error::OptionError> {
    let mut out = Vec::new();
    for kind in ModelKind::ALL {
        let mut c = kind.default_config();
        let mine: Vec<(&str, String)> = given
            .iter()
            .filter(|(n, _)| c.model().options().iter().any(|o| o.decode && o.name == *n))
            .cloned()
            .collect();
        if !mine.is_empty() {
            apply_options(&mut c, &mine)?;
            out.push(c);
        }
    }
    Ok(out)
}
