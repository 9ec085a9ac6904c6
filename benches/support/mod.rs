//! Helpers shared by the benchmarks: timing child processes, medians.

// Each benchmark uses part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) use convault_test_support::synth;

/// The options every benchmark takes.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// Entries in the synthetic export
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Timed runs of each side
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where to write the export and the databases [default: a temporary directory]
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    pub bench: bool,
}

/// Where a benchmark works, and the synthetic export it wrote there.
pub(crate) struct Workspace {
    /// Removed when dropped, unless `--dir` was given.
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub zip: PathBuf,
    /// The same rows as one plain CSV, when asked for.
    pub csv: Option<PathBuf>,
}

impl Common {
    /// Writes the synthetic export of `--entries` entries (4 members of
    /// 250,000 rows at most) into `--dir` or a temporary directory, and
    /// the same rows as a CSV too when `with_csv`.
    pub(crate) fn prepare(&self, with_csv: bool) -> Result<Workspace, Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = self.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
        std::fs::create_dir_all(&dir)?;
        let zip = dir.join("synth.zip");
        let csv = with_csv.then(|| dir.join("synth.csv"));
        eprintln!("writing {} entries to {}", self.entries, zip.display());
        synth::write(&zip, csv.as_deref(), self.entries, 250_000, 1)?;
        Ok(Workspace {
            _tmp: tmp,
            dir,
            zip,
            csv,
        })
    }
}

/// One timed child process.
pub(crate) struct Run {
    pub wall: Duration,
    pub max_rss_kib: i64,
    /// Its standard output.
    pub stdout: Vec<u8>,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `cmd` (with `stdin` text, if any) after a `sync`, and returns its
/// wall time and peak RSS. Fails if it exits non-zero.
pub(crate) fn timed(
    cmd: &mut Command,
    stdin: Option<&str>,
) -> Result<Run, Box<dyn std::error::Error>> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::io::Write::write_all(&mut pipe, text.as_bytes())?;
    }
    // Drained on a thread: a full pipe must never stall the timed child.
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut buf);
            buf
        })
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unreaped child; status and usage are valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if r != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()).into());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed (status {status})").into());
    }
    let stdout = reader.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Run {
        wall,
        max_rss_kib: usage.ru_maxrss,
        stdout,
    })
}
