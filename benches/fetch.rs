//! The fetch benchmark (issue 13): `convault fetch` of N conversations
//! against the fake org of the tests (tools/src/fake_org.rs) on
//! 127.0.0.1, with the default rate limit (90 requests a minute) and the
//! default budget (11,000 a 30-minute window).
//!
//! `cargo bench --bench fetch -- [--conversations 1000]`
//!
//! Prints what `fetch --plan` predicted (activations, requests, duration),
//! the wall time, the requests the org saw (tokens and reads), the most
//! conversations it counted active at once, and the export ingested.

use convault_test_support::fake_org;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Conversations to fetch
    #[arg(long, default_value_t = 1_000)]
    conversations: usize,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let org = fake_org::start(Duration::from_secs(30 * 60));
    let tmp = tempfile::tempdir()?;
    let archive = tmp.path().join("archive");
    std::fs::create_dir_all(&archive)?;
    std::fs::write(
        archive.join("config.toml"),
        format!(
            "[api]\ninstance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"bench\"\nclient_secret_env = \"CONVAULT_BENCH_SECRET\"\n",
            url = org.url
        ),
    )?;
    let ids: Vec<String> = (0..args.conversations)
        .map(|i| support::synth::uuid_v4(&[13, i as u64]))
        .collect();
    let list = tmp.path().join("ids.txt");
    std::fs::write(&list, ids.join("\n"))?;
    let plan = Command::new(env!("CARGO_BIN_EXE_convault"))
        .env("CONVAULT_BENCH_SECRET", "bench-secret")
        .arg("--archive")
        .arg(&archive)
        .args(["fetch", "--plan", "--json", "--from-file"])
        .arg(&list)
        .output()?;
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout)?;
    let instant = |k: &str| -> Result<jiff::Timestamp, Box<dyn std::error::Error>> {
        Ok(plan[k].as_str().ok_or("the plan's times")?.parse()?)
    };
    let planned = instant("finishes_at")?.duration_since(instant("starts_at")?);
    println!(
        "plan: {} activations, {} windows, {} requests, {:.1} s",
        plan["activations"],
        plan["windows"],
        plan["requests"],
        planned.as_secs_f64()
    );
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_convault"))
        .env("CONVAULT_BENCH_SECRET", "bench-secret")
        .arg("--archive")
        .arg(&archive)
        .args(["fetch", "--json", "--from-file"])
        .arg(&list)
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        return Err(format!("fetch failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let seen = org.seen.lock().map_err(|_| "the fake org's lock")?;
    println!(
        "fetch of {} conversations, default rate (90 a minute): {:.1} s; fake org: {} token and {} entries requests, at most {} active at once; export {} with {} entries ({} new)",
        args.conversations,
        took.as_secs_f64(),
        seen.tokens,
        seen.reads,
        seen.peak_active,
        r["export_id"],
        r["entries_read"],
        r["entries_new"],
    );
    Ok(())
}
