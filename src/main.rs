//! The convault binary: parse the command line, run, map errors to exit
//! codes. Everything else lives in the library.

use std::io;

use clap::Parser;
use convault::cli::Cli;
use convault::sanitize::for_terminal;
use convault::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match convault::cmd::run(cli) {
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
            let message = format!("{err:#}");
            let lines: Vec<_> = message.lines().map(for_terminal).collect();
            eprintln!("convault: error: {}", lines.join("\n"));
            err.chain()
                .find_map(|e| e.downcast_ref::<Error>())
                .map_or(ExitCode::Error, Error::exit_code)
                .into()
        }
    }
}

/// mimalloc: the ingest allocates many small strings on one thread and
/// frees them on another, where glibc's allocator contends on its locks
/// (measured: docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
