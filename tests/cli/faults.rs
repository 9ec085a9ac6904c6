//! Faults from below (issue 16): a disk that fills up mid-ingest, an
//! original that cannot be read back, and hostile archive directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{WEEK1, convault, count, db, fixture, stderr_of};

/// A size-limited tmpfs mounted at a temporary directory, unmounted when
/// dropped. Mounting needs root: the tests that use it are ignored by
/// default and run by `.ci/run` (`--ignored`), where they fail if they
/// cannot mount.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts it, or fails the test saying why: the tests that use it
    /// are ignored unless run with `--ignored` as root (`.ci/run`).
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test mounts a tmpfs: run it as root (.ci/run does)"
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Files (not directories) under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs root (mounts a tmpfs): .ci/run runs it with --ignored"]
fn a_disk_that_fills_up_mid_ingest_leaves_the_archive_as_it_was() {
    let disk = SmallDisk::mount("2m");
    let archive = disk.path().join("a");
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    let before = files_under(&archive);
    // An export too large for what is left.
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.zip");
    super::support::synth::write(&big, None, 20_000, 5_000, 3).unwrap();
    let a = convault(&archive).arg("ingest").arg(&big).assert().code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("the disk is full") && err.contains("free space and run it again"),
        "{err}"
    );
    assert!(
        err.contains(&archive.display().to_string()),
        "names the file: {err}"
    );
    // Nothing half-written: the same files, the same one export.
    let wal = PathBuf::from("archive.sqlite-wal");
    let shm = PathBuf::from("archive.sqlite-shm");
    let same = |v: &[PathBuf]| -> Vec<PathBuf> {
        v.iter()
            .filter(|p| **p != wal && **p != shm)
            .cloned()
            .collect()
    };
    assert_eq!(same(&files_under(&archive)), same(&before));
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);
    convault(&archive).arg("verify").assert().success();
    // With room again, the same ingest succeeds.
    disk.resize("64m");
    convault(&archive)
        .arg("ingest")
        .arg(&big)
        .assert()
        .success();
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 2);
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn an_original_that_cannot_be_read_is_named_by_verify_and_nothing_else_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    let sha = super::sha256_file(&fixture(WEEK1));
    let object = archive.join("objects/sha256").join(&sha[..2]).join(&sha);
    let kept = tmp.path().join("kept");
    std::fs::rename(&object, &kept).unwrap();
    // Opening works, every read fails (EISDIR): a read error, not a
    // missing file.
    std::fs::create_dir(&object).unwrap();
    let a = convault(&archive)
        .args(["verify", "--json"])
        .assert()
        .code(3);
    let report: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .all(|f| f["item"].as_str().unwrap_or_default().contains(&sha)),
        "only the unreadable object fails: {failures:?}"
    );
    assert!(
        failures.iter().any(|f| f["found"]
            .as_str()
            .unwrap_or_default()
            .contains("directory")),
        "the read error is given: {failures:?}"
    );
    // Restored, the archive verifies; the failed run changed nothing else.
    std::fs::remove_dir(&object).unwrap();
    std::fs::rename(&kept, &object).unwrap();
    convault(&archive).arg("verify").assert().success();
}

fn ingest_week1(archive: &Path) {
    convault(archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
}

#[test]
fn a_new_archive_is_owner_only_and_its_objects_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest_week1(&archive);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&archive), 0o700);
    assert_eq!(mode(&archive.join("objects")), 0o700);
    let sha = super::sha256_file(&fixture(WEEK1));
    let object = archive.join("objects/sha256").join(&sha[..2]).join(&sha);
    assert_eq!(mode(object.parent().unwrap()), 0o700);
    assert_eq!(mode(&object), 0o444);
}

#[test]
fn a_symbolic_link_inside_the_store_is_refused_and_nothing_is_written_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest_week1(&archive);
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // objects/tmp pointing outside: the next ingest stops, writes nothing.
    let tmp_dir = archive.join("objects/tmp");
    let _ = std::fs::remove_dir_all(&tmp_dir);
    std::os::unix::fs::symlink(&outside, &tmp_dir).unwrap();
    let a = convault(&archive)
        .arg("ingest")
        .arg(fixture(super::WEEK2))
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert!(
        err.contains("objects/tmp is a symbolic link") && err.contains("changes nothing"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing outside"
    );
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);
    std::fs::remove_file(&tmp_dir).unwrap();

    // An object replaced by a link to a copy outside, the same bytes:
    // not a stored copy.
    let sha = super::sha256_file(&fixture(WEEK1));
    let object = archive.join("objects/sha256").join(&sha[..2]).join(&sha);
    let copy = outside.join("copy");
    std::fs::copy(&object, &copy).unwrap();
    std::fs::remove_file(&object).unwrap();
    std::os::unix::fs::symlink(&copy, &object).unwrap();
    let a = convault(&archive)
        .args(["verify", "--json"])
        .assert()
        .code(3);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("object-not-a-file"), "{out}");
    // Its directory replaced by a link: the same.
    std::fs::remove_file(&object).unwrap();
    let prefix = object.parent().unwrap().to_owned();
    std::fs::remove_dir(&prefix).unwrap();
    let elsewhere = outside.join("prefix");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(&copy, elsewhere.join(&sha)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &prefix).unwrap();
    let a = convault(&archive)
        .args(["verify", "--json"])
        .assert()
        .code(3);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("object-not-a-file") && out.contains("symbolic link"),
        "{out}"
    );
    // Put back, the archive verifies.
    std::fs::remove_file(&prefix).unwrap();
    std::fs::create_dir(&prefix).unwrap();
    std::fs::copy(&copy, &object).unwrap();
    convault(&archive).arg("verify").assert().success();
}

#[test]
#[ignore = "needs root (mounts a tmpfs): .ci/run runs it with --ignored"]
fn a_read_only_archive_refuses_writers_and_still_answers_readers() {
    let disk = SmallDisk::mount("16m");
    let archive = disk.path().join("a");
    ingest_week1(&archive);
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(disk.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let a = convault(&archive)
        .arg("ingest")
        .arg(fixture(super::WEEK2))
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("Read-only file system") || err.contains("readonly"),
        "{err}"
    );
    assert!(err.contains(&archive.display().to_string()), "{err}");
    convault(&archive)
        .args(["search", "refund"])
        .assert()
        .success();
    disk.resize("16m,rw");
    convault(&archive).arg("verify").assert().success();
}

#[test]
#[ignore = "needs root and setpriv (runs a process as nobody): .ci/run runs it with --ignored"]
fn a_lock_held_by_another_user_is_named_and_waited_for_by_no_one() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest_week1(&archive);
    // An archive shared with another account (it is owner-only as made),
    // where `nobody` holds the lock (flock on the lock file) for a while.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o755)).unwrap();
    let lock = archive.join("lock");
    let mut holder = match Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "flock",
            "-s",
            "-o",
        ])
        .arg(&lock)
        .args(["sleep", "20"])
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("setpriv is not available ({e}): install util-linux"),
    };
    // Until it holds the lock (`flock -n` fails while it does).
    let start = std::time::Instant::now();
    while Command::new("flock")
        .args(["-n"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(
            holder.try_wait().unwrap().is_none(),
            "the holder could not take the lock"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let a = convault(&archive)
        .arg("ingest")
        .arg(fixture(super::WEEK2))
        .assert()
        .code(5);
    let err = stderr_of(&a);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(err.contains("is in use by"), "{err}");
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);
    convault(&archive)
        .arg("ingest")
        .arg(fixture(super::WEEK2))
        .assert()
        .success();
}
