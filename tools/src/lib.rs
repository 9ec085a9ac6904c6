//! convault's test and benchmark support, one crate for the tests, the
//! benchmarks and the tools (`src/bin`):
//!
//! - [`fixture_data`]: the bundled fixture exports, built byte by byte
//!   (`cargo run -p convault-test-support --bin make-fixtures` writes them
//!   to `fixtures/`);
//! - [`synth`]: large synthetic exports for the benchmarks (`--bin synth`);
//! - [`fake_org`]: a fake Salesforce org on 127.0.0.1 for `fetch`;
//! - [`http`]: a one-request-per-connection HTTP server on 127.0.0.1 for
//!   the unit tests of convault's HTTP client.

pub mod fake_org;
pub mod fixture_data;
pub mod http;
pub mod synth;
