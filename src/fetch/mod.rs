//! `convault fetch`: reading conversations through Salesforce's APIs
//! (issue 13, docs/fetch.md). Built so far: the `[api]` configuration
//! ([`config`]), the activation budget ([`budget`]) and its shared record
//! ([`activations`]), the client secret ([`secret`]), the HTTP client
//! ([`http`]), the entries APIs' paging ([`entries`]) and the loop that
//! reserves each read before making it ([`run`]). The command that ties
//! them together is not built yet.

pub mod activations;
pub mod budget;
pub mod config;
pub mod entries;
pub mod http;
pub mod run;
pub mod secret;
