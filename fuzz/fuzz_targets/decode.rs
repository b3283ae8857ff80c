//! Decode arbitrary bytes: must return Ok or Err, never panic, hang or over-allocate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bbcodec::decompress(data, &bbcodec::DecodeOptions { threads: 1, ..Default::default() });
});
