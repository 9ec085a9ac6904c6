//! convault: a verified, searchable, tamper-evident retention archive for
//! Salesforce conversation exports.
//!
//! The binary (`src/main.rs`) only parses the command line and maps errors to
//! exit codes; everything else lives here so tests and benchmarks call it
//! directly. Modules are named for what they own:
//!
//! - [`archive`]: the archive directory, its SQLite database and object store.
//! - [`source`]: finding input files and reading their members by content.
//! - [`entry`]: one conversation entry, normalised, with its content hash.
//! - [`text`]: searchable text and event descriptions from entry payloads.
//! - [`ingest`]: one export into the archive, in one transaction.
//! - [`search`] and [`transcript`]: reading the archive back.
//! - [`ledger`]: the hash-chained record of requests, ingests and overrides.
//! - [`export`]: what an export is: its kind, how it is recognised, when it was generated.
//! - [`cadence`]: the once-per-interval export rule, derived from the ledger.
//! - [`lock`]: one writer at a time. [`config`]: `config.toml` and triggers.
//! - [`clock`]: the current time and the acting user.
//! - [`verify`]: re-checking objects, members, entries, index and ledger.
//! - [`receipt`]: what an auditor needs to check one export by hand.
//! - [`retention`]: the retention policy, legal holds and what is due for
//!   disposition, derived from the ledger.
//! - [`writer`]: the writer session every writing command begins with.
//! - [`interrupt`]: Ctrl-C and SIGTERM during an ingest.
//! - [`cmd`]: one file per subcommand, printing results.

pub mod archive;
pub mod cadence;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod entry;
pub mod error;
pub mod exit;
pub mod export;
pub mod failpoint;
pub mod fetch;
pub mod hashing;
pub mod ingest;
pub mod interrupt;
pub mod ledger;
pub mod lock;
pub mod produce;
pub mod profile;
pub mod progress;
pub mod receipt;
pub mod request;
pub mod retention;
pub mod sanitize;
pub mod search;
pub mod source;
pub mod text;
pub mod timestamp;
pub mod transcript;
pub mod verify;
pub mod writer;

pub use error::{Error, Result};
pub use exit::ExitCode;
