//! Hostile paths and inputs (issue 31), each driving the binary.

use std::path::Path;

use predicates::prelude::*;

use super::support::synth::{Message, write_messages_in};
use super::{WEEK1, convault, fixture, ingest};

/// The conversation of the messages these tests write, and their sender.
const CONVERSATION: &str = "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13";
const AGENT: &str = r#"{"role":"Agent","appType":"agent","subject":"005x"}"#;

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

/// Every control character in a message (U+0000 as JSON's `\u0000`
/// above all) leaves search working for the whole archive, in every
/// output and order, with the match at its place (issue 31, item 4).
#[test]
fn control_characters_in_messages_never_break_search() {
    let tmp = tempfile::tempdir().unwrap();
    let csv_path = tmp.path().join("controls.csv");
    let controls: Vec<char> = (0u32..0x20)
        .chain(0x7f..0xa0)
        .filter_map(char::from_u32)
        .collect();
    let rows: Vec<(String, String, String)> = controls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("0c{i:06x}-1d2e-4f3a-8b4c-5d6e7f8a9b0c"),
                format!("before{c}refund {c} after card{c}"),
                (1_794_218_400_000i64 + i as i64 * 1000).to_string(),
            )
        })
        .collect();
    write_messages_in(
        &csv_path,
        rows.iter().map(|(id, text, ms)| {
            (
                CONVERSATION,
                Message {
                    id,
                    ms,
                    text,
                    sender: AGENT,
                },
            )
        }),
    )
    .unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&csv_path]);
    for args in [
        vec!["search", "refund", "--limit", "100"],
        vec!["search", "--json", "refund", "--limit", "100"],
        vec!["search", "--ndjson", "card", "--limit", "100"],
        vec!["search", "--csv", "card", "--limit", "100"],
        vec!["search", "--show", "refund", "--limit", "100"],
        vec!["search", "--sort", "oldest", "refund", "--limit", "100"],
        vec!["search", "--sort", "relevance", "refund", "--limit", "100"],
    ] {
        convault(&archive).args(&args).assert().success();
    }
    let out = convault(&archive)
        .args(["search", "--json", "refund", "--limit", "100"])
        .assert()
        .success();
    let hits: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), controls.len());
    for h in hits {
        let text: Vec<char> = h["text"].as_str().unwrap().chars().collect();
        let m = &h["matches"][0];
        let (s, e) = (
            m["start"].as_u64().unwrap() as usize,
            m["end"].as_u64().unwrap() as usize,
        );
        let found: String = text[s..e].iter().collect();
        assert_eq!(found.to_lowercase(), "refund", "{h}");
    }
    convault(&archive).arg("verify").assert().success();
}

/// An archive in `dir/a` of one message of `CONVERSATION`: `text`, sent
/// by `sender` (JSON).
fn one_message(dir: &Path, text: &str, sender: &str) -> std::path::PathBuf {
    let csv_path = dir.join("one.csv");
    write_messages_in(
        &csv_path,
        [(
            CONVERSATION,
            Message {
                id: "0d000001-1d2e-4f3a-8b4c-5d6e7f8a9b0c",
                ms: "1794218400000",
                text,
                sender,
            },
        )],
    )
    .unwrap();
    let archive = dir.join("a");
    ingest(&archive, &[&csv_path]);
    archive
}

/// Invisible characters in a message (zero-width, tag characters, the
/// byte order mark, Hangul fillers, line separators, the Arabic letter
/// mark) are shown escaped on the terminal and in HTML, as bidi controls
/// are; emoji joined by a zero-width joiner stay whole. JSON keeps the
/// text exactly.
#[test]
fn invisible_characters_are_shown_on_the_terminal_and_in_html() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "pay\u{200b}to\u{e0041}\u{e0042} acct\u{feff}9\u{3164}\u{2028}x\u{061c}y\u{00ad}z refund 👩\u{200d}💻";
    let archive = one_message(tmp.path(), text, AGENT);
    let escaped = [
        "pay\\u{200b}to\\u{e0041}\\u{e0042}",
        "acct\\u{feff}9\\u{3164}\\u{2028}x\\u{61c}y\\u{ad}z",
        "👩\u{200d}💻",
    ];
    let page = tmp.path().join("t.html");
    let mut outputs = Vec::new();
    for args in [
        vec!["show", CONVERSATION],
        vec!["search", "refund"],
        vec!["search", "--show", "refund"],
    ] {
        let out = convault(&archive).args(&args).assert().success();
        outputs.push(String::from_utf8_lossy(&out.get_output().stdout).into_owned());
    }
    convault(&archive)
        .args(["show", CONVERSATION, "--format", "html", "--out"])
        .arg(&page)
        .assert()
        .success();
    outputs.push(std::fs::read_to_string(&page).unwrap());
    for out in &outputs {
        for e in escaped {
            assert!(out.contains(e), "{e} not in\n{out}");
        }
        for hidden in [
            '\u{200b}',
            '\u{e0041}',
            '\u{feff}',
            '\u{3164}',
            '\u{2028}',
            '\u{61c}',
            '\u{ad}',
        ] {
            assert!(!out.contains(hidden), "U+{:04X} in\n{out}", hidden as u32);
        }
    }
    let out = convault(&archive)
        .args(["search", "--json", "refund"])
        .assert()
        .success();
    let hits: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(hits[0]["text"], text);
}

/// A directory from an untrusted tarball: its links (to files and
/// directories, inside and outside it, a loop, a dangling one) are never
/// followed and are named; a FIFO inside is skipped, not waited on; a
/// device or FIFO given by name is refused before anything is written
/// (issue 31, item 2).
#[test]
fn ingesting_a_directory_follows_no_link_and_reads_only_regular_files() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret-key.pem");
    std::fs::write(&secret, "-----BEGIN PRIVATE KEY----- do not archive me").unwrap();
    let outside_dir = tmp.path().join("home");
    std::fs::create_dir(&outside_dir).unwrap();
    std::fs::write(outside_dir.join("notes.csv"), "private,notes\n1,2\n").unwrap();
    let dir = tmp.path().join("export");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(fixture(WEEK1), dir.join("week1.zip")).unwrap();
    symlink(&secret, dir.join("key.csv")).unwrap();
    symlink("/etc/passwd", dir.join("passwd.csv")).unwrap();
    symlink(&outside_dir, dir.join("home")).unwrap();
    symlink(dir.join("week1.zip"), dir.join("inside-link.zip")).unwrap();
    symlink(&dir, dir.join("sub").join("loop")).unwrap();
    symlink(tmp.path().join("nowhere"), dir.join("dangling.csv")).unwrap();
    let fifo = dir.join("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo is on every machine this runs on");

    let archive = tmp.path().join("a");
    let out = convault(&archive)
        .args(["ingest", "--json"])
        .arg(&dir)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    let r: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        r["files"].as_array().unwrap().len(),
        1,
        "only week1.zip: {r}"
    );
    let warnings = r["warnings"].to_string();
    for skipped in [
        "key.csv",
        "passwd.csv",
        "home",
        "inside-link.zip",
        "loop",
        "dangling.csv",
    ] {
        assert!(
            warnings.contains(&format!("{skipped}: a symbolic link")),
            "{skipped} not named: {warnings}"
        );
    }
    assert!(warnings.contains("pipe.csv: a FIFO"), "{warnings}");
    // Not a byte of what the links point at is in the archive.
    let mut stack = vec![archive.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                for needle in [&b"PRIVATE KEY"[..], b"private,notes", b"root:x:0:0"] {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle),
                        "{} holds {:?}",
                        p.display(),
                        String::from_utf8_lossy(needle)
                    );
                }
            }
        }
    }

    // A device or a FIFO given by name: refused at once, nothing created.
    for path in [Path::new("/dev/zero"), fifo.as_path()] {
        let fresh = tmp.path().join("fresh");
        convault(&fresh)
            .arg("ingest")
            .arg(path)
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(6)
            .stderr(predicate::str::contains("not a regular file"));
        assert!(!fresh.exists(), "{} created an archive", path.display());
    }
}

/// A message that is a spreadsheet formula stays exact in CSV by default;
/// `--excel-safe` makes it text in `search --csv` and in a production's
/// load file, whose bag still validates (issue 31, item 12).
#[test]
fn excel_safe_makes_formula_cells_text_and_is_off_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let formula = "=HYPERLINK(\"http://evil.example\",\"refund\")";
    let archive = one_message(
        tmp.path(),
        formula,
        r#"{"role":"EndUser","appType":"iamessage","subject":"=cmd|' /C calc'!A0"}"#,
    );
    let cells = |args: &[&str]| -> Vec<String> {
        let out = convault(&archive).args(args).assert().success();
        let mut r = csv::Reader::from_reader(&out.get_output().stdout[..]);
        r.records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect()
    };
    let exact = cells(&["search", "--csv", "refund"]);
    assert!(exact.contains(&formula.to_owned()), "{exact:?}");
    let safe = cells(&["search", "--csv", "--excel-safe", "refund"]);
    assert!(safe.contains(&format!("'{formula}")), "{safe:?}");
    assert!(
        safe.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{safe:?}"
    );
    // Only with --csv.
    convault(&archive)
        .args(["search", "--excel-safe", "refund"])
        .assert()
        .code(2);

    let bag = tmp.path().join("bag");
    convault(&archive)
        .args(["produce", "refund", "--excel-safe", "--out"])
        .arg(&bag)
        .assert()
        .success();
    let mut r = csv::Reader::from_path(bag.join("data/loadfile.csv")).unwrap();
    let row: Vec<String> = r
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert!(row.contains(&format!("'{formula}")), "{row:?}");
    assert!(
        row.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{row:?}"
    );
    convault(&archive)
        .args(["produce", "verify"])
        .arg(&bag)
        .assert()
        .success();
}

/// Copies the zipped bag `from` to `to`, changing members as `edit` says:
/// `Some(bytes)` replaces a member's contents, `None` keeps it.
fn rezip(from: &Path, to: &Path, edit: impl Fn(&str) -> Option<Vec<u8>>) {
    let mut r = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut w = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for i in 0..r.len() {
        let mut m = r.by_index(i).unwrap();
        let name = m.name().unwrap().into_owned();
        if m.is_dir() {
            w.add_directory(name, deflated).unwrap();
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut m, &mut bytes).unwrap();
        w.start_file(name.clone(), deflated).unwrap();
        std::io::Write::write_all(&mut w, &edit(&name).unwrap_or(bytes)).unwrap();
    }
    w.finish().unwrap();
}

/// `produce verify BAG.zip` checks the members' sizes against the bag's
/// own Payload-Oxum before it extracts anything, and extracts no member
/// past its declared size: a zip bomb is refused having written nothing.
/// What it extracts is in an owner-only directory, removed after.
#[test]
fn a_zipped_bag_bomb_is_refused_before_anything_is_extracted() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let bag = tmp.path().join("bag.zip");
    convault(&archive)
        .args(["produce", "--zip", "--out"])
        .arg(&bag)
        .arg("refund")
        .assert()
        .success();
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let verify = |zip: &Path| {
        let mut c = convault(&archive);
        c.env("TMPDIR", &scratch)
            .args(["produce", "verify"])
            .arg(zip);
        c
    };
    verify(&bag).assert().success();
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);

    // 200 MB of zeros (about 200 KB deflated) in place of a transcript.
    let bomb = tmp.path().join("bomb.zip");
    rezip(&bag, &bomb, |name| {
        (name.contains("/data/conversations/") && name.ends_with(".html"))
            .then(|| vec![0u8; 200_000_000])
    });
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2_000_000);
    verify(&bomb)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("its data/ members declare"))
        .stderr(predicate::str::contains("where its Payload-Oxum says"))
        .stderr(predicate::str::contains("nothing more of it was extracted"));
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "nothing left in TMPDIR"
    );

    // A bag-info.txt raised to match is caught by the manifests, as any
    // changed bag; one with no Payload-Oxum is not extracted at all.
    let no_oxum = tmp.path().join("no-oxum.zip");
    rezip(&bag, &no_oxum, |name| {
        name.ends_with("/bag-info.txt")
            .then(|| b"BagIt-Profile-Identifier: x\n".to_vec())
    });
    verify(&no_oxum)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("gives no Payload-Oxum"));
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}

/// Ctrl-C (SIGINT) or SIGTERM during a first ingest stops it, and the
/// archive directory it created is removed again, as the README says;
/// nothing is left half-built (issue 31, item 2).
#[test]
fn an_interrupted_first_ingest_leaves_no_archive_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let csv_path = tmp.path().join("big.csv");
    let rows: Vec<(String, String)> = (0..400_000u64)
        .map(|i| {
            (
                format!("0e{i:06x}-1d2e-4f3a-8b4c-5d6e7f8a9b0c"),
                (1_794_218_400_000 + i).to_string(),
            )
        })
        .collect();
    write_messages_in(
        &csv_path,
        rows.iter().map(|(id, ms)| {
            (
                CONVERSATION,
                Message {
                    id,
                    ms,
                    text: "a refund for the order, please; it arrived broken",
                    sender: AGENT,
                },
            )
        }),
    )
    .unwrap();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let archive = tmp.path().join(format!("a{signal}"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_convault"))
            .env_remove("CONVAULT_ARCHIVE")
            .arg("--archive")
            .arg(&archive)
            .arg("ingest")
            .arg(&csv_path)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Rows are being read once the database is being built.
        let started = std::time::Instant::now();
        while !archive.join("archive.sqlite.building").exists() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the ingest never started building"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "interrupted (Ctrl-C or SIGTERM) before the export being read was committed: nothing of it is in the archive, and {}, which this ingest created, was removed again",
                archive.display()
            )),
            "{err}"
        );
        assert!(!archive.exists(), "{} left behind", archive.display());
    }

    // Into an archive that exists: it stays as it was, and the message
    // claims no removal.
    let archive = tmp.path().join("existing");
    ingest(&archive, &[&fixture(WEEK1)]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_convault"))
        .env_remove("CONVAULT_ARCHIVE")
        .arg("--archive")
        .arg(&archive)
        .arg("ingest")
        .arg(&csv_path)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Rows are being written once the WAL grows.
    let wal = archive.join("archive.sqlite-wal");
    let started = std::time::Instant::now();
    while !std::fs::metadata(&wal).is_ok_and(|m| m.len() > (1 << 20)) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the ingest never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("before the export being read was committed: nothing of it is in the archive")
            && !err.contains("removed again"),
        "{err}"
    );
    convault(&archive).arg("verify").assert().success();
    let out = convault(&archive)
        .args(["search", "--count", "broken"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        "0"
    );
}
