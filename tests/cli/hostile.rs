//! Hostile paths and inputs (issue 31), each driving the binary.

use std::path::Path;

use predicates::prelude::*;

use super::{WEEK1, convault, fixture, ingest};

/// Every command that writes a file it is given (`--out`) creates it new:
/// it never overwrites one, never writes through a symbolic link (to a
/// file or dangling), and never writes inside the archive directory.
#[test]
fn every_out_creates_a_new_file_outside_the_archive_and_follows_no_link() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let conversation = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";
    let commands: [(&str, Vec<&str>); 4] = [
        ("receipt", vec!["receipt", "1", "--out"]),
        ("checkpoint", vec!["ledger", "checkpoint", "--out"]),
        (
            "show",
            vec!["show", conversation, "--format", "html", "--out"],
        ),
        ("produce", vec!["produce", "refund", "--out"]),
    ];
    let db_before = std::fs::read(archive.join("archive.sqlite")).unwrap();
    for (name, args) in commands {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        // An existing file: kept as it was.
        let existing = dir.join("existing");
        std::fs::write(&existing, "mine").unwrap();
        // A link to a file: the file is not written through it.
        let target = dir.join("target");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        // A dangling link: its target is not created.
        let nowhere = dir.join("nowhere");
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        for (path, what) in [
            (&existing, "a file"),
            (&link, "a symbolic link"),
            (&dangling, "a symbolic link"),
        ] {
            // (produce names a recorded production at the path instead)
            let said = if name == "produce" {
                "exists: ".to_owned()
            } else {
                format!("the path exists ({what})")
            };
            convault(&archive)
                .args(&args)
                .arg(path)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(said));
        }
        assert_eq!(
            std::fs::read_to_string(&existing).unwrap(),
            "mine",
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "precious",
            "{name}"
        );
        assert!(
            !nowhere.exists(),
            "{name} created the dangling link's target"
        );
        // Inside the archive: refused, whatever the spelling.
        for inside in [
            archive.join("archive.sqlite"),
            archive.join("objects").join("x"),
            archive.join("config.toml"),
            archive.join("..").join("a").join("new-file"),
        ] {
            let existed = inside.exists();
            let a = convault(&archive).args(&args).arg(&inside).assert().code(2);
            let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
            let said = if existed {
                "exists"
            } else {
                "inside the archive directory"
            };
            assert!(err.contains(said), "{name} {}: {err}", inside.display());
            assert_eq!(
                inside.exists(),
                existed,
                "{name} wrote {}",
                inside.display()
            );
        }
        // A new path outside: written.
        let fresh = dir.join("fresh");
        convault(&archive)
            .args(&args)
            .arg(&fresh)
            .assert()
            .success();
        assert!(fresh.exists(), "{name}");
    }
    // The database was never written over: it is still the archive, and
    // verifies; no file was left where a refused write pointed.
    assert!(!db_before.is_empty());
    convault(&archive).arg("verify").assert().success();
    assert!(!Path::new(&archive.join("config.toml")).exists());
    assert!(!archive.join("objects").join("x").exists());
}
