//! `convault fetch`: reading conversations through Salesforce's APIs
//! (issue 13, docs/fetch.md). Built so far: the `[api]` configuration
//! ([`config`]), the activation budget ([`budget`]) and its shared record
//! ([`activations`]), the client secret ([`secret`]), the HTTP client
//! ([`http`]), the entries APIs' paging ([`entries`]) and the loop that
//! reserves each read before making it ([`run`]); `cmd::fetch` ties them
//! together. Not built yet: the SOQL query, `--plan`, an export kind `api`.

pub mod activations;
pub mod budget;
pub mod config;
pub mod entries;
pub mod http;
pub mod plan;
pub mod query;
pub mod run;
pub mod secret;
