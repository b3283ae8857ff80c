//! The logistic model as a file model: its options, defaults, header section and
//! chunk coding.

use super::{LogisticModel, LogisticParams, MAX_LATENT_DIM};
use crate::chain::bins::{MAX_BIN_BITS, MIN_BIN_BITS};
use crate::chain::ContinuousBitsBackCoder;
use crate::error::{Error, Field, FormatError, OptionError};
use crate::inference::trace::{Trace, TRACE_BLOCKS};
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::continuous::{
    chain_config, check_bin_bits, check_continuous_fit, parse_bin_bits, reparam_traces,
    BIN_BITS_OPTION, POSTERIORS, ROWS,
};
use crate::model::file_model::{
    blocks_of, check_posterior, not_trainable, parse_option, unknown_option, Arm, CodedChunk,
    Coding, DecodedModelChunk, Defaults, FileModel, Framing, LatentKind, ModelOption,
    TrainSettings, Trained,
};
use crate::wire::{check_range, put_varint, SliceReader};

/// `--model logistic`: a continuous latent `z ~ N(0, I_d)` per block, bytes i.i.d. with
/// `softmax(b + W z)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogisticConfig {
    /// Latent dimension `d` (1..=32).
    pub latent_dim: u8,
    /// Bits per latent bin index: `2^bin_bits` equal-mass bins per dimension.
    pub bin_bits: u8,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self {
            latent_dim: 4,
            bin_bits: 10,
        }
    }
}

const OPTIONS: &[ModelOption] = &[
    ModelOption {
        name: "latent-dim",
        value: "D",
        help: "logistic model: latent dimension (1..=32, default 4)",
        decode: false,
    },
    BIN_BITS_OPTION,
];

/// The fit of the logistic model: 64 Adam steps of 4 reparameterized draws, step 0.1.
///
/// These are also the kind's format defaults, frozen with format version 2: to change
/// what the encoder picks, give `defaults` a value of its own and leave these.
fn kind_defaults() -> Defaults {
    Defaults {
        coding: Coding {
            fit: FitConfig {
                posterior: PosteriorKind::Bbvi(Estimator::Reparameterization),
                iterations: 64,
                samples: 4,
                learning_rate: 0.1,
                ..FitConfig::default()
            },
            block_size: 512,
            iwae_samples: 0,
        },
        chunk_size: 1 << 18,
    }
}

impl FileModel for LogisticConfig {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn description(&self) -> &'static str {
        "logistic: a continuous latent z ~ N(0, I_d) per block, bytes i.i.d. with softmax(b + W z)"
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
            "latent-dim" => {
                self.latent_dim =
                    parse_option("latent-dim", value, 1, MAX_LATENT_DIM as u64, "1..=32")?
            }
            "bin-bits" => self.bin_bits = parse_bin_bits(value)?,
            _ => return Err(unknown_option(self, name)),
        }
        Ok(())
    }

    fn posteriors(&self) -> &'static [PosteriorKind] {
        POSTERIORS
    }

    fn validate(&self, coding: &Coding, _chunk_size: Option<u32>) -> Result<(), FormatError> {
        check_range(
            Field::ModelOption("latent-dim"),
            self.latent_dim as u64,
            1,
            MAX_LATENT_DIM as u64,
        )?;
        check_bin_bits(self.bin_bits)?;
        check_posterior(self, coding)?;
        check_continuous_fit(coding, self.latent_dim as u64)
    }

    /// Empty for the defaults (d = 4, 10 bin bits); else `varint d, varint bin_bits`.
    fn write_config(&self, out: &mut Vec<u8>) {
        if *self != Self::default() {
            put_varint(out, self.latent_dim as u64);
            put_varint(out, self.bin_bits as u64);
        }
    }

    fn read_config(&mut self, bytes: &[u8]) -> Result<(), Error> {
        *self = Self::default();
        if bytes.is_empty() {
            return Ok(());
        }
        let mut r = SliceReader::new(bytes);
        self.latent_dim =
            r.varint_in(Field::ModelOption("latent-dim"), 1, MAX_LATENT_DIM as u64)? as u8;
        self.bin_bits = r.varint_in(
            Field::ModelOption("bin-bits"),
            MIN_BIN_BITS as u64,
            MAX_BIN_BITS as u64,
        )? as u8;
        r.finish(Field::ModelConfig)?;
        Ok(())
    }

    fn read_v1_config(&mut self, fields: [u8; 4]) -> Result<(), Error> {
        self.latent_dim = fields[2];
        self.bin_bits = fields[3];
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
        _parallel: bool,
    ) -> Result<CodedChunk, Error> {
        let symbols = &crate::model::file_model::symbols_of(data)[..];
        let blocks: Vec<&[u16]> = symbols.chunks(coding.block_size as usize).collect();
        let model = LogisticModel::fit(&blocks, self.latent_dim as usize);
        let chain = ContinuousBitsBackCoder::new(
            &model,
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?
        .encode(symbols, index)?;
        Ok(CodedChunk {
            params: model.params().encode(),
            chain: chain.into(),
            latents: self.latent_dim as u64,
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
        let model =
            LogisticModel::from_params(LogisticParams::decode(params, self.latent_dim as usize)?);
        let chain = ContinuousBitsBackCoder::new(
            &model,
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?
        .with_accounting(accounting)
        .decode(words, len, bootstrap_blocks, index)?;
        Ok(DecodedModelChunk::from_symbols(
            chain,
            self.latent_dim as u64,
        )?)
    }

    fn analysis_rows(&self) -> (&'static [Arm], &'static str) {
        (ROWS, "reparam")
    }

    fn traces(&self, first_chunk: &[u8], coding: &Coding) -> Result<Vec<Trace>, Error> {
        let blocks = blocks_of(first_chunk, coding.block_size);
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
        let model = LogisticModel::fit(&refs, self.latent_dim as usize);
        Ok(vec![reparam_traces(
            &model,
            &blocks,
            coding,
            false,
            TRACE_BLOCKS,
        )])
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
