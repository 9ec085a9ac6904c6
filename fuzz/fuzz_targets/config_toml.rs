//! An archive's `config.toml`: any text, parsed and checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = convault::config::Config::parse(std::path::Path::new("config.toml"), text);
});
