//! Whole files: chunking, the model's framing, parallel chunk coding, streaming I/O
//! and the file-level [`RateReport`]. One chunk's coding is in `codec/chunk.rs`.
//!
//! Chunks are independent (own parameters, own ANS stack, own checksum), so they are
//! coded in parallel; the output bytes never depend on the thread count because every
//! chunk's bytes are a function of its data, its index and the header alone. Input is
//! read and output written in batches of up to eight chunks per thread (within 16 MiB
//! of input, and at least two chunks per thread; one chunk on one thread), so memory
//! stays bounded whatever the input size.

mod chunk;
pub mod settings;

use std::io::{self, Read, Write};

use chunk::{decode_chunk, encode_chunk, raw_outcome, ChunkOutcome};

use crate::container::{v2, Header, MemberReader, Record};
use crate::error::{Error, Field, FormatError};
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::{Coding, LatentKind, ModelConfig, ModelKind};
use crate::report::{BlockRecord, RateReport, RateTotals};

/// Everything `encode` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeOptions {
    /// The model and its own options ([`ModelConfig`]).
    pub model: ModelConfig,
    /// Posterior fit configuration.
    pub fit: FitConfig,
    /// Symbols (bytes) per block, i.e. per latent.
    pub block_size: u32,
    /// Bytes per chunk.
    pub chunk_size: u32,
    /// Worker threads (0 = all cores). Never changes the output bytes.
    pub threads: usize,
    /// Store a chunk raw when coding would make it larger (default). `analyze` turns
    /// this off to measure every posterior, however bad.
    pub raw_fallback: bool,
    /// Importance samples per block of the report's IWAE estimate of `-log2 P(x)`
    /// (continuous latents; 0: the default, see [`Coding::iwae_samples`]). Accounting
    /// only: the output bytes are the same whatever it is.
    pub iwae_samples: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self::with_model(ModelConfig::default())
    }
}

impl EncodeOptions {
    /// Defaults for a model kind (its [`crate::model::FileModel::defaults`]): the
    /// mixture with its exact (enumerated) posterior on 64-byte blocks; the logistic
    /// model with reparameterization gradients on 512-byte blocks (64 iterations of 4
    /// draws, step 0.1, 4 latent dimensions, 2^10 bins per dimension); the mnist model
    /// on whole images (784 pixels), 128 images per chunk, 32 iterations of 1 draw from
    /// the amortized encoder's posterior, step 0.05, 2^10 bins per dimension.
    pub fn for_model(kind: ModelKind) -> Self {
        Self::with_model(kind.default_config())
    }

    /// Defaults for a configured model.
    pub fn with_model(model: ModelConfig) -> Self {
        let d = model.model().defaults();
        Self {
            model,
            fit: d.coding.fit,
            block_size: d.coding.block_size,
            chunk_size: d.chunk_size,
            threads: 0,
            raw_fallback: true,
            iwae_samples: 0,
        }
    }

    /// The chain's configuration.
    pub fn coding(&self) -> Coding {
        Coding {
            fit: self.fit,
            block_size: self.block_size,
            iwae_samples: self.iwae_samples,
        }
    }

    fn header(&self) -> Header {
        Header {
            version: crate::container::VERSION,
            model: self.model.clone(),
            coding: self.coding(),
            level: 0,
            chunk_size: Some(self.chunk_size),
        }
    }

    /// The header a file coded with these options starts with (validated).
    pub fn header_bytes(&self) -> Result<Vec<u8>, FormatError> {
        v2::header_bytes(&self.header())
    }

    /// Check the options against the format's limits and the model's.
    pub fn validate(&self) -> Result<(), FormatError> {
        crate::container::validate(&self.model, &self.coding(), Some(self.chunk_size), 0)
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
    /// Model configurations that supply what a file of their kind cannot carry (e.g.
    /// the mnist model's weights); the file's own section sets the rest.
    pub models: Vec<ModelConfig>,
    /// Importance samples per block of the report's IWAE estimate (continuous latents;
    /// 0: the default, see [`Coding::iwae_samples`]).
    pub iwae_samples: u32,
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
        let model = h.model.model();
        let mut report = RateReport {
            model: model.name().into(),
            posterior: h.coding.fit.posterior.name().into(),
            estimator: match h.coding.fit.posterior {
                PosteriorKind::Bbvi(e) => e.name().into(),
                _ => String::new(),
            },
            block_size: h.coding.block_size as u64,
            chunk_size: h.chunk_size.unwrap_or(0) as u64,
            particles: h.coding.fit.posterior.particles() as u64,
            ..Default::default()
        };
        if let LatentKind::Continuous { bin_bits } = model.latent() {
            report.bin_bits = bin_bits as u64;
            report.iwae_samples = crate::chain::continuous::iwae_samples(
                h.coding.fit.posterior,
                h.coding.iwae_samples,
            ) as u64;
            report.neg_log_px_method = "iwae".into();
        }
        Self {
            report,
            totals: RateTotals::default(),
            counts: [0; 256],
            keep_blocks,
            blocks: Vec::new(),
        }
    }

    /// Another member's header joins the total: names that differ are listed.
    fn join_header(&mut self, h: &Header) {
        let other = ReportBuilder::new(h, false).report;
        let r = &mut self.report;
        for (a, b) in [
            (&mut r.model, &other.model),
            (&mut r.posterior, &other.posterior),
            (&mut r.estimator, &other.estimator),
            (&mut r.neg_log_px_method, &other.neg_log_px_method),
        ] {
            if !b.is_empty() && !a.split('+').any(|x| x == b) {
                if !a.is_empty() {
                    a.push('+');
                }
                a.push_str(b);
            }
        }
        r.block_size = r.block_size.max(other.block_size);
        r.chunk_size = r.chunk_size.max(other.chunk_size);
        r.bin_bits = r.bin_bits.max(other.bin_bits);
        r.iwae_samples = r.iwae_samples.max(other.iwae_samples);
    }

    fn add(&mut self, c: &mut ChunkOutcome, original: &[u8]) {
        self.report.chunks += 1;
        self.report.input_bytes += original.len() as u64;
        for &b in original {
            self.counts[b as usize] += 1;
        }
        match c.latents {
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
        r.members = 1;
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

/// Chunks coded at once between two writes: with several threads, eight per thread, so
/// that the threads rarely wait for a batch's slowest chunk, within [`BATCH_BYTES`] of
/// input, and never fewer than two per thread; with one, one. The output does not
/// depend on it.
fn batch_chunks(threads: usize, chunk_size: u32) -> usize {
    if threads <= 1 {
        // Nobody waits: one chunk at a time, so that one thread holds one chunk.
        return 1;
    }
    let by_memory = (BATCH_BYTES / chunk_size.max(1) as u64) as usize;
    (8 * threads).min(by_memory).max(2 * threads)
}

/// Read up to `cs` bytes (fewer only at the end of the input).
fn read_chunk(input: &mut impl Read, cs: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    fill_chunk(input, &mut buf, cs)?;
    Ok(buf)
}

/// Read after the bytes `buf` holds until it holds `cs` (fewer only at the end of the
/// input), in place.
fn fill_chunk(input: &mut impl Read, buf: &mut Vec<u8>, cs: usize) -> io::Result<()> {
    let have = buf.len();
    if have >= cs {
        return Ok(());
    }
    if have == 0 {
        // Zeroed by the system on first touch: a short input touches only its bytes.
        *buf = vec![0u8; cs];
    } else {
        buf.resize(cs, 0);
    }
    let n = read_full(input, &mut buf[have..])?;
    buf.truncate(have + n);
    Ok(())
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
    let model = h.model.model();
    model.prepare()?;
    let workers = Workers::new(options.threads)?;
    let mut input = input;
    let mut out = CountingWriter {
        inner: output,
        count: 0,
    };
    v2::write_header(&mut out, &h)?;
    let mut rb = ReportBuilder::new(&h, false);
    let mut content_crc = crc32fast::Hasher::new();
    let batch = batch_chunks(workers.threads(), h.chunk_size.unwrap_or(1));
    let parallel = workers.threads() > 1;
    let cs = options.chunk_size as usize;
    let mut index = 0u64;
    let mut buf = Vec::new();
    // A framed prefix (an IDX header) is stored as a raw chunk of its own; the body
    // follows in chunks of whole units.
    let mut framed = None;
    let mut prefix_outcome = None;
    if let Some(f) = model.framing() {
        let prefix = read_chunk(&mut input, f.prefix_len())?;
        let declared = f.body_len(&prefix)?;
        prefix_outcome = Some(raw_outcome(prefix.clone()));
        framed = Some((f, prefix, declared));
    }
    let mut next = read_chunk(&mut input, cs)?;
    if let Some(mut o) = prefix_outcome {
        let (_, prefix, _) = framed.as_ref().expect("framed");
        buf.clear();
        v2::write_record(&mut buf, &o.record, next.is_empty());
        out.write_all(&buf)?;
        content_crc.update(prefix);
        rb.add(&mut o, prefix);
        index += 1;
    }
    let mut body = 0u64;
    // `next` is the chunk after the batch so far, or only its first byte (`peeked`):
    // the batch's last chunk needs to know whether it is the input's last, not what
    // follows, so that a batch holds its own chunks and one byte more.
    let mut peeked = false;
    loop {
        let mut datas = Vec::with_capacity(batch);
        while datas.len() < batch && !next.is_empty() {
            if std::mem::take(&mut peeked) {
                fill_chunk(&mut input, &mut next, cs)?;
            }
            let full = next.len() == cs;
            let cur = std::mem::take(&mut next);
            if full {
                peeked = datas.len() + 1 == batch;
                next = read_chunk(&mut input, if peeked { 1 } else { cs })?;
            }
            datas.push(cur);
        }
        let eof = next.is_empty();
        body += datas.iter().map(|d| d.len() as u64).sum::<u64>();
        if let Some((f, prefix, declared)) = &framed {
            // The body so far must stay within the declared length and end on it.
            if (eof && body != *declared) || body > *declared {
                return Err(f.body_len_error(prefix, body));
            }
        }
        let base = index;
        let count = datas.len();
        let outcomes = workers.map(datas.iter().collect(), |i, d: &Vec<u8>| {
            encode_chunk(d, base + i as u64, &h, options.raw_fallback, parallel)
        });
        for (i, (o, d)) in outcomes.into_iter().zip(&datas).enumerate() {
            let mut o = o?;
            buf.clear();
            v2::write_record(&mut buf, &o.record, eof && i + 1 == count);
            out.write_all(&buf)?;
            content_crc.update(d);
            rb.add(&mut o, d);
            index += 1;
        }
        progress(rb.report.input_bytes);
        if eof {
            break;
        }
    }
    buf.clear();
    v2::write_end(
        &mut buf,
        rb.report.chunks,
        rb.report.input_bytes,
        content_crc.finalize(),
    );
    out.write_all(&buf)?;
    out.flush()?;
    Ok(rb.finish(out.count).0)
}

/// Decompress everything from `input` to `output`; returns the recomputed report and,
/// if asked, the per-block records. The input may be several members back to back (as
/// `cat a.bbc b.bbc` makes): the output is the concatenation of their contents, and the
/// report their total ([`decode_members`] has each member's too).
pub fn decode_stream(
    input: impl Read,
    output: impl Write,
    options: &DecodeOptions,
    progress: impl FnMut(u64),
) -> Result<(RateReport, Vec<BlockRecord>), Error> {
    let d = decode_members(input, output, options, progress)?;
    Ok((d.total, d.blocks))
}

/// What [`decode_members`] returns.
#[derive(Clone, Debug, Default)]
pub struct DecodedMembers {
    /// The report of the whole input: sums over the members (`members` counts them;
    /// a name that differs between members lists each, joined by `+`).
    pub total: RateReport,
    /// Each member's own report, in input order.
    pub members: Vec<RateReport>,
    /// Per-block records (if asked), numbered by chunk across the members.
    pub blocks: Vec<BlockRecord>,
}

/// A reader that gives back bytes already read from it first.
struct Rewind<R> {
    inner: CountingReader<R>,
    pending: Vec<u8>,
}

impl<R: Read> Read for Rewind<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() || buf.is_empty() {
            return self.inner.read(buf);
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl<R: Read> Rewind<R> {
    fn new(inner: R) -> Self {
        Self {
            inner: CountingReader { inner, count: 0 },
            pending: Vec::new(),
        }
    }

    /// Bytes of the input consumed so far.
    fn position(&self) -> u64 {
        self.inner.count - self.pending.len() as u64
    }

    /// After a member: whether another one starts here (`false` at the end of the
    /// input); anything else is trailing data. Reads nothing away.
    fn another_member(&mut self) -> Result<bool, Error> {
        let mut next = [0u8; 4];
        let n = read_full(self, &mut next)?;
        self.pending.extend_from_slice(&next[..n]);
        match n {
            0 => Ok(false),
            4 if crate::container::is_member_start(&next) => Ok(true),
            _ => Err(FormatError::TrailingData.into()),
        }
    }
}

/// Decompress every member of `input` to `output`, in order; returns the total report,
/// each member's, and (if asked) the per-block records. Anything after a member that
/// does not start another is an error, and so is any damage in a member.
pub fn decode_members(
    input: impl Read,
    output: impl Write,
    options: &DecodeOptions,
    mut progress: impl FnMut(u64),
) -> Result<DecodedMembers, Error> {
    let mut input = Rewind::new(input);
    let mut output = output;
    let workers = Workers::new(options.threads)?;
    let mut total: Option<ReportBuilder> = None;
    let mut members = Vec::new();
    let mut blocks: Vec<BlockRecord> = Vec::new();
    // Chunks before the current member (the block records number chunks across the
    // members; the coding numbers them within their member, whose fits they seed).
    let mut chunks_before = 0u64;
    let mut done_bytes = 0u64;
    loop {
        let start = input.position();
        let mut index = 0u64;
        let mut reader = MemberReader::new(&mut input, &options.models)?;
        let mut h = reader.header().clone();
        h.coding.iwae_samples = options.iwae_samples;
        h.model.model().prepare()?;
        let batch = batch_chunks(workers.threads(), 1);
        let mut rb = ReportBuilder::new(&h, options.keep_blocks);
        match &mut total {
            None => total = Some(ReportBuilder::new(&h, false)),
            Some(t) => t.join_header(&h),
        }
        let tb = total.as_mut().expect("set above");
        let mut content_crc = crc32fast::Hasher::new();
        loop {
            let mut records: Vec<Record> = Vec::with_capacity(batch);
            let mut bytes = 0u64;
            let mut done = false;
            while records.len() < batch && bytes < BATCH_BYTES {
                match reader.next_record()? {
                    Some(r) => {
                        bytes += r.len() as u64;
                        records.push(r);
                    }
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            let base = index;
            let outcomes = workers.map(records, |i, r| {
                decode_chunk(r, base + i as u64, &h, !options.skip_accounting)
            });
            for o in outcomes {
                let mut o = o?;
                output.write_all(&o.data)?;
                content_crc.update(&o.data);
                let data = std::mem::take(&mut o.data);
                tb.add(&mut o, &data);
                rb.add(&mut o, &data);
                index += 1;
            }
            progress(done_bytes + rb.report.input_bytes);
            if done {
                break;
            }
        }
        if let Some((total_len, crc)) = reader.end() {
            if total_len != rb.report.input_bytes {
                return Err(FormatError::Invalid {
                    field: Field::EndRecord,
                    got: total_len,
                }
                .into());
            }
            crate::wire::check_crc(Field::Content, crc, content_crc.finalize())?;
        }
        drop(reader);
        done_bytes += rb.report.input_bytes;
        let (report, b) = rb.finish(input.position() - start);
        members.push(report);
        blocks.extend(b.into_iter().map(|mut r| {
            r.chunk += chunks_before;
            r
        }));
        chunks_before += index;
        if !input.another_member()? {
            break;
        }
    }
    output.flush()?;
    let (mut total, _) = total.expect("one member at least").finish(input.position());
    total.members = members.len() as u64;
    Ok(DecodedMembers {
        total,
        members,
        blocks,
    })
}

/// One member of a file as its records describe it, without decoding: what
/// [`list_members`] returns.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemberInfo {
    /// Format version of the member (1 or 2).
    pub version: u8,
    /// Bytes of the member.
    pub compressed_bytes: u64,
    /// Bytes its records say it decodes to.
    pub input_bytes: u64,
    /// Model, posterior and BBVI estimator (empty unless bbvi) names.
    pub model: String,
    /// Posterior name.
    pub posterior: String,
    /// Estimator name.
    pub estimator: String,
    /// Symbols per block.
    pub block_size: u64,
    /// Chunks, and of them stored raw.
    pub chunks: u64,
    /// Chunks stored raw.
    pub raw_chunks: u64,
}

/// Each member of `input`, read record by record (every field checked) but not
/// decoded: sizes, model and chunks, as `bbcodec -l` lists them. The checksums of the
/// content are not checked (decoding does that).
pub fn list_members(input: impl Read, options: &DecodeOptions) -> Result<Vec<MemberInfo>, Error> {
    let mut input = Rewind::new(input);
    let mut members = Vec::new();
    loop {
        let start = input.position();
        let mut reader = MemberReader::new(&mut input, &options.models)?;
        let h = reader.header().clone();
        let r = ReportBuilder::new(&h, false).report;
        let mut m = MemberInfo {
            version: h.version,
            model: r.model,
            posterior: r.posterior,
            estimator: r.estimator,
            block_size: r.block_size,
            ..Default::default()
        };
        while let Some(rec) = reader.next_record()? {
            m.chunks += 1;
            m.raw_chunks += matches!(rec, Record::Raw { .. }) as u64;
            m.input_bytes += rec.len() as u64;
        }
        if let Some((total_len, _)) = reader.end() {
            if total_len != m.input_bytes {
                return Err(FormatError::Invalid {
                    field: Field::EndRecord,
                    got: total_len,
                }
                .into());
            }
        }
        drop(reader);
        m.compressed_bytes = input.position() - start;
        members.push(m);
        if !input.another_member()? {
            return Ok(members);
        }
    }
}

/// Compress `data` in memory; returns the file bytes and the report.
pub fn compress(data: &[u8], options: &EncodeOptions) -> Result<(Vec<u8>, RateReport), Error> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
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
        "iw" => Some(PosteriorKind::ImportanceWeighted(
            crate::inference::DEFAULT_PARTICLES,
        )),
        "cis" => Some(PosteriorKind::CoupledImportanceWeighted(
            crate::inference::DEFAULT_PARTICLES,
        )),
        _ => None,
    }
}
