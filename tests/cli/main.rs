//! Integration tests: the real `convault` binary on the bundled fixtures and
//! on exports built here, checking exit codes, messages and the archive.

use convault_test_support as support;
mod util;

mod crash;
mod faults;
mod fetch;
mod hostile;
mod hostile_org;
mod ingest;
mod ledger;
mod order;
mod outputs;
mod produce;
mod profiles;
mod reading;
mod removal;
mod retention;
mod search;
mod sources;
mod trust;
mod verify;
mod weekly;

#[allow(unused_imports)]
use util::*;
