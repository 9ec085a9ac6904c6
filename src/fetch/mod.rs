//! `convault fetch`: reading conversations through Salesforce's APIs
//! (issue 13). Built so far: the activation budget ([`budget`]) and the
//! `[api]` configuration ([`crate::config::ApiConfig`]); the HTTP client,
//! the fake org and the command itself are not built yet (docs/fetch.md).

pub mod activations;
pub mod budget;
pub mod config;
pub mod http;
pub mod secret;
