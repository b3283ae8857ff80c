//! The mixture as a file model: its options, defaults, header section and chunk coding.

use super::{decode_params, encode_params, MixtureFitOptions, MixtureModel, MAX_COMPONENTS};
use crate::chain::{DiscreteBitsBackCoder, DiscreteLatentModel};
use crate::error::{Error, Field, FormatError, OptionError};
use crate::inference::trace::Trace;
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::file_model::{
    blocks_of, check_posterior, check_work, not_trainable, parse_option, unknown_option, Arm,
    CodedChunk, Coding, DecodedModelChunk, Defaults, FileModel, Framing, LatentKind, ModelOption,
    TrainSettings, Trained,
};
use crate::wire::{check_range, put_varint, SliceReader};

/// Largest BBVI work per symbol, `iterations * samples / block_size` (bounds the
/// decoder's time: it repeats every fit).
pub const MAX_WORK_PER_SYMBOL: u64 = 256;

/// Alphabet of the file model: bytes.
const ALPHABET: usize = 256;

/// `--model mixture`: K categoricals over blocks of bytes, a discrete latent per block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MixtureConfig {
    /// Largest number of components tried when K is chosen by size (1..=64).
    pub max_components: u8,
    /// Use exactly this many components (None: choose by size).
    pub fixed_components: Option<u8>,
}

impl Default for MixtureConfig {
    fn default() -> Self {
        Self {
            max_components: 32,
            fixed_components: None,
        }
    }
}

impl MixtureConfig {
    fn fit_options(&self, parallel: bool) -> MixtureFitOptions {
        MixtureFitOptions {
            parallel,
            max_components: self.max_components as usize,
            fixed_components: self.fixed_components.map(|k| k as usize),
            ..Default::default()
        }
    }
}

const OPTIONS: &[ModelOption] = &[
    ModelOption {
        name: "components",
        value: "K",
        help: "mixture: use exactly K components (1..=64)",
        decode: false,
    },
    ModelOption {
        name: "max-components",
        value: "K",
        help: "mixture: largest number of components tried when K is chosen by size (1..=64, default 32)",
        decode: false,
    },
];

const POSTERIORS: &[PosteriorKind] = &[
    PosteriorKind::Exact,
    PosteriorKind::Map,
    PosteriorKind::Bbvi(Estimator::ScoreFunction),
    PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
    PosteriorKind::Bbvi(Estimator::Naive),
    PosteriorKind::Bbvi(Estimator::GumbelSoftmax),
];

const ROWS: &[Arm] = &[
    Arm::new("map", PosteriorKind::Map),
    Arm::new("naive", PosteriorKind::Bbvi(Estimator::Naive)),
    Arm::new(
        "score-eq8",
        PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
    ),
    Arm::new("gumbel", PosteriorKind::Bbvi(Estimator::GumbelSoftmax)),
    Arm::new("score", PosteriorKind::Bbvi(Estimator::ScoreFunction)),
    Arm::new("exact", PosteriorKind::Exact),
];

/// The mixture's latent is enumerable: exact by default (KL = 0, no per-block fit on
/// either side). `--posterior bbvi` fits with `FitConfig::default()`'s iterations and
/// samples.
///
/// These are also the kind's format defaults, frozen with format version 2: to change
/// what the encoder picks, give `defaults` a value of its own and leave these.
fn kind_defaults() -> Defaults {
    Defaults {
        coding: Coding {
            fit: FitConfig {
                posterior: PosteriorKind::Exact,
                ..FitConfig::default()
            },
            block_size: 64,
            iwae_samples: 0,
        },
        // 256 KiB: a 1 MB file is four chunks, decoded in parallel (the decoder is
        // sequential within a chunk), at < 1% in parameters and chunk starts.
        chunk_size: 1 << 18,
    }
}

fn check_count(field: Field, k: u8) -> Result<(), FormatError> {
    check_range(field, k as u64, 1, MAX_COMPONENTS as u64)
}

impl FileModel for MixtureConfig {
    fn name(&self) -> &'static str {
        "mixture"
    }

    fn description(&self) -> &'static str {
        "mixture: K categoricals over 64-byte blocks of bytes, a discrete latent per block (K chosen per chunk; the exact-posterior oracle)"
    }

    fn latent(&self) -> LatentKind {
        LatentKind::Discrete
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
            "components" => {
                let k: u8 = parse_option("components", value, 1, MAX_COMPONENTS as u64, "1..=64")?;
                self.fixed_components = Some(k);
                self.max_components = self.max_components.max(k);
            }
            "max-components" => {
                self.max_components =
                    parse_option("max-components", value, 1, MAX_COMPONENTS as u64, "1..=64")?
            }
            _ => return Err(unknown_option(self, name)),
        }
        Ok(())
    }

    fn posteriors(&self) -> &'static [PosteriorKind] {
        POSTERIORS
    }

    fn validate(&self, coding: &Coding, _chunk_size: Option<u32>) -> Result<(), FormatError> {
        check_count(Field::ModelOption("max-components"), self.max_components)?;
        if let Some(k) = self.fixed_components {
            check_count(Field::ModelOption("components"), k)?;
        }
        check_posterior(self, coding)?;
        if let PosteriorKind::Bbvi(_) = coding.fit.posterior {
            if coding.fit.samples < 2 {
                return Err(FormatError::TooSmall {
                    field: Field::Samples,
                    got: coding.fit.samples as u64,
                    min: 2,
                });
            }
            check_work(
                coding.fit.iterations as u64 * coding.fit.samples as u64 / coding.block_size as u64,
                MAX_WORK_PER_SYMBOL,
            )?;
        }
        Ok(())
    }

    /// Empty for the defaults (32, chosen by size); else `varint max_components,
    /// varint fixed_components` (0 = chosen by size).
    fn write_config(&self, out: &mut Vec<u8>) {
        if *self != Self::default() {
            put_varint(out, self.max_components as u64);
            put_varint(out, self.fixed_components.unwrap_or(0) as u64);
        }
    }

    fn read_config(&mut self, bytes: &[u8]) -> Result<(), Error> {
        *self = Self::default();
        if bytes.is_empty() {
            return Ok(());
        }
        let mut r = SliceReader::new(bytes);
        let max = MAX_COMPONENTS as u64;
        self.max_components = r.varint_in(Field::ModelOption("max-components"), 1, max)? as u8;
        let fixed = r.varint_in(Field::ModelOption("components"), 0, max)? as u8;
        self.fixed_components = (fixed > 0).then_some(fixed);
        r.finish(Field::ModelConfig)?;
        Ok(())
    }

    fn read_v1_config(&mut self, fields: [u8; 4]) -> Result<(), Error> {
        if fields[2] != 0 || fields[3] != 0 {
            return Err(FormatError::Invalid {
                field: Field::ModelConfig,
                got: ((fields[2] as u64) << 8) | fields[3] as u64,
            }
            .into());
        }
        self.max_components = fields[0];
        self.fixed_components = (fields[1] > 0).then_some(fields[1]);
        Ok(())
    }

    fn v1_chunk_params(&self, params: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(params)
    }

    fn framing(&self) -> Option<&dyn Framing> {
        None
    }

    fn prepare(&self) -> Result<(), Error> {
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
        let bs = coding.block_size as usize;
        let blocks: Vec<&[u16]> = symbols.chunks(bs).collect();
        // The fit's candidates and E-step shards, and the per-block posterior fits, go
        // to the pool whenever there are threads: while other chunks keep every thread
        // busy they run in place, and at the end of a batch the threads that are done
        // help with the chunks still running.
        let model = MixtureModel::fit(&blocks, ALPHABET, &self.fit_options(parallel));
        let chain = DiscreteBitsBackCoder::new(&model, bs, coding.fit)
            .with_parallel_fits(parallel)
            .encode(symbols, index)?;
        Ok(CodedChunk {
            params: encode_params(model.params()),
            chain: chain.into(),
            latents: model.num_latents() as u64,
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
        let model = MixtureModel::from_params(decode_params(params, ALPHABET)?)?;
        let chain = DiscreteBitsBackCoder::new(&model, coding.block_size as usize, coding.fit)
            .with_accounting(accounting)
            .decode(words, len, bootstrap_blocks, index)?;
        Ok(DecodedModelChunk::from_symbols(
            chain,
            model.num_latents() as u64,
        )?)
    }

    fn analysis_rows(&self) -> (&'static [Arm], &'static str) {
        (ROWS, "score")
    }

    fn traces(&self, first_chunk: &[u8], coding: &Coding) -> Result<Vec<Trace>, Error> {
        let blocks = blocks_of(first_chunk, coding.block_size);
        Ok(super::traces::traces(
            &blocks,
            &self.fit_options(true),
            &coding.fit,
        ))
    }
    fn train(
        &self,
        _input: &[u8],
        _settings: &TrainSettings,
        _log: &mut dyn FnMut(&str),
    ) -> Result<Trained, Error> {
        Err(not_trainable(self))
    }
}
