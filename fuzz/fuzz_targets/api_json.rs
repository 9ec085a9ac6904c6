//! An API page or NDJSON: any bytes, read as an ingest reads a JSON member
//! (the name carries no conversation, so pages must name theirs).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = common::Count::default();
    let _ = convault::source::api_json::read(data, "entries.ndjson", &mut sink);
});
