//! Retention: how long conversations are kept, what is held beyond that,
//! and which conversations are due for disposition.
//!
//! Everything here is derived from the ledger, never from `config.toml`:
//! the policy is the newest `retention-set` record; a legal hold is a
//! `hold-placed` record not followed by a `hold-released` record of the
//! same placement. So neither can change without a hash-chained record of
//! who changed it, when, and why.
//!
//! Invariants:
//! - A conversation's retention basis is its last entry's time (the
//!   latest `coalesce(server_ms, client_ms)` of any version). One with no
//!   timed entry is never due: its age cannot be known.
//! - A conversation is due when its last entry is earlier than the
//!   cutoff: now minus the period, in calendar arithmetic in UTC, and
//!   never later than now minus the minimum, whatever the period says.
//! - A conversation under any active hold is never due, nor erasable.

pub mod certificate;
pub mod derive;
pub mod due;
pub mod erase;
pub mod hold;
pub mod period;
pub mod policy;
pub mod remove;

pub use period::Period;
pub use policy::Policy;

/// Ledger record kinds written here.
pub mod kind {
    /// A retention policy set or changed (`convault retention set`).
    pub const RETENTION_SET: &str = "retention-set";
    /// A legal hold placed (`convault hold place`).
    pub const HOLD_PLACED: &str = "hold-placed";
    /// A legal hold released (`convault hold release`).
    pub const HOLD_RELEASED: &str = "hold-released";
    /// Conversations past retention removed (`convault dispose --execute`).
    pub const DISPOSITION: &str = "disposition";
    /// Conversations removed at a data subject's request (`convault erase
    /// --execute`).
    pub const ERASURE: &str = "erasure";
}
