//! The archive's own settings, `DIR/config.toml`, and the trigger commands
//! it configures.
//!
//! ```toml
//! [trigger.transcripts]
//! command = ["/usr/local/bin/start-transcript-export", "--org", "00D000000000001"]
//! timeout_seconds = 600   # default 600
//!
//! [trigger.data-export]
//! command = ["/usr/local/bin/start-data-export"]
//! ```
//!
//! `[api]` configures `convault fetch` (docs/fetch.md, [`crate::fetch::config`]).
//!
//! A trigger is run by `convault request` after the cadence check passes,
//! directly (no shell), with the environment variables `CONVAULT_ARCHIVE`,
//! `CONVAULT_EXPORT_KIND` and `CONVAULT_REQUESTED_BY`. Its exit status and
//! output are recorded in the ledger. Unknown keys are errors, so a typo
//! never silently disables a trigger.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::export::ExportKind;

/// The configuration file's name inside the archive directory.
pub const FILE_NAME: &str = "config.toml";
/// How much of a trigger's stdout and of its stderr the ledger keeps.
pub const MAX_OUTPUT: usize = 16 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Trigger commands by export kind (`transcripts`, `data-export`).
    #[serde(default)]
    pub trigger: BTreeMap<String, Trigger>,
    /// Reading conversations through the APIs (`convault fetch`,
    /// docs/fetch.md).
    pub api: Option<crate::fetch::config::ApiConfig>,
    /// Evidence packages (`convault produce`, docs/produce.md).
    pub produce: Option<ProduceConfig>,
}

/// `[produce]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceConfig {
    /// `Source-Organization` in every bag's `bag-info.txt`.
    pub source_organization: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The command is stopped and counted failed after this long.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    600
}

impl Config {
    /// Reads `DIR/config.toml`; no file is an empty configuration.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Config::parse(&path, &text)
    }

    /// `text`, the contents of the configuration file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let bad = |reason: String| Error::Config {
            path: path.to_owned(),
            reason,
        };
        let config: Config = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if let Some(api) = &config.api {
            api.check().map_err(bad)?;
        }
        for (name, trigger) in &config.trigger {
            if ExportKind::parse(name).is_none() {
                return Err(bad(format!(
                    "[trigger.{name}]: unknown export kind (known: transcripts, data-export)"
                )));
            }
            if trigger.command.is_empty() || trigger.command[0].is_empty() {
                return Err(bad(format!("[trigger.{name}]: command is empty")));
            }
        }
        Ok(config)
    }

    /// The trigger for `kind`, if one is configured.
    pub fn trigger(&self, kind: ExportKind) -> Option<&Trigger> {
        self.trigger.get(kind.as_str())
    }
}

/// What a trigger run did, as recorded in the ledger.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TriggerRun {
    pub command: Vec<String>,
    /// The exit status; `null` when it could not start, timed out or was
    /// killed by a signal.
    pub exit_code: Option<i32>,
    pub ok: bool,
    /// Why it failed, in words, when it did.
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

impl Trigger {
    /// Runs the trigger and waits for it (at most its timeout).
    pub fn run(&self, root: &Path, kind: ExportKind, who: &str) -> TriggerRun {
        let started = Instant::now();
        let mut run = TriggerRun {
            command: self.command.clone(),
            exit_code: None,
            ok: false,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
        };
        let Some((program, args)) = self.command.split_first() else {
            run.error = Some("the command is empty".into());
            return run;
        };
        let spawned = Command::new(program)
            .args(args)
            .env("CONVAULT_ARCHIVE", absolute(root))
            .env("CONVAULT_EXPORT_KIND", kind.as_str())
            .env("CONVAULT_REQUESTED_BY", who)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                run.error = Some(format!("could not start {program:?}: {e}"));
                return run;
            }
        };
        // Both pipes are drained on their own threads, so a chatty command
        // never blocks on a full pipe.
        let out = child
            .stdout
            .take()
            .map(|p| std::thread::spawn(move || capture(p)));
        let err = child
            .stderr
            .take()
            .map(|p| std::thread::spawn(move || capture(p)));
        let timeout = Duration::from_secs(self.timeout_seconds);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "timed out after {} s and was stopped",
                        self.timeout_seconds
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(format!("could not wait for it: {e}")),
            }
        };
        run.stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        run.stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        run.duration_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        match status {
            Ok(status) => {
                run.exit_code = status.code();
                run.ok = status.success();
                if !run.ok {
                    run.error = Some(match status.code() {
                        Some(code) => format!("exited with status {code}"),
                        None => format!("ended by a signal ({status})"),
                    });
                }
            }
            Err(why) => run.error = Some(why),
        }
        run
    }
}

/// Reads a pipe to its end, keeping the first [`MAX_OUTPUT`] bytes.
fn capture(mut pipe: impl Read) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut total = 0usize;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    let mut s = String::from_utf8_lossy(&kept).into_owned();
    if total > kept.len() {
        s.push_str(&format!("\n[… {} more bytes not kept]", total - kept.len()));
    }
    s
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        Config::load(dir.path())
    }

    #[test]
    fn reads_triggers_and_rejects_mistakes() {
        let c = load("[trigger.transcripts]\ncommand = [\"true\"]\n").unwrap();
        assert_eq!(
            c.trigger(ExportKind::Transcripts).unwrap().timeout_seconds,
            600
        );
        assert!(c.trigger(ExportKind::DataExport).is_none());
        for bad in [
            "[trigger.transcript]\ncommand = [\"true\"]\n",
            "[trigger.transcripts]\ncomand = [\"true\"]\n",
            "[trigger.transcripts]\ncommand = []\n",
            "[trigger.transcripts\n",
        ] {
            let err = load(bad).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("config.toml"), "{err}");
        }
        let none = tempfile::tempdir().unwrap();
        assert!(Config::load(none.path()).unwrap().trigger.is_empty());
        // A wrong [api] value is refused when the file is read.
        let err = load(
            "[api]\ninstance_url = \"http://example.com\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("instance_url"), "{err}");
        assert!(load("[api]\ninstance_url = \"https://x.my.salesforce.com\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n").unwrap().api.is_some());
    }

    #[test]
    fn records_success_failure_output_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let t = |cmd: &[&str], timeout| Trigger {
            command: cmd.iter().map(|s| s.to_string()).collect(),
            timeout_seconds: timeout,
        };
        let ok = t(
            &[
                "sh",
                "-c",
                "echo started $CONVAULT_EXPORT_KIND by $CONVAULT_REQUESTED_BY",
            ],
            10,
        )
        .run(dir.path(), ExportKind::Transcripts, "alice");
        assert!(ok.ok, "{ok:?}");
        assert_eq!(ok.stdout, "started transcripts by alice\n");
        let bad = t(&["sh", "-c", "echo no >&2; exit 3"], 10).run(
            dir.path(),
            ExportKind::DataExport,
            "a",
        );
        assert_eq!(
            (bad.ok, bad.exit_code, bad.stderr.as_str()),
            (false, Some(3), "no\n")
        );
        let missing =
            t(&["/nonexistent/convault-trigger"], 10).run(dir.path(), ExportKind::DataExport, "a");
        assert!(!missing.ok && missing.error.unwrap().contains("could not start"));
        let slow = t(&["sleep", "5"], 0).run(dir.path(), ExportKind::DataExport, "a");
        assert!(!slow.ok && slow.error.unwrap().contains("timed out"));
    }
}
