//! `convault fetch`: reading conversations through Salesforce's APIs
//! (docs/fetch.md): the `[api]` configuration ([`config`]), the activation
//! budget ([`budget`]) and its shared record ([`activations`]), what the
//! archive already holds complete ([`archived`]), the client
//! secret ([`secret`]), the HTTP client ([`http`]), the SOQL query that
//! finds conversations ([`query`]), the entries APIs' paging ([`entries`]),
//! the loop that reserves each read before making it ([`run`]) and the
//! plan that replays it ([`plan`]); `cmd::fetch` ties them together and
//! ingests the pages as an export of kind `api`.

pub mod activations;
pub mod archived;
pub mod budget;
pub mod config;
pub mod entries;
pub mod http;
pub mod plan;
pub mod query;
pub mod run;
pub mod secret;
