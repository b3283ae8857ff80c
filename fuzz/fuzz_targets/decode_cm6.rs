//! A valid (format version 2) header of the context-mixing model at level 6 (the
//! default level's predictor, with the runs kept in its tables' check words; small
//! tables, 64-byte blocks, 4 KiB chunks, a short fit so executions stay fast) followed
//! by arbitrary bytes: chunk records, segments, the latent scales and the history chain.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let model = bbcodec::ModelConfig::Cm(bbcodec::model::CmConfig {
        level: 6,
        table_bits: 12,
        ..Default::default()
    });
    let mut opts = bbcodec::EncodeOptions::with_model(model);
    opts.block_size = 64;
    opts.chunk_size = 4096;
    opts.threads = 1;
    opts.fit.iterations = 2;
    let mut file = opts.header_bytes().expect("valid options");
    file.extend_from_slice(data);
    let _ = bbcodec::decompress(&file, &bbcodec::DecodeOptions { threads: 1, ..Default::default() });
});
