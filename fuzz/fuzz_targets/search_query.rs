//! The search query language: any text, split into terms as a shell
//! would (on spaces), parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = convault::search::query::parse(text);
    let terms: Vec<String> = text.split(' ').map(str::to_owned).collect();
    let _ = convault::search::Query::parse(&terms);
});
