//! Disposition benchmark (issue 15): `convault dispose --execute` of a
//! tenth of the conversations of a benchmark archive, beside an ingest of
//! the same export into a new archive, in the same run.
//!
//! `cargo bench --bench dispose -- --archive DIR [--runs 3] [--work DIR]`
//!
//! The archive is one the search or ingest benchmark built (e.g. the
//! 1M-entry `/tmp/sb/archive`, one weekly export); it is not changed: each
//! run copies it to `--work` and disposes in the copy. The policy is one
//! year, and "now" is one year after the last entry of the conversation at
//! the tenth percentile of last-entry times, so a tenth of the
//! conversations are due. Each run, in turn: the disposition (wall time,
//! peak RSS from `wait4`, bytes of originals read and written), `verify`
//! of the result (not timed against the target), then an ingest of the
//! archive's stored export into a new archive (wall time, peak RSS).
//!
//! Record results in docs/performance.md.

mod support;

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use rusqlite::Connection;
use support::{median, timed};

#[derive(Parser)]
struct Args {
    /// The archive to copy and dispose in
    #[arg(long)]
    archive: PathBuf,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the copies and the ingest's new archive go
    #[arg(long, default_value = "/tmp/dispose-bench")]
    work: PathBuf,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

fn convault(archive: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
    c.arg("--archive").arg(archive).env("USER", "bench");
    c
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (now, total, export, export_path) = {
        let conn = Connection::open(args.archive.join("archive.sqlite"))?;
        let total: i64 = conn.query_row("SELECT count(*) FROM conversations", [], |r| r.get(0))?;
        // The last entry time at the tenth percentile; one year on, the
        // conversations before it are past a one-year retention.
        let tenth: i64 = conn.query_row(
            "SELECT last FROM (SELECT max(coalesce(server_ms, client_ms)) AS last FROM entries
                               GROUP BY conversation_id) ORDER BY last LIMIT 1 OFFSET ?1",
            [total / 10],
            |r| r.get(0),
        )?;
        let now = jiff::Timestamp::from_millisecond(tenth)?
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .checked_add(jiff::Span::new().years(1))?
            .timestamp();
        let (export, sha): (i64, String) = conn.query_row(
            "SELECT export_id, sha256 FROM files ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let files: i64 = conn.query_row(
            "SELECT count(*) FROM files WHERE export_id = ?1",
            [export],
            |r| r.get(0),
        )?;
        if files != 1 {
            return Err(
                "the benchmark ingests the archive's first export, which must be one file".into(),
            );
        }
        let path = args
            .archive
            .join("objects/sha256")
            .join(&sha[..2])
            .join(&sha);
        (now.to_string(), total, export, path)
    };
    println!(
        "archive {} ({total} conversations); now {now}; peer: ingest of export {export} ({:.1} MiB)",
        args.archive.display(),
        std::fs::metadata(&export_path)?.len() as f64 / MIB
    );
    let (mut ours, mut rss, mut peer, mut peer_rss) = (vec![], vec![], vec![], vec![]);
    for run in 1..=args.runs {
        let copy = args.work.join("archive");
        let _ = std::fs::remove_dir_all(&args.work);
        std::fs::create_dir_all(&args.work)?;
        let status = Command::new("cp")
            .arg("-a")
            .arg(&args.archive)
            .arg(&copy)
            .status()?;
        if !status.success() {
            return Err("copying the archive failed".into());
        }
        let status = convault(&copy)
            .env("CONVAULT_NOW", &now)
            .args(["retention", "set", "1y", "--reason", "benchmark"])
            .status()?;
        if !status.success() {
            return Err("retention set failed".into());
        }
        // Holds the archive carries (the search benchmark's tries) are
        // released: a tenth of the conversations go.
        let holds = convault(&copy).args(["hold", "list", "--json"]).output()?;
        let holds: serde_json::Value = serde_json::from_slice(&holds.stdout)?;
        for h in holds.as_array().into_iter().flatten() {
            let name = h["name"].as_str().unwrap_or_default();
            convault(&copy)
                .env("CONVAULT_NOW", &now)
                .args(["hold", "release", name, "--reason", "benchmark"])
                .status()?;
        }
        let d = timed(
            convault(&copy).env("CONVAULT_NOW", &now).args([
                "dispose",
                "--execute",
                "--reason",
                "benchmark",
                "--json",
            ]),
            None,
        )?;
        let out: serde_json::Value = serde_json::from_slice(&d.stdout)?;
        let o = &out["outcome"];
        // Fails the benchmark if the result does not verify.
        let v = timed(convault(&copy).arg("verify"), None)?;
        let fresh = args.work.join("fresh");
        let i = timed(convault(&fresh).arg("ingest").arg(&export_path), None)?;
        let s = &o["seconds"];
        println!(
            "run {run}  steps: scan {:.2} s, derivatives {:.2} s, transaction {:.2} s, rebuild {:.2} s",
            s["scan"].as_f64().unwrap_or(0.0),
            s["derive"].as_f64().unwrap_or(0.0),
            s["transaction"].as_f64().unwrap_or(0.0),
            s["rebuild"].as_f64().unwrap_or(0.0),
        );
        println!(
            "run {run}  dispose {:>7.2} s  {:>6.1} MiB peak RSS  {} conversations, {} entry versions, originals read {:.1} MiB, written {:.1} MiB ({} replaced, {} deleted)  |  verify passed in {:.2} s  |  ingest {:>7.2} s  {:>6.1} MiB",
            d.wall.as_secs_f64(),
            d.max_rss_kib as f64 / 1024.0,
            o["conversations"],
            o["entries"],
            o["bytes_read"].as_f64().unwrap_or(0.0) / MIB,
            o["bytes_written"].as_f64().unwrap_or(0.0) / MIB,
            o["objects_replaced"],
            o["objects_deleted"],
            v.wall.as_secs_f64(),
            i.wall.as_secs_f64(),
            i.max_rss_kib as f64 / 1024.0,
        );
        ours.push(d.wall.as_secs_f64());
        rss.push(d.max_rss_kib as f64 / 1024.0);
        peer.push(i.wall.as_secs_f64());
        peer_rss.push(i.max_rss_kib as f64 / 1024.0);
    }
    let _ = std::fs::remove_dir_all(&args.work);
    let (o, p) = (median(ours), median(peer));
    println!(
        "median  dispose {o:.2} s ({:.1} MiB peak RSS)  ingest of the same export {p:.2} s ({:.1} MiB)  ratio {:.2}",
        median(rss),
        median(peer_rss),
        o / p
    );
    Ok(())
}
