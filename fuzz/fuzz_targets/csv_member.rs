//! A CSV member through the profiles: any bytes, read as an ingest reads
//! a member (header recognised by content, rows parsed or quarantined).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let profiles = common::profiles();
    let mut sink = common::Count::default();
    let _ =
        convault::source::read_member(data, "conversation_entries.csv", profiles, &mut sink, None);
});
