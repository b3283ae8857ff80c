//! Whole files: chunking, per-chunk model fit, parallel chunk coding, streaming I/O and
//! the file-level [`RateReport`].
//!
//! Chunks are independent (own parameters, own ANS stack, own checksum), so they are
//! coded in parallel; the output bytes never depend on the thread count because every
//! chunk's bytes are a function of its data, its index and the header alone. Input is
//! read and output written in batches of up to eight chunks per thread (within 16 MiB
//! of input, and at least two chunks per thread), so memory stays bounded whatever the
//! input size.

use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::chain::{BitsBackCoder, ContinuousBitsBackCoder, ContinuousConfig};
use crate::container::{ChunkRecord, Header, ModelKind, HEADER_BYTES};
use crate::error::{CodecError, Error, FormatError};
use crate::idx::{IdxHeader, IDX_HEADER_BYTES};
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::image::{builtin_image_model, ImageModel, PIXELS};
use crate::model::logistic::{LogisticModel, LogisticParams};
use crate::model::mixture::{decode_params, encode_params, MixtureFitOptions, MixtureModel};
use crate::model::DiscreteLatentModel;
use crate::report::{BlockRecord, RateReport, RateTotals};

/// Everything `encode` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeOptions {
    /// Model kind.
    pub model: ModelKind,
    /// Posterior fit configuration.
    pub fit: FitConfig,
    /// Symbols (bytes) per block, i.e. per latent.
    pub block_size: u32,
    /// Bytes per chunk.
    pub chunk_size: u32,
    /// Largest number of mixture components tried.
    pub max_components: u8,
    /// Use exactly this many components (None: choose by size).
    pub fixed_components: Option<u8>,
    /// Latent dimension of continuous models (ignored by the mixture).
    pub latent_dim: u8,
    /// Bits per latent bin index of continuous models (ignored by the mixture).
    pub bin_bits: u8,
    /// Worker threads (0 = all cores). Never changes the output bytes.
    pub threads: usize,
    /// Store a chunk raw when coding would make it larger (default). `analyze` turns
    /// this off to measure every posterior, however bad.
    pub raw_fallback: bool,
    /// Weights of the `mnist` model (None: the built-in model).
    pub image_model: Option<Arc<ImageModel>>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            model: ModelKind::Mixture,
            // The mixture's posterior is enumerable: exact by default (KL = 0, and no
            // per-block fit on either side). BBVI is `PosteriorKind::Bbvi`, with the
            // iteration and sample counts of `FitConfig::default()`.
            fit: FitConfig {
                posterior: PosteriorKind::Exact,
                ..FitConfig::default()
            },
            block_size: 64,
            // 256 KiB: a 1 MB file is four chunks, decoded in parallel (the decoder is
            // sequential within a chunk), at < 1% in parameters and chunk starts.
            chunk_size: 1 << 18,
            max_components: 32,
            fixed_components: None,
            latent_dim: 4,
            bin_bits: 10,
            threads: 0,
            raw_fallback: true,
            image_model: None,
        }
    }
}

impl EncodeOptions {
    /// Defaults for a model kind: the mixture with its exact (enumerated) posterior on
    /// 64-byte blocks; the logistic model with reparameterization gradients on
    /// 512-byte blocks (64 iterations of 4 draws, step 0.1, 4 latent dimensions,
    /// 2^10 bins per dimension); the mnist model on whole images (784 pixels), 128
    /// images per chunk, 32 iterations of 1 draw from the amortized encoder's
    /// posterior, step 0.05, 2^10 bins per dimension.
    pub fn for_model(model: ModelKind) -> Self {
        let mut o = Self {
            model,
            ..Default::default()
        };
        if model == ModelKind::Mnist {
            o.block_size = PIXELS as u32;
            o.chunk_size = 128 * PIXELS as u32;
            o.fit.posterior = PosteriorKind::Bbvi(Estimator::Reparameterization);
            o.fit.iterations = 32;
            o.fit.samples = 1;
            o.fit.learning_rate = 0.05;
        }
        if model == ModelKind::Logistic {
            o.block_size = 512;
            o.fit.posterior = PosteriorKind::Bbvi(Estimator::Reparameterization);
            o.fit.iterations = 64;
            o.fit.samples = 4;
            o.fit.learning_rate = 0.1;
        }
        o
    }

    /// The image model these options code with (the built-in one unless set).
    pub fn image_model(&self) -> Result<&ImageModel, CodecError> {
        match &self.image_model {
            Some(m) => Ok(m),
            None => builtin_image_model(),
        }
    }

    fn header(&self) -> Header {
        let continuous = matches!(self.model, ModelKind::Logistic | ModelKind::Mnist);
        // Only the mnist model reads its weights (parsing them is not free).
        let latent_dim = match self.model {
            ModelKind::Mnist => self
                .image_model()
                .map_or(self.latent_dim, |m| m.dims().latent as u8),
            _ => self.latent_dim,
        };
        Header {
            model: self.model,
            fit: self.fit,
            block_size: self.block_size,
            chunk_size: self.chunk_size,
            max_components: self.max_components,
            fixed_components: self.fixed_components.unwrap_or(0),
            latent_dim: if continuous { latent_dim } else { 0 },
            bin_bits: if continuous { self.bin_bits } else { 0 },
        }
    }

    /// Check the options against the format's limits.
    pub fn validate(&self) -> Result<(), FormatError> {
        self.header().validate()
    }
}

/// Options of decoding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodeOptions {
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Keep per-block records in the returned report.
    pub keep_blocks: bool,
    /// Skip the rate accounting (ELBO terms, IWAE): the returned report then has sizes
    /// and measured net bits only. For plain decompression, where nobody reads it.
    pub skip_accounting: bool,
    /// Weights of the `mnist` model (None: the built-in model).
    pub image_model: Option<Arc<ImageModel>>,
}

/// Result of one chunk, in either direction.
struct ChunkOutcome {
    record: ChunkRecord,
    data: Vec<u8>,
    totals: RateTotals,
    header_bits: f64,
    components: Option<u64>,
    blocks: Vec<BlockRecord>,
}

/// Runs the chunks of a batch: in the calling thread, or on a rayon pool. The results
/// come back in input order either way, so the output never depends on the choice.
enum Workers {
    Serial,
    Pool(rayon::ThreadPool),
}

impl Workers {
    fn new(threads: usize) -> Result<Self, Error> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        if threads == 1 {
            return Ok(Workers::Serial);
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map(Workers::Pool)
            .map_err(|e| Error::Io(io::Error::other(e.to_string())))
    }

    fn threads(&self) -> usize {
        match self {
            Workers::Serial => 1,
            Workers::Pool(p) => p.current_num_threads(),
        }
    }

    fn map<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
        match self {
            Workers::Serial => items
                .into_iter()
                .enumerate()
                .map(|(i, t)| f(i, t))
                .collect(),
            Workers::Pool(pool) => pool.install(|| {
                use rayon::prelude::*;
                items
                    .into_par_iter()
                    .enumerate()
                    .map(|(i, t)| f(i, t))
                    .collect()
            }),
        }
    }
}

fn fit_options(h: &Header, parallel: bool) -> MixtureFitOptions {
    MixtureFitOptions {
        parallel,
        max_components: h.max_components as usize,
        fixed_components: if h.fixed_components == 0 {
            None
        } else {
            Some(h.fixed_components as usize)
        },
        ..Default::default()
    }
}

/// Which image model a chunk was coded with: the 64-bit hash of its weights file.
fn image_params(m: &ImageModel) -> Vec<u8> {
    m.hash().to_le_bytes().to_vec()
}

fn check_image_params(params: &[u8], m: &ImageModel, h: &Header) -> Result<(), CodecError> {
    let stored = match params.try_into() {
        Ok(b) => u64::from_le_bytes(b),
        Err(_) => return Err(CodecError::Corrupt("image model id")),
    };
    if stored != m.hash() {
        return Err(CodecError::Model(format!(
            "the file was coded with image model {stored:016x}, these weights are {:016x} (pass the right --weights)",
            m.hash()
        )));
    }
    if h.latent_dim as usize != m.dims().latent {
        return Err(CodecError::Model(format!(
            "the file's latent dimension is {}, the image model's is {}",
            h.latent_dim,
            m.dims().latent
        )));
    }
    Ok(())
}

fn encode_chunk(
    data: &[u8],
    index: u64,
    h: &Header,
    raw_fallback: bool,
    parallel: bool,
    image: Option<&ImageModel>,
) -> Result<ChunkOutcome, Error> {
    let crc = crc32fast::hash(data);
    let symbols: Vec<u16> = data.iter().map(|&b| b as u16).collect();
    let bs = h.block_size as usize;
    let blocks: Vec<&[u16]> = symbols.chunks(bs).collect();
    let (params, enc, components) = match h.model {
        ModelKind::Mixture => {
            // The fit's candidates and E-step shards, and the per-block posterior fits,
            // go to the pool whenever there are threads: while other chunks keep every
            // thread busy they run in place, and at the end of a batch the threads that
            // are done help with the chunks still running.
            let model = MixtureModel::fit(&blocks, 256, &fit_options(h, parallel));
            let enc = BitsBackCoder::new(&model, bs, h.fit)
                .with_parallel_fits(parallel)
                .encode(&symbols, index)?;
            (
                encode_params(model.params()),
                enc,
                model.num_latents() as u64,
            )
        }
        ModelKind::Logistic => {
            let model = LogisticModel::fit(&blocks, h.latent_dim as usize);
            let enc = ContinuousBitsBackCoder::new(&model, bs, continuous_config(h))?
                .encode(&symbols, index)?;
            (model.params().encode(), enc, h.latent_dim as u64)
        }
        ModelKind::Mnist => {
            let model = image.ok_or_else(|| CodecError::Model("no image model".into()))?;
            let enc = ContinuousBitsBackCoder::new(model, bs, continuous_config(h))?
                .with_parallel_fits(parallel)
                .encode(&symbols, index)?;
            (image_params(model), enc, h.latent_dim as u64)
        }
    };
    let coded = ChunkRecord::Coded {
        len: data.len() as u32,
        crc,
        params,
        bootstrap_blocks: enc.bootstrap_blocks as u32,
        words: enc.words,
    };
    let raw = ChunkRecord::Raw {
        crc,
        data: data.to_vec(),
    };
    if coded.encoded_len() < raw.encoded_len() || !raw_fallback {
        let header_bits = match &coded {
            ChunkRecord::Coded { params, .. } => 8.0 * params.len() as f64,
            _ => 0.0,
        };
        Ok(ChunkOutcome {
            record: coded,
            data: Vec::new(),
            totals: enc.totals,
            header_bits,
            components: Some(components),
            blocks: enc.blocks,
        })
    } else {
        Ok(ChunkOutcome {
            record: raw,
            data: Vec::new(),
            totals: RateTotals::default(),
            header_bits: 0.0,
            components: None,
            blocks: Vec::new(),
        })
    }
}

fn decode_chunk(
    record: ChunkRecord,
    index: u64,
    h: &Header,
    accounting: bool,
    image: Option<&ImageModel>,
) -> Result<ChunkOutcome, Error> {
    match record {
        ChunkRecord::Raw { crc, data } => {
            check_crc(crc, &data, "raw chunk")?;
            Ok(ChunkOutcome {
                record: ChunkRecord::Raw {
                    crc,
                    data: Vec::new(),
                },
                data,
                totals: RateTotals::default(),
                header_bits: 0.0,
                components: None,
                blocks: Vec::new(),
            })
        }
        ChunkRecord::Coded {
            len,
            crc,
            params,
            bootstrap_blocks,
            words,
        } => {
            let bs = h.block_size as usize;
            let (dec, components) = match h.model {
                ModelKind::Mixture => {
                    let model = MixtureModel::from_params(decode_params(&params, 256)?)?;
                    let dec = BitsBackCoder::new(&model, bs, h.fit)
                        .with_accounting(accounting)
                        .decode(&words, len as usize, bootstrap_blocks as usize, index)?;
                    (dec, model.num_latents() as u64)
                }
                ModelKind::Logistic => {
                    let model = LogisticModel::from_params(LogisticParams::decode(
                        &params,
                        h.latent_dim as usize,
                    )?);
                    let dec = ContinuousBitsBackCoder::new(&model, bs, continuous_config(h))?
                        .with_accounting(accounting)
                        .decode(&words, len as usize, bootstrap_blocks as usize, index)?;
                    (dec, h.latent_dim as u64)
                }
                ModelKind::Mnist => {
                    let model = image.ok_or_else(|| CodecError::Model("no image model".into()))?;
                    check_image_params(&params, model, h)?;
                    let dec = ContinuousBitsBackCoder::new(model, bs, continuous_config(h))?
                        .with_accounting(accounting)
                        .decode(&words, len as usize, bootstrap_blocks as usize, index)?;
                    (dec, h.latent_dim as u64)
                }
            };
            let mut data = Vec::with_capacity(dec.symbols.len());
            for s in dec.symbols {
                if s > 255 {
                    return Err(CodecError::Corrupt("symbol outside the byte range").into());
                }
                data.push(s as u8);
            }
            check_crc(crc, &data, "chunk")?;
            Ok(ChunkOutcome {
                header_bits: 8.0 * params.len() as f64,
                record: ChunkRecord::Coded {
                    len,
                    crc,
                    params: Vec::new(),
                    bootstrap_blocks,
                    words: Vec::new(),
                },
                data,
                totals: dec.totals,
                components: Some(components),
                blocks: dec.blocks,
            })
        }
        ChunkRecord::End { .. } => {
            Err(FormatError::Corrupt("end record inside the chunk sequence").into())
        }
    }
}

fn raw_outcome(data: Vec<u8>) -> ChunkOutcome {
    ChunkOutcome {
        record: ChunkRecord::Raw {
            crc: crc32fast::hash(&data),
            data,
        },
        data: Vec::new(),
        totals: RateTotals::default(),
        header_bits: 0.0,
        components: None,
        blocks: Vec::new(),
    }
}

fn continuous_config(h: &Header) -> ContinuousConfig {
    ContinuousConfig {
        posterior: h.fit.posterior,
        iterations: h.fit.iterations,
        samples: h.fit.samples,
        learning_rate: h.fit.learning_rate,
        seed: h.fit.seed,
        bin_bits: h.bin_bits as u32,
    }
}

fn check_crc(stored: u32, data: &[u8], what: &'static str) -> Result<(), Error> {
    let computed = crc32fast::hash(data);
    if stored != computed {
        return Err(FormatError::Checksum {
            what,
            stored,
            computed,
        }
        .into());
    }
    Ok(())
}

/// Fill `buf` from `r` as far as possible; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Accumulates the file-level report.
struct ReportBuilder {
    report: RateReport,
    totals: RateTotals,
    counts: [u64; 256],
    keep_blocks: bool,
    blocks: Vec<BlockRecord>,
}

impl ReportBuilder {
    fn new(h: &Header, keep_blocks: bool) -> Self {
        let report = RateReport {
            model: h.model.name().into(),
            posterior: h.fit.posterior.name().into(),
            estimator: match h.fit.posterior {
                PosteriorKind::Bbvi(e) => e.name().into(),
                _ => String::new(),
            },
            block_size: h.block_size as u64,
            chunk_size: h.chunk_size as u64,
            bin_bits: h.bin_bits as u64,
            iwae_samples: if h.model != ModelKind::Mixture {
                crate::chain::continuous::EVAL_SAMPLES as u64
            } else {
                0
            },
            neg_log_px_method: if h.model != ModelKind::Mixture {
                "iwae".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        Self {
            report,
            totals: RateTotals::default(),
            counts: [0; 256],
            keep_blocks,
            blocks: Vec::new(),
        }
    }

    fn add(&mut self, c: &mut ChunkOutcome, original: &[u8]) {
        self.report.chunks += 1;
        self.report.input_bytes += original.len() as u64;
        for &b in original {
            self.counts[b as usize] += 1;
        }
        match c.components {
            Some(k) => self.report.components.push(k),
            None => {
                self.report.raw_chunks += 1;
                self.report.raw_bits += 8.0 * original.len() as f64;
            }
        }
        self.report.header_bits += c.header_bits;
        self.totals.merge(&c.totals);
        if self.keep_blocks {
            self.blocks.append(&mut c.blocks);
        }
    }

    fn finish(mut self, compressed_bytes: u64) -> (RateReport, Vec<BlockRecord>) {
        let r = &mut self.report;
        r.set_totals(&self.totals);
        r.compressed_bytes = compressed_bytes;
        r.bits_per_byte = if r.input_bytes == 0 {
            0.0
        } else {
            8.0 * compressed_bytes as f64 / r.input_bytes as f64
        };
        r.container_bits = 8.0 * compressed_bytes as f64
            - (r.net_bits + r.bootstrap_bits + r.raw_bits + r.header_bits);
        let n = r.input_bytes as f64;
        r.order0_bits = self
            .counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| c as f64 * crate::math::log2(n / c as f64))
            .sum();
        (self.report, self.blocks)
    }
}

/// Counts bytes written through it.
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Input bytes a batch of chunks may hold (in and out, a batch is about twice this).
const BATCH_BYTES: u64 = 16 << 20;

/// Chunks coded at once between two writes: eight per thread, so that the threads
/// rarely wait for a batch's slowest chunk, within [`BATCH_BYTES`] of input, and never
/// fewer than two per thread. The output does not depend on it.
fn batch_chunks(threads: usize, chunk_size: u32) -> usize {
    let by_memory = (BATCH_BYTES / chunk_size.max(1) as u64) as usize;
    (8 * threads).min(by_memory).max(2 * threads)
}

/// Compress everything from `input` to `output`; returns the report.
///
/// `progress` is called with the number of input bytes done after each batch.
pub fn encode_stream(
    input: impl Read,
    output: impl Write,
    options: &EncodeOptions,
    mut progress: impl FnMut(u64),
) -> Result<RateReport, Error> {
    options.validate()?;
    let h = options.header();
    let workers = Workers::new(options.threads)?;
    let mut input = input;
    let mut out = CountingWriter {
        inner: output,
        count: 0,
    };
    h.write(&mut out)?;
    let mut rb = ReportBuilder::new(&h, false);
    let mut content_crc = crc32fast::Hasher::new();
    let batch = batch_chunks(workers.threads(), h.chunk_size);
    let parallel = workers.threads() > 1;
    let cs = h.chunk_size as usize;
    let mut index = 0u64;
    let image = if h.model == ModelKind::Mnist {
        Some(options.image_model()?)
    } else {
        None
    };
    // An IDX file's 16-byte header is stored as a raw chunk of its own; the images
    // follow in chunks of whole images.
    let mut idx_header = None;
    if image.is_some() {
        let mut b = [0u8; IDX_HEADER_BYTES];
        let n = read_full(&mut input, &mut b)?;
        let parsed = IdxHeader::parse(&b[..n])?;
        let mut o = raw_outcome(b.to_vec());
        o.record.write(&mut out)?;
        content_crc.update(&b);
        rb.add(&mut o, &b);
        index += 1;
        idx_header = Some(parsed);
    }
    loop {
        let mut datas = Vec::with_capacity(batch);
        let mut eof = false;
        while datas.len() < batch {
            let mut buf = vec![0u8; cs];
            let n = read_full(&mut input, &mut buf)?;
            buf.truncate(n);
            if n > 0 {
                datas.push(buf);
            }
            if n < cs {
                eof = true;
                break;
            }
        }
        if let Some(ih) = &idx_header {
            // Pixel bytes so far must stay within the declared count and end on it.
            let pixels = rb.report.input_bytes - IDX_HEADER_BYTES as u64
                + datas.iter().map(|d| d.len() as u64).sum::<u64>();
            if eof || pixels > ih.count as u64 * PIXELS as u64 {
                ih.check_length(pixels)?;
            }
        }
        let base = index;
        let outcomes = workers.map(datas.iter().collect(), |i, d: &Vec<u8>| {
            encode_chunk(
                d,
                base + i as u64,
                &h,
                options.raw_fallback,
                parallel,
                image,
            )
        });
        for (o, d) in outcomes.into_iter().zip(&datas) {
            let mut o = o?;
            o.record.write(&mut out)?;
            content_crc.update(d);
            rb.add(&mut o, d);
            index += 1;
        }
        progress(rb.report.input_bytes);
        if eof {
            break;
        }
    }
    ChunkRecord::End {
        total_len: rb.report.input_bytes,
        crc: content_crc.finalize(),
    }
    .write(&mut out)?;
    out.flush()?;
    Ok(rb.finish(out.count).0)
}

/// Decompress everything from `input` to `output`; returns the recomputed report and,
/// if asked, the per-block records.
pub fn decode_stream(
    input: impl Read,
    output: impl Write,
    options: &DecodeOptions,
    mut progress: impl FnMut(u64),
) -> Result<(RateReport, Vec<BlockRecord>), Error> {
    let mut input = CountingReader {
        inner: input,
        count: 0,
    };
    let mut output = output;
    let h = Header::read(&mut input)?;
    let workers = Workers::new(options.threads)?;
    let image = if h.model == ModelKind::Mnist {
        Some(match &options.image_model {
            Some(m) => &**m,
            None => builtin_image_model()?,
        })
    } else {
        None
    };
    let batch = batch_chunks(workers.threads(), h.chunk_size);
    let mut rb = ReportBuilder::new(&h, options.keep_blocks);
    let mut content_crc = crc32fast::Hasher::new();
    let mut index = 0u64;
    let end = loop {
        let mut records = Vec::with_capacity(batch);
        let mut end = None;
        while records.len() < batch {
            match ChunkRecord::read(&mut input, &h)? {
                ChunkRecord::End { total_len, crc } => {
                    end = Some((total_len, crc));
                    break;
                }
                r => records.push(r),
            }
        }
        let base = index;
        let outcomes = workers.map(records, |i, r| {
            decode_chunk(r, base + i as u64, &h, !options.skip_accounting, image)
        });
        for o in outcomes {
            let mut o = o?;
            output.write_all(&o.data)?;
            content_crc.update(&o.data);
            let data = std::mem::take(&mut o.data);
            rb.add(&mut o, &data);
            index += 1;
        }
        progress(rb.report.input_bytes);
        if let Some(e) = end {
            break e;
        }
    };
    let (total_len, crc) = end;
    if total_len != rb.report.input_bytes {
        return Err(FormatError::Invalid {
            what: "total length in the end record",
            got: total_len,
        }
        .into());
    }
    let computed = content_crc.finalize();
    if computed != crc {
        return Err(FormatError::Checksum {
            what: "whole content",
            stored: crc,
            computed,
        }
        .into());
    }
    let mut probe = [0u8; 1];
    if read_full(&mut input, &mut probe)? != 0 {
        return Err(FormatError::TrailingData.into());
    }
    output.flush()?;
    Ok(rb.finish(input.count))
}

/// Compress `data` in memory; returns the file bytes and the report.
pub fn compress(data: &[u8], options: &EncodeOptions) -> Result<(Vec<u8>, RateReport), Error> {
    let mut out = Vec::with_capacity(data.len() / 2 + HEADER_BYTES + 64);
    let report = encode_stream(data, &mut out, options, |_| {})?;
    Ok((out, report))
}

/// Decompress a whole file in memory; returns the original bytes and the recomputed
/// report.
pub fn decompress(file: &[u8], options: &DecodeOptions) -> Result<(Vec<u8>, RateReport), Error> {
    let mut out = Vec::new();
    let (report, _) = decode_stream(file, &mut out, options, |_| {})?;
    Ok((out, report))
}

/// Shorthand for the names used on the command line.
pub fn posterior_from_names(posterior: &str, estimator: &str) -> Option<PosteriorKind> {
    match posterior {
        "bbvi" => Estimator::from_name(estimator).map(PosteriorKind::Bbvi),
        "exact" => Some(PosteriorKind::Exact),
        "map" => Some(PosteriorKind::Map),
        _ => None,
    }
}
