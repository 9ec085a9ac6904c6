//! `ingest --profile FILE`: an organisation's own mapping from column names
//! to the fields convault knows, for a layout no built-in profile reads.

use std::path::Path;

use serde_json::Value;

use super::support::fixture_data::{self, CONV_B, UNFAMILIAR_PROFILE_TOML};
use super::{convault, count, db, stderr_of};

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("vendor/threads.csv");
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    std::fs::write(&csv, fixture_data::unfamiliar_layout_b()).unwrap();
    let profile = tmp.path().join("vendor.toml");
    std::fs::write(&profile, UNFAMILIAR_PROFILE_TOML).unwrap();
    (tmp, csv, profile)
}

fn ingest_json(archive: &Path, args: &[&Path]) -> Value {
    let out = convault(archive)
        .args(["ingest", "--json"])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn a_profile_maps_an_unfamiliar_layout() {
    let (tmp, csv, profile) = setup();
    let archive = tmp.path().join("a");
    // Without it, nothing is recognised: refused (exit 6), and the reason
    // says what to do.
    let a = convault(&archive)
        .args(["ingest", "--dry-run"])
        .arg(&csv)
        .assert()
        .code(6);
    let reason = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        reason.contains("nothing was ingested")
            && reason.contains("\"MsgRef\", \"Thread\"")
            && reason.contains("--profile"),
        "{reason}"
    );
    // With it, every row is an entry with its sender and time.
    let r = ingest_json(&archive, &[Path::new("--profile"), &profile, &csv]);
    let n = r["entries_read"].as_u64().unwrap();
    assert_eq!(
        n,
        fixture_data::ENTRIES_B as u64,
        "every row of B is read: {r}"
    );
    assert_eq!(r["entries_new"], n);
    assert_eq!(r["quarantined_total"], 0, "{}", r["quarantined"]);
    assert!(r["export_kind"].is_null(), "no export_kind given: {r}");
    let conn = db(&archive);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape = 'vendor-archive'"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM export_profiles"), 1);
    let body: String = conn
        .query_row("SELECT body FROM profiles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, UNFAMILIAR_PROFILE_TOML, "kept byte for byte");
    let j = super::show_json(&archive, CONV_B);
    let entries = j["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, n);
    assert!(
        entries
            .iter()
            .all(|e| !e["role"].is_null() && !e["time"].is_null())
    );
    assert!(
        entries
            .iter()
            .any(|e| e["role"] == "Agent" && e["subject"] == "005Kj000001YusufAA")
    );
    // Re-derivation reads the original with the profile it was read with.
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
    // The transcript export's rows of the same entries add what the
    // vendor's layout lacks (app type, client time, related records): each
    // is its entry's next version, and no entry is counted twice.
    let r = ingest_json(&archive, &[&super::fixture(super::WEEK1)]);
    assert_eq!(r["entries_changed"], n, "{r}");
    assert_eq!(r["entries_unchanged"], 0, "{r}");
    assert_eq!(
        r["entries_new"].as_u64().unwrap(),
        r["entries_read"].as_u64().unwrap() - n,
        "only conversation A is new: {r}"
    );
    let j = super::show_json(&archive, CONV_B);
    assert_eq!(j["entries"].as_array().unwrap().len() as u64, n);
}

#[test]
fn a_json_profile_reads_the_same() {
    let (tmp, csv, _) = setup();
    let profile = tmp.path().join("vendor.json");
    std::fs::write(
        &profile,
        r#"{"profile": [{"name": "vendor-archive", "reads": "entries", "export_kind": "transcripts",
            "required": ["identifier", "conversation", "payload"],
            "columns": {"identifier": ["MsgRef"], "conversation": ["Thread"],
                        "entry_type": ["Kind"], "payload": ["Body"]}}]}"#,
    )
    .unwrap();
    let r = ingest_json(
        &tmp.path().join("a"),
        &[
            Path::new("--dry-run"),
            Path::new("--profile"),
            &profile,
            &csv,
        ],
    );
    assert_eq!(r["entries_read"], fixture_data::ENTRIES_B, "{r}");
    assert_eq!(r["quarantined_total"], 0);
    // It says its files are the weekly transcript export: the ledger and
    // the 7-day rule count the ingest as one.
    assert_eq!(r["export_kind"], "transcripts", "{r}");
}

#[test]
fn profile_errors_name_the_file_and_what_to_fix_and_write_nothing() {
    let (tmp, csv, _) = setup();
    let archive = tmp.path().join("a");
    let bad = |name: &str, text: &str, want: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = convault(&archive)
            .args(["ingest", "--profile"])
            .arg(&path)
            .arg(&csv)
            .assert()
            .code(2);
        let stderr = stderr_of(&out);
        assert!(stderr.contains(name) && stderr.contains(want), "{stderr}");
        assert!(stderr.contains("docs/profiles.md"), "{stderr}");
        assert!(!archive.exists(), "nothing written for {name}");
    };
    bad(
        "broken.toml",
        "[[profile]\nname = ",
        "not a valid TOML profile file",
    );
    bad(
        "field.toml",
        "[[profile]]\nname = \"x\"\nreads = \"entries\"\nrequired = [\"identifier\", \"conversation\"]\n[profile.columns]\nidentifier = [\"MsgRef\"]\nconversation = [\"Thread\"]\nbody = [\"Body\"]\n",
        "\"body\" is not an entry field",
    );
    bad(
        "clash.toml",
        &UNFAMILIAR_PROFILE_TOML.replace("vendor-archive", "transcript-csv"),
        "has the name of a built-in profile",
    );
    bad("empty.json", "{\"profile\": []}", "holds no profile");
    let out = convault(&archive)
        .args(["ingest", "--profile"])
        .arg(tmp.path().join("missing.toml"))
        .arg(&csv)
        .assert()
        .code(2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("missing.toml") && stderr.contains("cannot be read"),
        "{stderr}"
    );
    assert!(!archive.exists());
}

#[test]
fn the_built_in_profiles_are_printed_in_the_profile_format() {
    let tmp = tempfile::tempdir().unwrap();
    let out = convault(&tmp.path().join("a"))
        .args(["profiles"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("name = \"data-cloud-entry\""), "{text}");
    // What it prints is a profile file `--profile` takes, once renamed.
    let file = tmp.path().join("mine.toml");
    std::fs::write(&file, text.replace("name = \"", "name = \"my-")).unwrap();
    let csv = tmp.path().join("x.csv");
    std::fs::write(
        &csv,
        "identifier,conversation_identifier,entry_type\ne1,c1,NOTE\n",
    )
    .unwrap();
    let r = ingest_json(
        &tmp.path().join("a"),
        &[Path::new("--profile"), &file, &csv],
    );
    assert_eq!(r["entries_new"], 1);
    let conn = db(&tmp.path().join("a"));
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape = 'my-transcript-csv'"
        ),
        1
    );
    let out = convault(&tmp.path().join("a"))
        .args(["profiles", "--json"])
        .assert()
        .success();
    let j: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = j["profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert!(names.contains(&"des-messaging-session") && names.contains(&"data-cloud-conversation"));
}
