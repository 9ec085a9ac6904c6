//! A removal's JSON rewrite: any bytes and lines to remove; whenever it
//! succeeds, the output keeps the input's length and line ends.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, lines) = input;
    let starts: BTreeSet<u64> = lines.iter().map(|&l| u64::from(l % 16) + 1).collect();
    let mut out = Vec::new();
    if convault::retention::derive::json_without(&data[..], &starts, &mut out).is_ok() {
        assert_eq!(out.len(), data.len());
        let ends = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        assert_eq!(ends(&out), ends(&data));
    }
});
