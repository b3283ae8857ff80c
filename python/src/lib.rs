//! The extension module `bbcodec._bbcodec`: the library's calls for the pure-Python
//! package `bbcodec` (which documents them for Python users). Reports cross as JSON
//! text, options as a dict of the command line's names; the GIL is released while
//! coding.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use bbcodec::categorical::QuantizedCategorical;
use bbcodec::codec::settings::{decode_models, model_option_name, Settings};
use bbcodec::model::DiscreteLatentModel;
use bbcodec::{DecodeOptions, DiscreteBitsBackCoder, Estimator, FitConfig, PosteriorKind};

pyo3::create_exception!(
    _bbcodec,
    BbcodecError,
    PyValueError,
    "A bbcodec failure: bad options, or input that is not a valid bbcodec file."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    BbcodecError::new_err(e.to_string())
}

/// The settings a dict of options names: the command line's names, with `_` for `-`.
fn settings(options: Option<&Bound<'_, PyDict>>) -> PyResult<Settings> {
    let mut s = Settings::default();
    let Some(options) = options else {
        return Ok(s);
    };
    for (k, v) in options.iter() {
        let key: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "model" => s.model = Some(v.extract()?),
            "posterior" => s.posterior = Some(v.extract()?),
            "particles" => s.particles = Some(v.extract()?),
            "iwae_samples" => s.iwae_samples = Some(v.extract()?),
            "estimator" => s.estimator = Some(v.extract()?),
            "iters" => s.iters = Some(v.extract()?),
            "samples" => s.samples = Some(v.extract()?),
            "lr" => s.lr = Some(v.extract()?),
            "block_size" => s.block_size = Some(v.extract()?),
            "chunk_size" => s.chunk_size = Some(v.extract()?),
            "seed" => s.seed = Some(v.extract()?),
            "threads" => s.threads = v.extract()?,
            other => {
                let name = other.replace('_', "-");
                let Some(name) = model_option_name(&name) else {
                    return Err(PyTypeError::new_err(format!("unknown option '{other}'")));
                };
                s.model_options.push((name, v.str()?.to_string()));
            }
        }
    }
    Ok(s)
}

fn decode_options(
    options: Option<&Bound<'_, PyDict>>,
    accounting: bool,
) -> PyResult<DecodeOptions> {
    let s = settings(options)?;
    Ok(DecodeOptions {
        threads: s.threads,
        keep_blocks: false,
        skip_accounting: !accounting,
        models: decode_models(&s.model_options).map_err(err)?,
        iwae_samples: s.iwae_samples.unwrap_or(0),
    })
}

/// `compress(data, options) -> (bytes, report_json)`.
#[pyfunction]
#[pyo3(signature = (data, options=None))]
fn compress<'py>(
    py: Python<'py>,
    data: &[u8],
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let o = settings(options)?.encode_options().map_err(err)?;
    let (out, report) = py.detach(|| bbcodec::compress(data, &o)).map_err(err)?;
    Ok((
        PyBytes::new(py, &out),
        serde_json::to_string(&report).map_err(err)?,
    ))
}

/// `decompress(data, options) -> bytes` (every member, in order).
#[pyfunction]
#[pyo3(signature = (data, options=None))]
fn decompress<'py>(
    py: Python<'py>,
    data: &[u8],
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let o = decode_options(options, false)?;
    let (out, _) = py.detach(|| bbcodec::decompress(data, &o)).map_err(err)?;
    Ok(PyBytes::new(py, &out))
}

/// `inspect(data, options) -> report_json`: the total with `member_reports`, as
/// `bbcodec inspect --json` prints it.
#[pyfunction]
#[pyo3(signature = (data, options=None))]
fn inspect(py: Python<'_>, data: &[u8], options: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let o = decode_options(options, true)?;
    let d = py
        .detach(|| bbcodec::decode_members(data, io::sink(), &o, |_| {}))
        .map_err(err)?;
    let mut v = serde_json::to_value(&d.total).map_err(err)?;
    v["member_reports"] = serde_json::to_value(&d.members).map_err(err)?;
    Ok(v.to_string())
}

/// `analyze(data, options) -> json`: every posterior and estimator side by side.
#[pyfunction]
#[pyo3(signature = (data, options=None))]
fn analyze(py: Python<'_>, data: &[u8], options: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let o = settings(options)?.encode_options().map_err(err)?;
    let a = py
        .detach(|| bbcodec::analysis::analyze(data, &o))
        .map_err(err)?;
    serde_json::to_string(&a).map_err(err)
}

/// Reads what a [`StreamWriter`] is sent.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Pieces of input in flight to a writer's thread: with chunks of at most a few MiB
/// each, and the encoder's own batch, memory stays bounded whatever the stream's size.
const IN_FLIGHT: usize = 4;

/// A file being written: the encoder runs on a thread of its own, fed through a
/// bounded channel.
#[pyclass(module = "bbcodec._bbcodec")]
struct StreamWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<Result<String, String>>>,
}

#[pymethods]
impl StreamWriter {
    #[new]
    #[pyo3(signature = (path, exclusive=false, options=None))]
    fn new(path: PathBuf, exclusive: bool, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let o = settings(options)?.encode_options().map_err(err)?;
        let file = if exclusive {
            File::options().write(true).create_new(true).open(&path)
        } else {
            File::create(&path)
        }
        .map_err(|e| err(format!("{}: {e}", path.display())))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            let input = ChannelReader {
                rx,
                buf: Vec::new(),
                at: 0,
            };
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let report =
                bbcodec::encode_stream(input, &mut out, &o, |_| {}).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            serde_json::to_string(&report).map_err(|e| e.to_string())
        });
        Ok(Self {
            tx: Some(tx),
            worker: Some(worker),
        })
    }

    /// Send `data` to the encoder (waits while it is busy with earlier data).
    fn write(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let Some(tx) = &self.tx else {
            return Err(err("write to a closed file"));
        };
        let piece = data.to_vec();
        if py.detach(|| tx.send(piece)).is_err() {
            // The encoder stopped: its error says why.
            self.tx = None;
            return Err(err(self.join(py)?.unwrap_err()));
        }
        Ok(())
    }

    /// End the input and wait for the encoder; returns its report (JSON).
    fn close(&mut self, py: Python<'_>) -> PyResult<String> {
        self.tx = None;
        self.join(py)?.map_err(err)
    }
}

impl StreamWriter {
    fn join(&mut self, py: Python<'_>) -> PyResult<Result<String, String>> {
        match self.worker.take() {
            None => Err(err("the file is closed")),
            Some(w) => Ok(py
                .detach(|| w.join())
                .unwrap_or_else(|_| Err("the encoder failed".into()))),
        }
    }
}

/// A piece of decoded output, or the decoder's error.
type Piece = Result<Vec<u8>, String>;

/// Sends what is written to a [`StreamReader`], in pieces of about 1 MiB.
struct ChannelWriter {
    tx: SyncSender<Piece>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let piece = std::mem::take(&mut self.buf);
            self.tx
                .send(Ok(piece))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader closed"))?;
        }
        Ok(())
    }
}

/// A file being read: the decoder runs on a thread of its own and hands its output
/// over through a bounded channel; every piece has passed its chunk's checksum.
#[pyclass(module = "bbcodec._bbcodec")]
struct StreamReader {
    rx: Option<Mutex<Receiver<Piece>>>,
    buf: Vec<u8>,
    at: usize,
    worker: Option<JoinHandle<()>>,
}

#[pymethods]
impl StreamReader {
    #[new]
    #[pyo3(signature = (path, options=None))]
    fn new(path: PathBuf, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let o = decode_options(options, false)?;
        let file = File::open(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::new(),
            };
            let r = bbcodec::decode_stream(
                BufReader::with_capacity(1 << 20, file),
                &mut out,
                &o,
                |_| {},
            )
            .map_err(|e| e.to_string())
            .and_then(|_| out.flush().map_err(|e| e.to_string()));
            if let Err(e) = r {
                let _ = tx.send(Err(e));
            }
        });
        Ok(Self {
            rx: Some(Mutex::new(rx)),
            buf: Vec::new(),
            at: 0,
            worker: Some(worker),
        })
    }

    /// Up to `n` bytes (all that is left if `n < 0`); empty at the end.
    #[pyo3(signature = (n=-1))]
    fn read<'py>(&mut self, py: Python<'py>, n: isize) -> PyResult<Bound<'py, PyBytes>> {
        let want = if n < 0 { usize::MAX } else { n as usize };
        let mut out = Vec::new();
        while out.len() < want {
            if self.at == self.buf.len() {
                let Some(rx) = &self.rx else { break };
                let got = py.detach(|| match rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => Err(std::sync::mpsc::RecvError),
                });
                match got {
                    Ok(Ok(piece)) => {
                        self.buf = piece;
                        self.at = 0;
                    }
                    Ok(Err(e)) => {
                        self.rx = None;
                        return Err(err(e));
                    }
                    Err(_) => {
                        self.rx = None;
                        break;
                    }
                }
                continue;
            }
            let k = (want - out.len()).min(self.buf.len() - self.at);
            out.extend_from_slice(&self.buf[self.at..self.at + k]);
            self.at += k;
            if n >= 0 && self.at == self.buf.len() && !out.is_empty() {
                // A short read is fine: hand back what is here rather than wait.
                break;
            }
        }
        Ok(PyBytes::new(py, &out))
    }

    /// Stop reading: the decoder is told to stop, and waited for.
    fn close(&mut self, py: Python<'_>) {
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = py.detach(|| w.join());
        }
    }
}

/// A discrete-latent model given as arrays: a prior over `K` latents and, per latent,
/// a distribution over `A` symbols (the same at every position, or one per position).
struct ArrayModel {
    prior: QuantizedCategorical,
    /// `K * positions` rows, latent-major.
    likelihood: Vec<QuantizedCategorical>,
    positions: usize,
    alphabet: usize,
}

impl DiscreteLatentModel for ArrayModel {
    fn num_latents(&self) -> usize {
        self.prior.len()
    }
    fn alphabet_size(&self) -> usize {
        self.alphabet
    }
    fn prior(&self) -> &QuantizedCategorical {
        &self.prior
    }
    fn likelihood(&self, z: usize, position: usize) -> &QuantizedCategorical {
        let j = if self.positions == 1 { 0 } else { position };
        &self.likelihood[z * self.positions + j]
    }
    fn same_likelihood_at_every_position(&self) -> bool {
        self.positions == 1
    }
}

/// Bits-back coding of `uint16` symbol streams with a discrete-latent model given as
/// probability arrays.
#[pyclass(module = "bbcodec._bbcodec")]
struct ArrayCoder {
    model: ArrayModel,
    block_size: usize,
    config: FitConfig,
}

fn categorical(row: &[f64], what: &str) -> PyResult<QuantizedCategorical> {
    if row.iter().any(|&p| p.is_nan() || p < 0.0 || !p.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "{what}: probabilities must be finite and non-negative"
        )));
    }
    QuantizedCategorical::from_float_weights(row, false)
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

#[pymethods]
impl ArrayCoder {
    #[new]
    #[pyo3(signature = (prior, likelihood, block_size, posterior="exact", iters=None, samples=None, lr=None, seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        prior: PyReadonlyArray1<'_, f64>,
        likelihood: PyReadonlyArrayDyn<'_, f64>,
        block_size: usize,
        posterior: &str,
        iters: Option<u32>,
        samples: Option<u32>,
        lr: Option<f32>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let prior = prior
            .as_slice()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let k = prior.len();
        if k == 0 {
            return Err(PyValueError::new_err("prior: at least one latent value"));
        }
        if block_size == 0 {
            return Err(PyValueError::new_err("block_size: at least 1"));
        }
        let shape = likelihood.shape().to_vec();
        let positions = match shape.as_slice() {
            [kk, _] if *kk == k => 1,
            [kk, b, _] if *kk == k && *b == block_size => block_size,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "likelihood has shape {shape:?}; expected ({k}, A) or ({k}, {block_size}, A)"
                )))
            }
        };
        let alphabet = *shape.last().expect("two or three axes");
        if alphabet == 0 || alphabet > 1 << 16 {
            return Err(PyValueError::new_err(format!(
                "likelihood: the alphabet has {alphabet} symbols; expected 1 to 65536"
            )));
        }
        let lik = likelihood.as_array();
        let flat: Vec<f64> = lik.iter().copied().collect();
        let mut rows = Vec::with_capacity(k * positions);
        for (i, row) in flat.chunks(alphabet).enumerate() {
            rows.push(categorical(
                row,
                &format!(
                    "likelihood row {i} (latent {}, position {})",
                    i / positions,
                    i % positions
                ),
            )?);
        }
        let mut config = FitConfig {
            posterior: match posterior {
                "exact" => PosteriorKind::Exact,
                "map" => PosteriorKind::Map,
                "bbvi" => PosteriorKind::Bbvi(Estimator::ScoreFunction),
                p => {
                    return Err(PyValueError::new_err(format!(
                        "posterior is '{p}', expected one of: exact, bbvi, map"
                    )))
                }
            },
            ..FitConfig::default()
        };
        if let Some(v) = iters {
            config.iterations = v;
        }
        if let Some(v) = samples {
            config.samples = v;
        }
        if let Some(v) = lr {
            config.learning_rate = v;
        }
        if let Some(v) = seed {
            config.seed = v;
        }
        Ok(Self {
            model: ArrayModel {
                prior: categorical(prior, "prior")?,
                likelihood: rows,
                positions,
                alphabet,
            },
            block_size,
            config,
        })
    }

    /// `encode(symbols) -> (words, bootstrap_blocks, seed, report_json)`.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        symbols: PyReadonlyArray1<'py, u16>,
    ) -> PyResult<(Bound<'py, PyArray1<u32>>, usize, u64, String)> {
        let x = symbols
            .as_slice()
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_vec();
        let coder = DiscreteBitsBackCoder::new(&self.model, self.block_size, self.config);
        let e = py.detach(|| coder.encode(&x, 0)).map_err(err)?;
        let t = &e.totals;
        let report = serde_json::json!({
            "symbols": x.len(),
            "blocks": t.blocks,
            "bootstrap_blocks": t.bootstrap_blocks,
            "words": e.words.len(),
            "total_bits": 32 * e.words.len(),
            "net_bits": t.net_bits,
            "coded_bits": t.coded_bits,
            "net_stderr_bits": t.net_variance_bits2.sqrt(),
            "neg_elbo_bits": t.neg_elbo_bits,
            "neg_log_px_bits": t.neg_log_px_bits,
            "kl_bits": t.kl_bits(),
            "overhead_bits": t.overhead_bits(),
            "bootstrap_bits": t.bootstrap_bits,
            "initial_bits": t.initial_bits,
        });
        Ok((
            PyArray1::from_vec(py, e.words),
            e.bootstrap_blocks,
            self.config.seed,
            report.to_string(),
        ))
    }

    /// `decode(words, n, bootstrap_blocks, seed) -> symbols` (`uint16`).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        words: PyReadonlyArray1<'py, u32>,
        n: usize,
        bootstrap_blocks: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArray1<u16>>> {
        let w = words
            .as_slice()
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_vec();
        let config = FitConfig {
            seed,
            ..self.config
        };
        let coder = DiscreteBitsBackCoder::new(&self.model, self.block_size, config);
        let d = py
            .detach(|| coder.decode(&w, n, bootstrap_blocks, 0))
            .map_err(err)?;
        Ok(PyArray1::from_vec(py, d.symbols))
    }
}

#[pymodule]
fn _bbcodec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BbcodecError", m.py().get_type::<BbcodecError>())?;
    m.add_function(wrap_pyfunction!(compress, m)?)?;
    m.add_function(wrap_pyfunction!(decompress, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_class::<StreamWriter>()?;
    m.add_class::<StreamReader>()?;
    m.add_class::<ArrayCoder>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
