//! A valid (format version 2) mixture-model header (small blocks and chunks) followed by arbitrary bytes, so the
//! fuzzer spends its time in chunk records, parameters and the bits-back chain.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = bbcodec::EncodeOptions {
        block_size: 16,
        chunk_size: 256,
        threads: 1,
        ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture)
    };
    opts.fit.iterations = 16;
    opts.fit.samples = 4;
    let mut file = opts.header_bytes().expect("valid options");
    file.extend_from_slice(data);
    let _ = bbcodec::decompress(&file, &bbcodec::DecodeOptions { threads: 1, ..Default::default() });
});
