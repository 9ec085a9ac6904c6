//! Verify benchmark: a full `convault verify` of a synthetic archive, with
//! `sha256sum` and `openssl dgst -sha256` hashing the same stored files in
//! the same run.
//!
//! `cargo bench --bench verify -- [--entries N] [--runs R] [--dir DIR]`
//!
//! 1. Writes a synthetic export of N entries (tools/src/synth.rs) and
//!    ingests it into a new archive (not timed).
//! 2. R times, alternating: `convault verify --json` (the default, full
//!    level), `sha256sum` and `openssl dgst -sha256` of every object file.
//!    The files are read once beforehand so every run hashes from the page
//!    cache.
//! 3. Prints each run and the medians: verify's wall time and peak RSS, its
//!    own measured hashing throughput over the objects (time spent opening,
//!    reading and hashing them), and the peers' throughput (bytes / wall
//!    time) on the same files, each given enough times over in one process
//!    (at least 1 GiB) that process start-up does not count.
//!
//! Record results in docs/performance.md.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use support::{median, timed};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: support::Common,
}

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ws = args.common.prepare(false)?;
    let (dir, zip) = (&ws.dir, &ws.zip);
    let archive = dir.join("verify-archive");
    let _ = std::fs::remove_dir_all(&archive);
    let status = convault(&archive).arg("ingest").arg(zip).status()?;
    if !status.success() {
        return Err("the ingest failed".into());
    }
    let objects = object_files(&archive.join("objects/sha256"))?;
    let bytes: u64 = objects
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()?;
    for p in &objects {
        std::fs::read(p)?;
    }
    let reps = (1u64 << 30).div_ceil(bytes.max(1));
    let openssl = Command::new("openssl").arg("version").output()?;
    println!(
        "entries {}  objects {}  object bytes {bytes} (peers hash them {reps} times)  archive.sqlite {} bytes  {}",
        args.common.entries,
        objects.len(),
        std::fs::metadata(archive.join("archive.sqlite"))?.len(),
        String::from_utf8_lossy(&openssl.stdout).trim()
    );

    let (mut walls, mut rates, mut sums, mut ssls) = (vec![], vec![], vec![], vec![]);
    let mut max_rss = 0;
    for run in 1..=args.common.runs {
        let r = timed(convault(&archive).args(["verify", "--json"]), None)?;
        let report: serde_json::Value = serde_json::from_slice(&r.stdout)?;
        if report["ok"] != true {
            return Err(format!("verify found failures: {}", report["failures"]).into());
        }
        let rate = report["hashing"]["object_mib_per_second"]
            .as_f64()
            .unwrap_or(0.0);
        println!(
            "run {run}  convault verify {:>7.2} s  {:>6.1} MiB peak RSS  hashing {rate:>7.0} MiB/s  ({} entries, {} index documents, {} member bytes)",
            r.wall.as_secs_f64(),
            r.max_rss_kib as f64 / 1024.0,
            report["checked"]["entries"],
            report["checked"]["index_documents"],
            report["checked"]["member_bytes"],
        );
        walls.push(r.wall.as_secs_f64());
        rates.push(rate);
        max_rss = max_rss.max(r.max_rss_kib);
        // Each peer hashes the objects enough times over (at least 1 GiB in
        // all, in one process) that its start-up time does not count.
        let repeated: Vec<&PathBuf> = (0..reps).flat_map(|_| objects.iter()).collect();
        let mut sha256sum = Command::new("sha256sum");
        sha256sum.args(&repeated);
        let mut openssl = Command::new("openssl");
        openssl.args(["dgst", "-sha256"]).args(&repeated);
        for (name, cmd, out) in [
            ("sha256sum", &mut sha256sum, &mut sums),
            ("openssl", &mut openssl, &mut ssls),
        ] {
            let r = timed(cmd, None)?;
            let rate = (bytes * reps) as f64 / MIB / r.wall.as_secs_f64();
            println!(
                "run {run}  {name:<15} {:>7.3} s  {rate:>7.0} MiB/s",
                r.wall.as_secs_f64()
            );
            out.push(rate);
        }
    }
    println!(
        "median  verify {:.2} s (peak RSS {:.1} MiB)  hashing: convault {:.0} MiB/s  sha256sum {:.0} MiB/s  openssl {:.0} MiB/s",
        median(walls),
        max_rss as f64 / 1024.0,
        median(rates),
        median(sums),
        median(ssls),
    );
    Ok(())
}

fn convault(archive: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
    c.arg("--archive").arg(archive);
    c
}

fn object_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for prefix in std::fs::read_dir(dir)? {
        for object in std::fs::read_dir(prefix?.path())? {
            out.push(object?.path());
        }
    }
    out.sort();
    Ok(out)
}
