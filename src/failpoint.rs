//! Crash points for the kill tests: when the environment variable
//! `CONVAULT_FAILPOINT` names one, the process dies there at once
//! (`abort`: no destructor runs, nothing is flushed or cleaned up), as a
//! kill or a power cut would leave it. Unset, a crash point costs one
//! environment look-up.

/// Dies here if `CONVAULT_FAILPOINT` is `name`.
pub fn hit(name: &str) {
    if std::env::var_os("CONVAULT_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}
