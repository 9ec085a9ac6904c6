//! The convault binary: parse the command line, run, map errors to exit
//! codes. Everything else lives in the library.

use std::io;

use convault::sanitize::for_terminal;
use convault::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    purge_freed_memory_at_once();
    let cli = convault::cli::parse_args(std::env::args_os());
    match convault::cmd::run(cli.archive, cli.command) {
        Ok(code) => code.into(),
        Err(err) => {
            // A closed pipe (`convault search x | head`) is a normal end.
            if err.chain().any(|e| {
                e.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::Ok.into();
            }
            // Line by line: a message may quote a command's output.
            let message = chain_text(&err);
            let lines: Vec<_> = message.lines().map(for_terminal).collect();
            eprintln!("convault: error: {}", lines.join("\n"));
            err.chain()
                .find_map(|e| e.downcast_ref::<Error>())
                .map_or(ExitCode::Error, Error::exit_code)
                .into()
        }
    }
}

/// The error and its causes, each once: a typed error that names its
/// cause in its own message (a file and its OS error) is not followed by
/// that cause again.
fn chain_text(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for e in err.chain() {
        let text = e.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// mimalloc: the ingest allocates many small strings on one thread and
/// frees them on another, where glibc's allocator contends on its locks
/// (measured: docs/performance-history.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_e`, the same
/// in mimalloc 2 and 3 (a test below checks it by its default and its
/// neighbours').
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed goes back to the system at once rather than a second later
/// (mimalloc 3's default): an ingest frees and allocates batches of rows
/// without pause, and the delay kept a fifth more memory at the peak of a
/// first ingest (158 MiB against 129 MiB for a million entries,
/// docs/performance-history.md).
fn purge_freed_memory_at_once() {
    // SAFETY: sets one of mimalloc's documented options by value, before
    // any other thread starts; no pointer is passed.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    /// The option set is the purge delay: mimalloc 3's table has it at
    /// 1000 (milliseconds), after the deprecated eager-commit delay (1)
    /// and before the NUMA nodes (0). A mimalloc whose options moved fails
    /// here, not silently.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        use libmimalloc_sys::mi_option_get;
        // SAFETY: reads options by value.
        let around = unsafe {
            [
                mi_option_get(super::MI_OPTION_PURGE_DELAY - 1),
                mi_option_get(super::MI_OPTION_PURGE_DELAY),
                mi_option_get(super::MI_OPTION_PURGE_DELAY + 1),
            ]
        };
        assert_eq!(around, [1, 1000, 0]);
    }
}
