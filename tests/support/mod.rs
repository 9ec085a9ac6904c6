//! Shared test helpers: the fixture generator and the synthetic exports.

pub mod fixture_data;
pub mod synth;
