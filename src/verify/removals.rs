//! Removals (dispositions and erasures): each one recorded in the
//! database has its ledger record, of its kind, holding its certificate's
//! SHA-256, and its certificate file is present under `certificates/` with
//! that hash. A removal whose record or certificate is missing or changed
//! is a failure: the archive can no longer show what was removed and why.

use super::kind::FailureKind;
use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::Value;

use super::Findings;
use crate::archive::Archive;
use crate::error::Result;
use crate::hashing::HashingReader;
use crate::ledger::Record;
use crate::retention::certificate;

pub(super) fn check(
    archive: &Archive,
    conn: &Connection,
    records: &[Record],
    f: &mut Findings,
) -> Result<()> {
    let by_seq: HashMap<i64, &Record> = records.iter().map(|r| (r.seq, r)).collect();
    let disposals: Vec<(i64, String, String)> = conn
        .prepare("SELECT ledger_seq, kind, certificate_sha256 FROM disposals ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, kind, sha) in disposals {
        let item = format!("{kind} of ledger record {seq}");
        match by_seq.get(&seq) {
            Some(r)
                if r.kind == kind
                    && r.details.get("certificate_sha256").and_then(Value::as_str)
                        == Some(sha.as_str()) => {}
            Some(r) => f.fail(
                FailureKind::RemovalRecord,
                &item,
                format!("a {kind} record holding certificate SHA-256 {sha}"),
                format!(
                    "a {} record holding {}",
                    r.kind,
                    r.details
                        .get("certificate_sha256")
                        .and_then(Value::as_str)
                        .unwrap_or("none")
                ),
            ),
            None => f.fail(
                FailureKind::RemovalRecord,
                &item,
                "its ledger record",
                "none",
            ),
        }
        let (name, _) = Archive::certificate_names(&kind, seq);
        let path = archive.root().join(&name);
        let found = std::fs::File::open(&path).and_then(|file| {
            let mut h = HashingReader::new(file);
            std::io::copy(&mut h, &mut std::io::sink())?;
            h.finish()
        });
        match found {
            Ok((_, found)) if found == sha => {}
            Ok((_, found)) => f.fail(FailureKind::CertificateChanged, name, sha, found),
            Err(e) => f.fail(
                FailureKind::CertificateMissing,
                name,
                "present",
                e.to_string(),
            ),
        }
        // The readable form: its hash on record, or (removals recorded
        // before there was one) the JSON rendered again.
        let (_, text_name) = Archive::certificate_names(&kind, seq);
        let recorded = by_seq.get(&seq).and_then(|r| {
            r.details
                .get("certificate_text_sha256")
                .and_then(Value::as_str)
        });
        let cert = match recorded {
            Some(_) => None,
            None => std::fs::File::open(&path)
                .ok()
                .and_then(|file| serde_json::from_reader(std::io::BufReader::new(file)).ok()),
        };
        if let Some((kind, detail)) =
            certificate::text_problem(&archive.root().join(&text_name), recorded, cert.as_ref())
        {
            let (kind, expected) = if kind == "certificate-text-missing" {
                (FailureKind::CertificateTextMissing, "present")
            } else {
                (
                    FailureKind::CertificateTextChanged,
                    "the text of its certificate",
                )
            };
            f.fail(kind, text_name, expected, detail);
        }
    }
    Ok(())
}
