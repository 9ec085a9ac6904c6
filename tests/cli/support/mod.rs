//! Shared test helpers: the fixture generator and the synthetic exports.

pub mod fake_org;
pub mod fixture_data;
pub mod synth;
