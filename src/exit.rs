//! The process exit codes: one documented enum, shared by every command.
//!
//! The numbers are part of convault's interface (schedulers and scripts
//! branch on them); never renumber a variant, only add new ones.

/// How a convault process ends. Documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// An error not covered below (I/O, database, unknown conversation, ...).
    Error = 1,
    /// The command line was wrong.
    Usage = 2,
    /// An integrity check found a failure.
    Integrity = 3,
    /// Refused by a rule: the export cadence rule, (`fetch --no-wait`) the
    /// activation budget, a legal hold, or the retention minimum.
    Cadence = 4,
    /// Another process holds the archive.
    Locked = 5,
    /// The input was rejected (damaged zip, failed CRC, unreadable export).
    InputRejected = 6,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
