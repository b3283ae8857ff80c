//! What the cm targets share: a valid (format version 2) header of the context-mixing
//! model at a level (small tables, 64-byte blocks, 4 KiB chunks, a short fit so
//! executions stay fast) followed by the fuzzer's bytes: chunk records, segments, the
//! latent scales and the history chain.

/// Decode the header of the cm model at `level`, then `data`.
pub fn decode(level: u8, data: &[u8]) {
    let model = bbcodec::ModelConfig::Cm(bbcodec::model::CmConfig {
        level,
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
}
