//! The context-mixing model as a file model (`--model cm`): its options, defaults,
//! header section and chunk coding on the history chain.

use super::latent::{CmChain, MAX_LATENT_DIM};
use super::{Predictor, Spec, FULL, LEAN, RECORD_SPEC, SPARSE_SPEC};
use crate::chain::bins::{MAX_BIN_BITS, MIN_BIN_BITS};
use crate::chain::{ChainSegment, HistoryBitsBackCoder};
use crate::error::{Error, Field, FormatError, OptionError};
use crate::inference::trace::Trace;
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::continuous::{
    chain_config, check_bin_bits, check_samples, parse_bin_bits, BIN_BITS_OPTION,
};
use crate::model::file_model::{
    check_posterior, check_work, not_trainable, parse_option, unknown_option, Arm, CodedChunk,
    Coding, DecodedModelChunk, Defaults, FileModel, Framing, LatentKind, ModelOption,
    TrainSettings, Trained,
};
use crate::wire::{check_range, put_varint, SliceReader};

/// Smallest and largest table size (bits of slots per context table).
pub const TABLE_BITS: std::ops::RangeInclusive<u8> = 10..=24;

/// Largest fit work per block a header may ask for, `iterations * samples * d`: a
/// likelihood evaluation sums over at most 8,190 histogram entries, so this bounds the
/// decoder's time per block (it repeats every fit), and at least 64-byte blocks bound
/// it per byte.
pub const MAX_WORK_PER_BLOCK: u64 = 4096;

/// Most blocks per ANS segment: the encoder keeps one segment's statistics (2 bytes
/// per bit), 4 MiB for 256 KiB of 4 KiB blocks, however large the chunk.
pub const SEGMENT_BLOCKS: usize = 64;

/// Most bytes per ANS segment (a whole block at least): 8 MiB of statistics.
pub const SEGMENT_BYTES: usize = 512 << 10;

/// Blocks per segment for blocks of `block_size` bytes: [`SEGMENT_BLOCKS`], or fewer
/// where they would pass [`SEGMENT_BYTES`]. (Only the encoder chooses: each segment's
/// record says how many blocks it holds.)
pub fn segment_blocks(block_size: usize) -> usize {
    (SEGMENT_BYTES / block_size.max(1)).clamp(1, SEGMENT_BLOCKS)
}

/// Smallest block a file may declare.
pub const MIN_BLOCK: u32 = 64;

/// `--model cm`: a bitwise context-mixing predictor with history across the chunk,
/// and a continuous latent per block offsetting its final logit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmConfig {
    /// Latent dimension (0: no latent; 1: a bias per block; 2: bias and confidence).
    pub latent_dim: u8,
    /// Bits per latent bin index.
    pub bin_bits: u8,
    /// The level, `1..=9` (see `LEVELS` in this module): what the predictor mixes and its table size.
    pub level: u8,
    /// Largest table size instead of the level's: `2^table_bits` slots per context
    /// table (fewer for a smaller chunk); 0: the level's.
    pub table_bits: u8,
    /// The predictor's revision, stored in every file so that each build decodes the
    /// files of every earlier one with the predictor they were written with (and
    /// refuses a later one's): 0, without the JPEG model; 1, with it; 2, with a lean
    /// level 1 of orders 1, 3 and 6 (`LEVEL_1_REVISION_2`); 3, with a level 1 of
    /// orders 2 and 3, the word and a record context (`LEVEL_1_REVISION_3`); 4, with
    /// the level 1 of `LEVELS`, without the first APM, whose JPEG contexts keep to part
    /// of its tables (level 1 of revisions 0 and 1 is `LEVEL_1_BEFORE_REVISION_2`); 5,
    /// with levels 6 to 9 of `LEVELS`, which add two word contexts and the runs to
    /// `FULL_REVISION_4`, what they mixed before ([`CM_REVISION`], what this build
    /// writes). Levels 2 to 5 are the same in revisions 1 to 5.
    pub revision: u8,
}

/// The predictor revision this build writes.
pub const CM_REVISION: u8 = 5;

/// The default level.
pub const DEFAULT_LEVEL: u8 = 6;

impl Default for CmConfig {
    fn default() -> Self {
        Self {
            latent_dim: 2,
            bin_bits: 10,
            level: DEFAULT_LEVEL,
            revision: CM_REVISION,
            table_bits: 0,
        }
    }
}

/// One level: what the predictor mixes, and its largest table (`2^bits` slots of 4
/// bytes per context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Contexts, mixers and APMs.
    pub spec: Spec,
    /// Largest table size in bits.
    pub table_bits: u8,
}

/// Levels 1..=9 (index 0 is level 1). Contexts by index: orders 1, 2, 3, 4, 6, 8, 12
/// (0..=6), the word (7), sparse contexts (8, 9), the word bigram (10), the record
/// contexts (11..=13), the word with the one two before it (14), the word with the two
/// before it (15).
pub const LEVELS: [Level; 9] = [
    // The fast level.
    Level {
        spec: LEAN,
        table_bits: 20,
    },
    Level {
        spec: SPARSE_SPEC,
        table_bits: 20,
    },
    Level {
        spec: RECORD_SPEC,
        table_bits: 20,
    },
    Level {
        spec: FULL_REVISION_4,
        table_bits: 20,
    },
    Level {
        spec: FULL_REVISION_4,
        table_bits: 21,
    },
    Level {
        spec: FULL,
        table_bits: 21,
    },
    Level {
        spec: FULL,
        table_bits: 22,
    },
    Level {
        spec: FULL,
        table_bits: 23,
    },
    Level {
        spec: FULL,
        table_bits: 24,
    },
];

const OPTIONS: &[ModelOption] = &[
    ModelOption {
        name: "latent-dim",
        value: "D",
        help: "cm: latent dimension 0 (none), 1 (a bias per block) or 2 (bias and confidence, default)",
        decode: false,
    },
    BIN_BITS_OPTION,
    ModelOption {
        name: "level",
        value: "N",
        help: "cm: level 1 (fastest) ..= 9 (smallest output), default 6; also -1 ..= -9",
        decode: false,
    },
    ModelOption {
        name: "table-bits",
        value: "BITS",
        help: "cm: 2^BITS slots per context table at most, instead of the level's (10..=24)",
        decode: false,
    },
];

const POSTERIORS: &[PosteriorKind] = &[
    PosteriorKind::Bbvi(Estimator::Reparameterization),
    PosteriorKind::Bbvi(Estimator::ScoreFunction),
    PosteriorKind::ImportanceWeighted(crate::inference::DEFAULT_PARTICLES),
    PosteriorKind::CoupledImportanceWeighted(crate::inference::DEFAULT_PARTICLES),
    PosteriorKind::Map,
];

/// `analyze`'s arms: no latent (`z = 0`, no flag); `z` sent explicitly (MAP at its
/// bins, a two-part code); `z` coded bits-back with the Laplace posterior (no BBVI
/// step), with the BBVI fit on score-function gradients (4 draws per step, for
/// comparison), with the default fit, and with a fit of 10 times its iterations and 4
/// draws per step (how far the default is from converged), and importance-weighted
/// bits-back over the default fit with 4 and 16 particles.
const ROWS: &[Arm] = &[
    Arm {
        options: &[("latent-dim", "0")],
        ..Arm::new(
            "no-latent",
            PosteriorKind::Bbvi(Estimator::Reparameterization),
        )
    },
    Arm::new("map", PosteriorKind::Map),
    Arm {
        iterations: Some(0),
        ..Arm::new(
            "laplace",
            PosteriorKind::Bbvi(Estimator::Reparameterization),
        )
    },
    Arm {
        samples: Some(4),
        ..Arm::new("score", PosteriorKind::Bbvi(Estimator::ScoreFunction))
    },
    Arm::new(
        "reparam",
        PosteriorKind::Bbvi(Estimator::Reparameterization),
    ),
    Arm {
        iterations: Some(80),
        samples: Some(4),
        ..Arm::new(
            "reparam-10x",
            PosteriorKind::Bbvi(Estimator::Reparameterization),
        )
    },
    Arm::new("iw-4", PosteriorKind::ImportanceWeighted(4)),
    Arm::new("iw-16", PosteriorKind::ImportanceWeighted(16)),
];

/// The fit of the block latent: 8 Adam steps of one reparameterized draw from the
/// Laplace start, step 0.05; 4 KiB blocks; 4 MiB chunks.
///
/// These are also the kind's format defaults, frozen with format version 2.
fn kind_defaults() -> Defaults {
    Defaults {
        coding: Coding {
            fit: FitConfig {
                posterior: PosteriorKind::Bbvi(Estimator::Reparameterization),
                iterations: 8,
                samples: 1,
                learning_rate: 0.05,
                ..FitConfig::default()
            },
            block_size: 4096,
            iwae_samples: 0,
        },
        chunk_size: 1 << 22,
    }
}

/// The default block size at level 1 (the other levels': 4 KiB).
pub const LEVEL_1_BLOCK: u32 = 16384;

/// Level 1 of the predictor's revisions 0 and 1: orders 1-4 and 6 and the word, with
/// the APM over the last byte.
pub const LEVEL_1_BEFORE_REVISION_2: Level = Level {
    spec: Spec {
        contexts: &[0, 1, 2, 3, 4, 7],
        mixer2: false,
        apm0: true,
        apm1: true,
        apm2: false,
        worth: false,
        jpeg: true,
        jpeg_bits: 0,
        runs: 0,
        order1_bits: 0,
    },
    table_bits: 20,
};

/// Level 1 of the predictor's revision 2: orders 1, 3 and 6, one mixer, one APM
/// (frozen: spelled out rather than derived from today's [`LEAN`]).
pub const LEVEL_1_REVISION_2: Level = Level {
    spec: Spec {
        contexts: &[0, 2, 4],
        mixer2: false,
        apm0: true,
        apm1: false,
        apm2: false,
        worth: false,
        jpeg: true,
        jpeg_bits: 0,
        runs: 0,
        order1_bits: 0,
    },
    table_bits: 20,
};

/// Level 1 of the predictor's revision 3: today's contexts, with the first APM, and
/// JPEG contexts that may take any slot of their tables (frozen: spelled out).
pub const LEVEL_1_REVISION_3: Level = Level {
    spec: Spec {
        contexts: &[1, 2, 7, 11],
        mixer2: false,
        apm0: true,
        apm1: false,
        apm2: false,
        worth: false,
        jpeg: true,
        jpeg_bits: 0,
        runs: 0,
        order1_bits: 0,
    },
    table_bits: 20,
};

/// Levels 4 and 5's, and what levels 4 to 9 mixed before revision 5: the contexts up
/// to the record ones (indices 0 to 13), without the runs (frozen: spelled out).
pub const FULL_REVISION_4: Spec = Spec {
    contexts: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    mixer2: true,
    apm0: true,
    apm1: true,
    apm2: true,
    worth: true,
    jpeg: true,
    jpeg_bits: 0,
    runs: 0,
    order1_bits: 0,
};

impl CmConfig {
    /// The level's settings, as the file's revision defines them.
    pub fn level(&self) -> Level {
        let level = self.level.clamp(1, 9);
        let mut l = match (level, self.revision) {
            (1, 0 | 1) => LEVEL_1_BEFORE_REVISION_2,
            (1, 2) => LEVEL_1_REVISION_2,
            (1, 3) => LEVEL_1_REVISION_3,
            (6..=9, 0..=4) => Level {
                spec: FULL_REVISION_4,
                ..LEVELS[(level - 1) as usize]
            },
            _ => LEVELS[(level - 1) as usize],
        };
        l.spec.jpeg &= self.revision >= 1;
        l
    }

    /// The latent dimension of a chunk of `len` bytes: none for a chunk of one block,
    /// which is coded latent-free as the chain's start (so it stores no scales).
    fn chunk_latent_dim(&self, len: usize, coding: &Coding) -> usize {
        if len <= coding.block_size as usize {
            0
        } else {
            self.latent_dim as usize
        }
    }

    /// The table size of a chunk of `len` bytes.
    fn bits_for(&self, len: usize) -> u32 {
        let max = match self.table_bits {
            0 => self.level().table_bits,
            b => b,
        };
        Predictor::bits_for(len, max as u32)
    }

    /// A fresh model for a chunk of `len` bytes, a latent of `d` dimensions with the
    /// scales `scales` per segment (empty: the encoder chooses them).
    fn chain_model(&self, len: usize, d: usize, scales: Vec<Vec<f32>>) -> CmChain {
        CmChain::with_spec(self.bits_for(len), self.level().spec, d, scales)
    }
}

impl FileModel for CmConfig {
    fn name(&self) -> &'static str {
        "cm"
    }

    fn description(&self) -> &'static str {
        "cm: bitwise context mixing with history, a continuous latent per block offsetting its predictions (the default)"
    }

    fn latent(&self) -> LatentKind {
        LatentKind::Continuous {
            bin_bits: self.bin_bits as u32,
        }
    }

    /// The kind's defaults, with 16 KiB blocks at level 1: a quarter of the fits and
    /// posteriors per byte (8% of its encoder's instructions on mixed-1MiB) for the
    /// same size within a few bytes a file.
    fn defaults(&self) -> Defaults {
        let mut d = kind_defaults();
        if self.level == 1 {
            d.coding.block_size = LEVEL_1_BLOCK;
        }
        d
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
                    parse_option("latent-dim", value, 0, MAX_LATENT_DIM as u64, "0, 1 or 2")?
            }
            "bin-bits" => self.bin_bits = parse_bin_bits(value)?,
            "level" => self.level = parse_option("level", value, 1, 9, "1..=9")?,
            "table-bits" => {
                self.table_bits = parse_option(
                    "table-bits",
                    value,
                    *TABLE_BITS.start() as u64,
                    *TABLE_BITS.end() as u64,
                    "10..=24",
                )?
            }
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
            0,
            MAX_LATENT_DIM as u64,
        )?;
        check_bin_bits(self.bin_bits)?;
        check_range(Field::ModelOption("level"), self.level as u64, 1, 9)?;
        if self.table_bits != 0 {
            check_range(
                Field::ModelOption("table-bits"),
                self.table_bits as u64,
                *TABLE_BITS.start() as u64,
                *TABLE_BITS.end() as u64,
            )?;
        }
        check_posterior(self, coding)?;
        check_samples(coding)?;
        if coding.block_size < MIN_BLOCK {
            return Err(FormatError::TooSmall {
                field: Field::BlockSize,
                got: coding.block_size as u64,
                min: MIN_BLOCK as u64,
            });
        }
        // Importance weighting evaluates the likelihood once more per particle.
        check_work(
            (coding.fit.iterations as u64 * coding.fit.samples as u64
                + coding.fit.posterior.particles() as u64
                - 1)
                * self.latent_dim as u64,
            MAX_WORK_PER_BLOCK,
        )
    }

    /// `varint d, varint bin_bits, varint level, varint table_bits` (0: the level's),
    /// `varint revision`. Files of revision 0 carry no revision (and nothing at all
    /// for its defaults), so a build of revision 0 refuses later files (their section
    /// is longer than it reads) rather than decode them with the wrong predictor.
    fn write_config(&self, out: &mut Vec<u8>) {
        let r0 = Self {
            revision: 0,
            ..Self::default()
        };
        if *self != r0 {
            put_varint(out, self.latent_dim as u64);
            put_varint(out, self.bin_bits as u64);
            put_varint(out, self.level as u64);
            put_varint(out, self.table_bits as u64);
            if self.revision > 0 {
                put_varint(out, self.revision as u64);
            }
        }
    }

    fn read_config(&mut self, bytes: &[u8]) -> Result<(), Error> {
        *self = Self {
            revision: 0,
            ..Self::default()
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let mut r = SliceReader::new(bytes);
        self.latent_dim =
            r.varint_in(Field::ModelOption("latent-dim"), 0, MAX_LATENT_DIM as u64)? as u8;
        self.bin_bits = r.varint_in(
            Field::ModelOption("bin-bits"),
            MIN_BIN_BITS as u64,
            MAX_BIN_BITS as u64,
        )? as u8;
        self.level = r.varint_in(Field::ModelOption("level"), 1, 9)? as u8;
        self.table_bits = r.varint_in(
            Field::ModelOption("table-bits"),
            0,
            *TABLE_BITS.end() as u64,
        )? as u8;
        if self.table_bits != 0 && self.table_bits < *TABLE_BITS.start() {
            return Err(FormatError::Invalid {
                field: Field::ModelOption("table-bits"),
                got: self.table_bits as u64,
            }
            .into());
        }
        if !r.is_empty() {
            self.revision =
                r.varint_in(Field::ModelOption("revision"), 1, CM_REVISION as u64)? as u8;
        }
        r.finish(Field::ModelConfig)?;
        Ok(())
    }

    /// Version 1 has no context-mixing model.
    fn read_v1_config(&mut self, _fields: [u8; 4]) -> Result<(), Error> {
        Err(FormatError::Invalid {
            field: Field::ModelKind,
            got: 3,
        }
        .into())
    }

    fn v1_chunk_params(&self, _params: Vec<u8>) -> Result<Vec<u8>, Error> {
        self.clone().read_v1_config([0; 4]).map(|_| Vec::new())
    }

    fn framing(&self) -> Option<&dyn Framing> {
        None
    }

    fn prepare(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Stored parameters: for each segment, `sigma_k` of each latent dimension, `f32`
    /// little-endian (none for a chunk of one block, which is coded latent-free as the
    /// chain's start).
    fn encode_chunk(
        &self,
        data: &[u8],
        index: u64,
        coding: &Coding,
        _parallel: bool,
    ) -> Result<CodedChunk, Error> {
        let chain = HistoryBitsBackCoder::new(
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?;
        let d = self.chunk_latent_dim(data.len(), coding);
        let mut model = self.chain_model(data.len(), d, Vec::new());
        let blocks = segment_blocks(coding.block_size as usize);
        let coded = chain.encode(&mut model, data, index, blocks)?;
        Ok(CodedChunk {
            params: model
                .scales()
                .iter()
                .flatten()
                .flat_map(|s| s.to_le_bytes())
                .collect(),
            chain: coded,
            latents: d as u64,
        })
    }

    fn decode_chunk(
        &self,
        params: &[u8],
        segments: &[ChainSegment],
        len: usize,
        index: u64,
        coding: &Coding,
        accounting: bool,
    ) -> Result<DecodedModelChunk, Error> {
        let d = self.chunk_latent_dim(len, coding);
        if params.len() != 4 * d * segments.len() {
            return Err(FormatError::Corrupt(Field::Parameters).into());
        }
        let sigma: Vec<f32> = params
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if sigma
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0 && *s <= 16.0))
        {
            return Err(FormatError::Corrupt(Field::Parameters).into());
        }
        let scales = match d {
            0 => vec![Vec::new(); segments.len()],
            _ => sigma.chunks(d).map(<[f32]>::to_vec).collect(),
        };
        let chain = HistoryBitsBackCoder::new(
            coding.block_size as usize,
            chain_config(coding, self.bin_bits as u32),
        )?
        .with_accounting(accounting);
        let mut model = self.chain_model(len, d, scales);
        let chain = chain.decode(&mut model, segments, len, index)?;
        Ok(DecodedModelChunk {
            data: chain.data,
            blocks: chain.blocks,
            totals: chain.totals,
            latents: d as u64,
        })
    }

    fn analysis_rows(&self) -> (&'static [Arm], &'static str) {
        (ROWS, "reparam")
    }

    fn traces(&self, _first_chunk: &[u8], _coding: &Coding) -> Result<Vec<Trace>, Error> {
        Ok(Vec::new())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_hold_64_blocks_and_at_most_512_kib() {
        assert_eq!(segment_blocks(4096), 64);
        assert_eq!(segment_blocks(1024), 64);
        assert_eq!(segment_blocks(16384), 32);
        assert_eq!(segment_blocks(1 << 20), 1);
    }
}
