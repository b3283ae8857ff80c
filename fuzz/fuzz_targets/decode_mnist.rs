//! A valid mnist-model header (one image per chunk, a short fit so executions stay
//! fast) followed by arbitrary bytes: chunk records, the model id and the image chain.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mnist);
    opts.chunk_size = 784;
    opts.threads = 1;
    opts.fit.iterations = 2;
    let empty = bbcodec::idx::IdxHeader::bytes_for(0);
    let (mut file, _) = bbcodec::compress(&empty, &opts).expect("an empty IDX file encodes");
    file.truncate(bbcodec::container::HEADER_BYTES);
    file.extend_from_slice(data);
    let _ = bbcodec::decompress(&file, &bbcodec::DecodeOptions { threads: 1, ..Default::default() });
});
