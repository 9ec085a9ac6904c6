//! A profile file given with `--profile`: any text, parsed and loaded
//! beside the built-in profiles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profiles) = convault::profile::parse(std::path::Path::new("fuzz.toml"), text) {
        let _ = convault::profile::Profiles::with(profiles);
    }
});
