//! Human output pinned with `insta` snapshots (issue 32): `verify` (passing
//! and failing), `status`, the `dispose` listing and error messages. The
//! clock is fixed (`CONVAULT_NOW`), the actor given (`--by`), and the
//! temporary directory redacted, so that a snapshot changes only when what
//! a person reads changes.

use std::path::Path;

use super::{WEEK1, WEEK2, convault, fixture, stderr_of};

const NOW: &str = "2026-11-20T10:00:00Z";

/// `text` with `dir` written as `[DIR]` and the repository (where the
/// fixtures are) as `[REPO]`.
fn redacted(text: &[u8], dir: &Path) -> String {
    String::from_utf8_lossy(text)
        .replace(&dir.display().to_string(), "[DIR]")
        .replace(env!("CARGO_MANIFEST_DIR"), "[REPO]")
}

/// An archive of both fixture weeks, ingested at `NOW` by `tester`.
fn two_weeks(dir: &Path) -> std::path::PathBuf {
    let archive = dir.join("a");
    for week in [WEEK1, WEEK2] {
        convault(&archive)
            .env("CONVAULT_NOW", NOW)
            .args(["ingest", "--by", "tester"])
            .arg(fixture(week))
            .assert()
            .success();
    }
    archive
}

#[test]
fn verify_status_and_the_dispose_listing_read_as_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = two_weeks(tmp.path());
    let at = |now: &str, args: &[&str]| {
        let a = convault(&archive)
            .env("CONVAULT_NOW", now)
            .args(args)
            .assert();
        let o = a.get_output().clone();
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            o.status.code().unwrap_or(-1),
            redacted(&o.stdout, tmp.path()),
            redacted(&o.stderr, tmp.path())
        )
    };
    insta::assert_snapshot!("verify_ok", at(NOW, &["verify", "--by", "tester"]));
    insta::assert_snapshot!("status", at(NOW, &["status"]));
    at(
        NOW,
        &[
            "retention",
            "set",
            "7d",
            "--reason",
            "policy 12",
            "--by",
            "tester",
        ],
    );
    insta::assert_snapshot!("dispose_listing", at("2027-01-01T00:00:00Z", &["dispose"]));

    // One stored original changed: what verify says.
    let object = std::fs::read_dir(archive.join("objects/sha256"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .min()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes.push(b'\n');
    std::fs::write(&object, bytes).unwrap();
    insta::assert_snapshot!("verify_failed", at(NOW, &["verify", "--by", "tester"]));
}

#[test]
fn error_messages_read_as_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = two_weeks(tmp.path());
    let err = |args: &[&str]| {
        let a = convault(&archive)
            .env("CONVAULT_NOW", NOW)
            .args(args)
            .assert();
        let code = a.get_output().status.code().unwrap_or(-1);
        format!(
            "exit {code}: {}",
            redacted(stderr_of(&a).as_bytes(), tmp.path())
        )
    };
    let missing = tmp.path().join("no-such-export.zip");
    let text = [
        err(&["ingest", missing.to_str().unwrap()]),
        err(&["search", "refund AND (card"]),
        err(&["search", "role:robot"]),
        err(&["show", "00000000-0000-4000-8000-000000000000"]),
        err(&["receipt", "9"]),
        err(&["hold", "place", "h", "refund"]),
        err(&["retention", "set", "7x", "--reason", "r"]),
    ]
    .join("");
    insta::assert_snapshot!("error_messages", text);
}
