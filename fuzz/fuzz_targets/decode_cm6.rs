//! A valid (format version 2) header of the context-mixing model at level 6 (the
//! default level's predictor, with the runs kept in its tables' check words) followed
//! by arbitrary bytes (see `cm.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

mod cm;

fuzz_target!(|data: &[u8]| cm::decode(6, data));
