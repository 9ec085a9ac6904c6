//! Ctrl-C and `SIGTERM` during an ingest: asked to stop, the ingest stops
//! at its next read or row, rolls back, and (a first ingest) removes the
//! archive directory it created, so that an interrupted first ingest
//! leaves nothing behind. A second signal ends the process at once.
//!
//! Only commands that install the handler ([`install`]) are stopped;
//! everywhere else the signals keep their default action.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap, and `_exit`.
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe and takes any status.
        unsafe { libc::_exit(130) };
    }
}

/// Catches `SIGINT` and `SIGTERM` for the rest of the process.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches an
        // atomic and calls `_exit`, both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// [`Error::Interrupted`] once a stop was asked for.
pub fn check() -> Result<()> {
    if requested() {
        Err(Error::Interrupted { removed: None })
    } else {
        Ok(())
    }
}
