//! A valid (format version 2) mnist-model header (one image per chunk, a short fit so executions stay
//! fast) followed by arbitrary bytes: chunk records, the model id and the image chain.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mnist);
    opts.chunk_size = 784;
    opts.threads = 1;
    opts.fit.iterations = 2;
    let mut file = opts.header_bytes().expect("valid options");
    file.extend_from_slice(data);
    let _ = bbcodec::decompress(&file, &bbcodec::DecodeOptions { threads: 1, ..Default::default() });
});
