//! The code steps of the schema migrations, frozen with them: each calls
//! no live domain code, so that an old archive upgrades the same way
//! whatever today's ledger, export or profile code does (cargo's
//! `util/sqlite.rs` is the model).

pub(super) mod v2;
