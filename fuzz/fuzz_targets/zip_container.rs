//! A zip container: any bytes opened as a zip, every member read through
//! the readers as an ingest reads them.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(data)) else {
        return;
    };
    let profiles = common::profiles();
    for i in 0..zip.len().min(64) {
        let Ok(member) = zip.by_index(i) else {
            continue;
        };
        if member.is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(member.name_raw()).into_owned();
        let mut sink = common::Count::default();
        // Bounded: a zip bomb must not take the run's memory or time.
        let limited = std::io::Read::take(member, 1 << 22);
        let _ = convault::source::read_member(limited, &name, profiles, &mut sink, None);
    }
});
