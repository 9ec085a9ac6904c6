//! What an officer must be able to trust (issue 30): nothing recognised is
//! never "ingested", an end user is found where the transcript export
//! names them, and a clock in the future is said.

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use super::support::fixture_data::{CONV_A, CONV_B, CONV_C};
use super::{WEEK1, WEEK2, convault, count, db, fixture, ingest, stderr_of};

/// The end user of conversation A, as the transcript export names them:
/// the sender subject of their own entries.
const SUBJECT_A: &str = "v2/iamessage/UNAUTH/NA/uid:7f3e21";

/// Every file under `dir`, with its bytes: what "nothing was written"
/// compares.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("lock") {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_file_holding_nothing_recognised_is_refused_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let pdf = tmp.path().join("statement.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n\x00\x01\x02 binary").unwrap();
    let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");

    // A new archive: not created.
    let archive = tmp.path().join("new");
    for input in [&readme, &pdf, &toml] {
        let a = convault(&archive)
            .arg("ingest")
            .arg(input)
            .assert()
            .code(6)
            .stderr(predicate::str::contains("nothing was ingested"));
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(stderr_of(&a).contains(name), "{}", stderr_of(&a));
        assert!(!archive.exists(), "{name}: no archive is created");
    }
    // A dry run says the same.
    convault(&archive)
        .args(["ingest", "--dry-run"])
        .arg(&readme)
        .assert()
        .code(6);

    // An existing archive: not a byte changed, no export, no record.
    let archive = tmp.path().join("existing");
    ingest(&archive, &[&fixture(WEEK1)]);
    let before = tree(&archive);
    convault(&archive)
        .arg("ingest")
        .arg(&readme)
        .arg(&pdf)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("binary content"))
        .stderr(predicate::str::contains("README.md"));
    assert_eq!(tree(&archive), before, "nothing was written");
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);

    // Partly recognised: the rest is ingested, the unknown member kept
    // aside with its reason, as always.
    let dir = tmp.path().join("export");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture(WEEK2), dir.join("week2.zip")).unwrap();
    std::fs::copy(&readme, dir.join("README.md")).unwrap();
    let r = ingest(&archive, &[&dir]);
    assert_eq!(r["quarantined_total"], 2, "{r}");
    assert_eq!(r["entries_read"], 24);
}

#[test]
fn the_transcript_exports_description_is_recognised_not_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let a = convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("nothing quarantined"), "{err}");
    assert!(!err.contains("export-info.txt"), "{err}");
    // Kept with the export, and read the same way again.
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn erasure_holds_and_search_find_an_end_user_by_their_sender_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    ingest(&archive, &[&fixture(WEEK2)]);

    // The listing names A, and only A.
    let a = convault(&archive)
        .args([
            "erase",
            "--enduser",
            SUBJECT_A,
            "--reason",
            "DSAR 17",
            "--json",
        ])
        .assert()
        .success();
    let plan: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let erase: Vec<&str> = plan["erase"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(erase, [CONV_A]);

    // `enduser:` finds A by part of the subject; a hold by the key holds A.
    let out = convault(&archive)
        .args(["search", "--conversations", "--json", "enduser:uid:7f3e21"])
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["conversation"], CONV_A);
    convault(&archive)
        .args([
            "hold",
            "place",
            "dsar-hold",
            "--reason",
            "litigation",
            "--enduser",
            SUBJECT_A,
        ])
        .assert()
        .success();
    let held = convault(&archive)
        .args(["hold", "show", "dsar-hold", "--json"])
        .assert()
        .success();
    let held = String::from_utf8_lossy(&held.get_output().stdout).into_owned();
    assert!(held.contains(CONV_A), "{held}");
    assert!(!held.contains(CONV_B) && !held.contains(CONV_C), "{held}");
    // Held: the erasure is refused (exit 4), naming the hold; released,
    // it is carried out.
    let execute = || {
        convault(&archive)
            .args(["erase", "--enduser", SUBJECT_A])
            .args(["--reason", "DSAR 17", "--execute"])
            .assert()
    };
    execute()
        .code(4)
        .stderr(predicate::str::contains("dsar-hold"));
    convault(&archive)
        .args(["hold", "release", "dsar-hold", "--reason", "settled"])
        .assert()
        .success();
    execute().success();
    assert_eq!(
        count(
            &db(&archive),
            &format!("SELECT count(*) FROM entries WHERE sender_subject = '{SUBJECT_A}'")
        ),
        0
    );
    convault(&archive).arg("verify").assert().success();
}

#[test]
fn an_end_user_key_that_matches_nothing_says_what_was_searched_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    for execute in [false, true] {
        let mut c = convault(&archive);
        c.args(["erase", "--enduser", "uid:nobody", "--reason", "DSAR 18"]);
        if execute {
            c.arg("--execute");
        }
        c.assert()
            .code(1)
            .stderr(predicate::str::contains("no conversation of an end user"))
            .stderr(predicate::str::contains("MessagingPlatformKey"))
            .stderr(predicate::str::contains("sender subject"))
            .stderr(predicate::str::contains("Nothing was erased"));
    }
    convault(&archive)
        .args([
            "erase",
            "--conversation",
            "00000000-0000-4000-8000-000000000000",
        ])
        .args(["--reason", "DSAR 19"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not in the archive"));
    // Nothing was recorded.
    assert_eq!(
        count(
            &db(&archive),
            "SELECT count(*) FROM ledger WHERE kind = 'erasure'"
        ),
        0
    );
}

#[test]
fn an_export_generated_after_the_clock_is_reported_on_ingest_and_in_status() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    // The clock reads a day before week 1 was generated.
    let a = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-08T23:00:00Z")
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("later than the clock"),
        "{}",
        stderr_of(&a)
    );
    let out = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-08T23:00:00Z")
        .args(["status", "--json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains("2026-11-09T23:00:00.000Z") && warnings.contains("later than the clock"),
        "{warnings}"
    );
    // With the clock past it, no such warning.
    let out = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-10T00:00:00Z")
        .args(["status", "--json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        !status["warnings"]
            .to_string()
            .contains("later than the clock"),
        "{status}"
    );
}

/// Shell completions and the manual page come from the command line's own
/// definition: every command and the new flags are in them, and bash
/// accepts the script.
#[test]
fn completions_and_the_manual_page_are_generated_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let a = convault(&tmp.path().join("none"))
            .args(args)
            .assert()
            .success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    for word in [
        "ingest",
        "erase",
        "produce",
        "--generated",
        "--refresh",
        "completions",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let script = tmp.path().join("convault.bash");
    std::fs::write(&script, &bash).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash is on every machine this runs on");
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(run(&["completions", "zsh"]).starts_with("#compdef convault"));
    assert!(run(&["completions", "fish"]).contains("complete -c convault"));
    let man = run(&["man"]);
    assert!(man.contains(".TH convault 1"), "{man}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "the man page lacks {section}");
    }
    assert!(
        man.contains("ingest") && man.contains("Exit codes"),
        "{man}"
    );
    // Not a shell it knows: a usage error.
    convault(&tmp.path().join("none"))
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}

/// The README's first command and its Quick start run as written, from a
/// copy of the repository's fixtures, with the binary under test standing
/// for the one `cargo build`/`cargo install` would make (those two steps
/// alone are left out: they build what this test already has).
#[test]
fn the_readme_first_command_and_quick_start_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let first = blocks[0].trim();
    assert!(first.starts_with("cargo build --release && "), "{first}");
    let first = first
        .trim_start_matches("cargo build --release && ")
        .replace("target/release/convault", "convault");
    let quick_at = readme.find("## Quick start").expect("a Quick start");
    let quick = readme[quick_at..]
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the Quick start's commands");
    assert!(
        quick.starts_with("cargo install --locked --path ."),
        "{quick}"
    );
    assert!(
        quick.contains("export CONVAULT_ARCHIVE=demo-archive"),
        "{quick}"
    );
    let quick: String = quick
        .lines()
        .filter(|l| !l.starts_with("cargo install"))
        .map(|l| format!("{l}\n"))
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("repo");
    std::fs::create_dir_all(work.join("fixtures")).unwrap();
    for week in [WEEK1, WEEK2] {
        std::fs::copy(fixture(week), work.join("fixtures").join(week)).unwrap();
    }
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_convault"), bin.join("convault")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(format!("{first}\n{quick}"))
        .current_dir(&work)
        .env("PATH", path)
        .env_remove("CONVAULT_ARCHIVE")
        .env_remove("CONVAULT_NOW")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's commands failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refund"),
        "the first command's search: {stdout}"
    );
    for made in [
        "hits.csv",
        "conversation.html",
        "receipt-2.txt",
        "builtin-profiles.toml",
        "convault.bash",
        "convault.1",
    ] {
        assert!(work.join(made).is_file(), "the Quick start made no {made}");
    }
    assert!(
        !work.join("convault-archive").exists(),
        "no stray default archive"
    );
}

/// The slips a first-time user met (issue 30, item 7), each checked.
#[test]
fn what_a_first_time_user_meets_is_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");

    // `request` never creates an archive.
    convault(&archive)
        .args(["request", "transcripts"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no archive at"));
    assert!(!archive.exists(), "request created {}", archive.display());

    // The ingest that creates the archive says so; the default one too.
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "created a new archive at {}",
            archive.display()
        )));
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_convault"));
    c.current_dir(&cwd)
        .env_remove("CONVAULT_ARCHIVE")
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "created a new archive at convault-archive (the default: neither --archive nor CONVAULT_ARCHIVE was given)",
        ));
    // A second ingest into it says nothing of creating.
    let again = convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK2))
        .assert()
        .success();
    assert!(!stderr_of(&again).contains("created a new archive"));

    // `status --due --kind` and its JSON agree.
    for kind in ["data-export", "transcripts"] {
        let due = convault(&archive)
            .env("CONVAULT_NOW", "2026-12-01T00:00:00Z")
            .args(["status", "--due", "--kind", kind])
            .output()
            .unwrap()
            .status
            .code();
        let out = convault(&archive)
            .env("CONVAULT_NOW", "2026-12-01T00:00:00Z")
            .args(["status", "--json", "--kind", kind])
            .assert()
            .success();
        let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let said = status["kinds"][0]["due"].as_bool().unwrap();
        assert_eq!(
            due == Some(0),
            said,
            "{kind}: --due exit {due:?}, JSON due {said}"
        );
    }

    // A unit convault does not take is named as such.
    convault(&archive)
        .args(["retention", "set", "2w", "--reason", "r"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("w is not a unit here"))
        .stderr(predicate::str::contains("14d"))
        .stderr(predicate::str::contains("no unit").not());

    // An error is said once, not with its cause repeated.
    let missing = convault(&archive)
        .args(["certificate", "verify", "MISSING"])
        .assert()
        .failure();
    let err = stderr_of(&missing);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // One conversation is "1 conversation".
    let one = convault(&archive)
        .args([
            "erase",
            "--enduser",
            "v2/iamessage/UNAUTH/NA/uid:7f3e21",
            "--reason",
            "r",
        ])
        .assert()
        .success();
    let err = stderr_of(&one);
    assert!(err.contains("would erase 1 conversation ("), "{err}");

    // The receipt's zip check points at the members listed above it.
    let receipt = convault(&archive).args(["receipt", "1"]).assert().success();
    let text = String::from_utf8_lossy(&receipt.get_output().stdout).into_owned();
    let members = text.find("members:").unwrap();
    let pointer = text.find("every member listed above").unwrap();
    assert!(members < pointer, "{text}");
}
