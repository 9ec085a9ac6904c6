//! What every reader target shares: a sink that keeps nothing, and the
//! built-in profiles.

use convault::entry::Entry;
use convault::error::Result;
use convault::source::RowSink;
use convault::source::records::ObjectRecord;

/// Counts what a reader hands over, keeping nothing.
#[derive(Default)]
pub struct Count(pub u64);

impl RowSink for Count {
    fn entry(&mut self, _: Option<u64>, _: Entry) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn record(&mut self, _: Option<u64>, _: ObjectRecord) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn quarantine_row(&mut self, _: Option<u64>, _: String, _: Option<String>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// The built-in profiles, as an ingest given none reads with: loaded once
/// (not parsed again for every input).
#[allow(dead_code)]
pub fn profiles() -> &'static convault::profile::Profiles {
    static PROFILES: std::sync::OnceLock<convault::profile::Profiles> = std::sync::OnceLock::new();
    PROFILES.get_or_init(|| {
        convault::profile::Profiles::with(Vec::new()).expect("the built-in profiles load")
    })
}
