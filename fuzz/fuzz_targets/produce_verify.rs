//! A bag given to `convault produce verify`: any bytes, either a zipped
//! bag (they start with `PK`: unzipped as `produce verify` unzips it) or
//! a bag's files written out from a text form, a `=== path` line before
//! each file's bytes. Whatever the manifests, tag files and paths say,
//! verifying must end with a report or an error, never a panic, a hang or
//! a file written outside the scratch directory.
#![no_main]

use std::path::{Component, Path, PathBuf};

use libfuzzer_sys::fuzz_target;

/// This process's scratch directory, emptied for every input.
fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("convault-fuzz-bag-{}", std::process::id()))
}

/// A path from the text form, kept only when it stays inside the bag (the
/// manifests may name anything; the files written may not).
fn inside(name: &[u8]) -> Option<PathBuf> {
    let name = std::str::from_utf8(name).ok()?.trim_end_matches('\r');
    let path = Path::new(name);
    let normal = path.components().count() > 0
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    normal.then(|| path.to_owned())
}

/// Writes the text form's files under `root`.
fn write_files(data: &[u8], root: &Path) {
    let _ = std::fs::create_dir_all(root);
    let mut current: Option<(PathBuf, Vec<u8>)> = None;
    let mut flush = |file: Option<(PathBuf, Vec<u8>)>| {
        if let Some((rel, bytes)) = file {
            let path = root.join(rel);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(path, bytes);
        }
    };
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Some(name) = line.strip_prefix(b"=== ") {
            flush(current.take());
            let name = name.strip_suffix(b"\n").unwrap_or(name);
            current = inside(name).map(|rel| (rel, Vec::new()));
        } else if let Some((_, bytes)) = current.as_mut() {
            bytes.extend_from_slice(line);
        }
    }
    flush(current);
}

fuzz_target!(|data: &[u8]| {
    let scratch = scratch();
    let _ = std::fs::remove_dir_all(&scratch);
    if std::fs::create_dir_all(&scratch).is_err() {
        return;
    }
    let root = if data.starts_with(b"PK") {
        let zip = scratch.join("bag.zip");
        if std::fs::write(&zip, data).is_err() {
            return;
        }
        let into = scratch.join("unzipped");
        match convault::produce::verify::unzip(&zip, &into) {
            Ok(root) => root,
            Err(_) => return,
        }
    } else {
        let root = scratch.join("bag");
        write_files(data, &root);
        root
    };
    if let Ok(report) = convault::produce::verify::verify(&root, None) {
        // A bag that verifies has no failures, and one with failures
        // does not verify.
        assert_eq!(report.ok, report.failures.is_empty());
    }
});
