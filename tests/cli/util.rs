//! Helpers shared by the integration tests: the binary, the fixtures,
//! the archive's database, ingests and JSON outputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) use super::support::fixture_data::{
    self, CONV_A, CONV_B, CONV_C, Member, REDACTED_ENTRY,
};
use assert_cmd::Command;
use rusqlite::Connection;
use serde_json::Value;

pub(crate) const WEEK1: &str = "transcripts-2026-11-09.zip";
pub(crate) const WEEK2: &str = "transcripts-2026-11-16.zip";

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// `convault --archive DIR`, with no archive from the environment.
pub(crate) fn convault(archive: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
    c.env_remove("CONVAULT_ARCHIVE")
        .arg("--archive")
        .arg(archive);
    c
}

/// Writes the Data Export Service fixture's two parts under `dir` and
/// ingests them as one export.
pub(crate) fn ingest_data_export(archive: &Path, dir: &Path) -> Value {
    let (part1, part2) = fixture_data::data_export_parts();
    let p1 = dir.join("WE_00DKj0000000001_1.ZIP");
    let p2 = dir.join("WE_00DKj0000000001_2.ZIP");
    write_zip(&p1, &part1);
    write_zip(&p2, &part2);
    ingest(archive, &[&p1, &p2])
}

/// The ledger records of `kind`, in order.
pub(crate) fn ledger_records(archive: &Path, kind: &str) -> Vec<Value> {
    let out = convault(archive)
        .args(["ledger", "show", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let all: Value = serde_json::from_slice(&out).expect("ledger show --json prints JSON");
    all.as_array()
        .expect("an array")
        .iter()
        .filter(|r| r["kind"] == kind)
        .cloned()
        .collect()
}

/// Runs `ingest --json` and returns the report; the exit code must be 0.
pub(crate) fn ingest(archive: &Path, paths: &[&Path]) -> Value {
    let out = convault(archive)
        .arg("ingest")
        .arg("--json")
        .args(paths)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("ingest --json prints one JSON object")
}

pub(crate) fn db(archive: &Path) -> Connection {
    Connection::open(archive.join("archive.sqlite")).expect("archive database")
}

pub(crate) fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

pub(crate) fn write_zip(path: &Path, members: &[Member]) {
    std::fs::write(path, fixture_data::zip(members)).expect("write zip");
}

pub(crate) fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read");
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running `convault ingest` of a 60,000-entry synthetic export (big
/// enough to take a while), started in `tmp` against `archive`.
pub(crate) struct BigIngest {
    pub(crate) child: std::process::Child,
}

impl BigIngest {
    pub(crate) fn start(tmp: &Path, archive: &Path) -> BigIngest {
        let big = tmp.join("big.zip");
        super::support::synth::write(&big, None, 60_000, 20_000, 7).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_convault"))
            .arg("--archive")
            .arg(archive)
            .arg("ingest")
            .arg(&big)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        BigIngest { child }
    }

    /// Waits (20 s at most) until `ready` holds or the ingest ends;
    /// whether it is still running.
    pub(crate) fn wait_until(&mut self, ready: impl Fn() -> bool) -> bool {
        let start = std::time::Instant::now();
        while self.child.try_wait().unwrap().is_none()
            && !ready()
            && start.elapsed() < std::time::Duration::from_secs(20)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until its write transaction is well under way: uncommitted
    /// pages spilling into the WAL.
    pub(crate) fn wait_until_writing(&mut self, archive: &Path) -> bool {
        let wal = archive.join("archive.sqlite-wal");
        self.wait_until(|| std::fs::metadata(&wal).map_or(0, |m| m.len()) >= (1 << 20))
    }

    pub(crate) fn kill(mut self) -> u32 {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        pid
    }
}

/// `verify --json ARGS`, which must exit with `code`, parsed.
pub(crate) fn verify_json(archive: &Path, args: &[&str], code: i32) -> Value {
    let out = convault(archive)
        .args(["verify", "--json"])
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("verify --json prints JSON")
}

/// `show --json CONVERSATION`, parsed.
pub(crate) fn show_json(archive: &Path, conversation: &str) -> Value {
    let out = convault(archive)
        .args(["show", "--json", conversation])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

pub(crate) fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

pub(crate) fn search_json(archive: &Path, words: &[&str]) -> Vec<Value> {
    let out = convault(archive)
        .args(["search", "--json", "--"])
        .args(words)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn both_weeks() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    ingest(&archive, &[&fixture(WEEK2)]);
    (tmp, archive)
}

/// Every hit (up to 1,000) of the query `q`.
pub(crate) fn search_all(archive: &Path, q: &[&str]) -> Vec<Value> {
    let out = convault(archive)
        .args(["search", "--json", "--limit", "1000", "--"])
        .args(q)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// The hits' `(conversation, entry, version)`, for comparing result sets.
pub(crate) fn keys(hits: &[Value]) -> BTreeSet<(String, String, i64)> {
    hits.iter()
        .map(|h| {
            (
                h["conversation"].as_str().unwrap().to_owned(),
                h["entry"].as_str().unwrap().to_owned(),
                h["version"].as_i64().unwrap(),
            )
        })
        .collect()
}
