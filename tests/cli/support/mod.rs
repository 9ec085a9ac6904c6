//! Shared test helpers: the fixture generator and the synthetic exports.

pub(crate) mod fake_org;
pub(crate) mod fixture_data;
pub(crate) mod synth;
