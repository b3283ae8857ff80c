//! The MNIST table: bbcodec's `mnist` model on the 2000 held-out test images
//! (8000..9999 of `t10k-images-idx3-ubyte.gz`) against gzip -9, bzip2 -9, xz -9,
//! zstd -19 (the same IDX bytes) and PNG (each image on its own, best compression).
//!
//! `cargo bench --bench mnist` prints the full table; under `cargo test` it codes 8
//! images and checks the round trip. Skips when `../shared/corpus` is absent.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use bbcodec::model::mnist::idx::{read_images, IdxHeader};
use bbcodec::model::mnist::PIXELS;
use bbcodec::{compress, decompress, DecodeOptions, EncodeOptions, ModelKind};

const CORPUS: &str = "../shared/corpus/t10k-images-idx3-ubyte.gz";

fn png_bytes(img: &[u16]) -> usize {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut w = enc.write_header().expect("png header");
        let px: Vec<u8> = img.iter().map(|&v| v as u8).collect();
        w.write_image_data(&px).expect("png data");
    }
    out.len()
}

/// Compressed size of `path` by `cmd args`, or None if the tool is missing.
fn external(cmd: &str, args: &[&str], path: &Path) -> Option<usize> {
    let out = Command::new(cmd).args(args).arg(path).output().ok()?;
    out.status.success().then_some(out.stdout.len())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let Ok(gz) = std::fs::read(CORPUS) else {
        eprintln!("mnist bench: {CORPUS} not found, skipped");
        return;
    };
    let images = read_images(&gz).expect("corpus is an IDX image file");
    let held_out = &images[8000..];
    let n = if full { held_out.len() } else { 8 };
    let mut file = IdxHeader::bytes_for(n as u32).to_vec();
    for img in &held_out[..n] {
        file.extend(img.iter().map(|&v| v as u8));
    }
    let pixels = (n * PIXELS) as f64;
    let mut o = EncodeOptions::for_model(ModelKind::Mnist);
    if !full {
        o.chunk_size = 4 * PIXELS as u32;
    }
    let t = Instant::now();
    let (coded, rep) = compress(&file, &o).expect("encode");
    let enc_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (back, _) = decompress(&coded, &DecodeOptions::default()).expect("decode");
    let dec_s = t.elapsed().as_secs_f64();
    assert_eq!(back, file, "round trip");
    let coded_px = rep.blocks as f64 * PIXELS as f64;
    println!(
        "MNIST held-out images 8000..{}: {n} images, {} IDX bytes",
        8000 + n - 1,
        file.len()
    );
    println!("{:<28} {:>10} {:>8}", "coder", "bytes", "bits/px");
    let row = |name: &str, bytes: usize| {
        println!(
            "{name:<28} {bytes:>10} {:>8.4}",
            8.0 * bytes as f64 / pixels
        );
    };
    row("bbcodec mnist (all-in)", coded.len());
    println!(
        "{:<28} {:>10} {:>8.4}",
        "  net (bits-back images)",
        "",
        rep.net_bits / coded_px
    );
    println!(
        "{:<28} {:>10} {:>8.4}",
        "  -ELBO",
        "",
        rep.neg_elbo_bits / coded_px
    );
    println!(
        "{:<28} {:>10} {:>8.4}",
        "  IWAE -log2 P(x)",
        "",
        rep.neg_log_px_bits / coded_px
    );
    println!(
        "  net - (-ELBO) = {:+.1} bits ({:+.3}%, stderr {:.1}); initial bits {:.0}; chunk starts {} images",
        rep.net_bits - rep.neg_elbo_bits,
        100.0 * (rep.net_bits - rep.neg_elbo_bits) / rep.neg_elbo_bits,
        rep.net_stderr_bits,
        rep.initial_bits,
        rep.bootstrap_blocks
    );
    println!(
        "  speed: encode {:.1} images/s, decode {:.1} images/s ({} threads)",
        n as f64 / enc_s,
        n as f64 / dec_s,
        std::thread::available_parallelism().map_or(1, |v| v.get())
    );
    let png: usize = held_out[..n].iter().map(|x| png_bytes(x)).sum();
    row("PNG (per image, best)", png);
    if !full {
        return;
    }
    let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
    tmp.write_all(&file).expect("write temp");
    for (name, cmd, args) in [
        ("gzip -9", "gzip", &["-9", "-c"][..]),
        ("bzip2 -9", "bzip2", &["-9", "-c"][..]),
        ("xz -9", "xz", &["-9", "-c"][..]),
        ("zstd -19", "zstd", &["-19", "-c", "-q"][..]),
    ] {
        match external(cmd, args, tmp.path()) {
            Some(b) => row(name, b),
            None => println!("{name:<28} (not installed)"),
        }
    }
}
