//! Recording an export request: the cadence check, an override when the
//! user sets a refusal aside, the configured trigger command, and the
//! ledger records, all under the writer lock.
//!
//! Order matters: the check and the configuration are read before
//! anything runs; the trigger runs before the records are written, so a
//! failed trigger is recorded as `trigger-failed` and never counts as a
//! request (it would block the next one for a week).

use jiff::Timestamp;
use rusqlite::TransactionBehavior;
use serde::Serialize;
use serde_json::json;

use crate::archive::Archive;
use crate::cadence::{self, ExportKind, Refusal};
use crate::config::{Config, TriggerRun};
use crate::error::{Error, Result};
use crate::ledger::{self, Record, kind};

/// What to request.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: ExportKind,
    pub monthly: bool,
    pub who: String,
    pub note: Option<String>,
    /// `--override --reason`: request despite refusals, recording this.
    pub override_reason: Option<String>,
    pub now: Timestamp,
}

/// What was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: ExportKind,
    /// The `export-requested` record.
    pub record: Record,
    /// The `override` record, when refusals were set aside.
    pub override_record: Option<Record>,
    /// The trigger command's run, when one is configured.
    pub trigger: Option<TriggerRun>,
    /// When the request after this one will be allowed (UTC).
    pub next_allowed: String,
    /// For a Data Export: until when its files can be downloaded (UTC).
    pub download_until: Option<String>,
    /// What the writer session did on the way in (a stale lock cleared,
    /// an interrupted run finished, conversations removed again).
    pub warnings: Vec<String>,
}

/// Checks the cadence rule and records the request (see the module doc).
pub fn request(archive: &Archive, req: &Request) -> Result<Outcome> {
    let root = archive.root();
    // A request is recorded in an archive's ledger: it never creates one
    // (a mistyped --archive would start a new, empty record).
    let mut warnings = Vec::new();
    let session =
        crate::writer::Session::begin(archive, "request", &req.who, req.now, &mut warnings)?;
    let config = Config::load(root)?;
    let mut conn = session.conn;
    let records = ledger::read_all(&conn)?;
    let refusals = cadence::refusals(&records, req.kind, req.monthly, req.now);
    if !refusals.is_empty() && req.override_reason.is_none() {
        return Err(refused(req.kind, &refusals));
    }
    let trigger = config
        .trigger(req.kind)
        .map(|t| t.run(root, req.kind, &req.who));

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let override_record = match (&req.override_reason, refusals.is_empty()) {
        (Some(reason), false) => Some(ledger::append(
            &tx,
            req.now,
            kind::OVERRIDE,
            &req.who,
            json!({
                "export_kind": req.kind.as_str(),
                "reason": reason,
                "rules": refusals.iter().map(Refusal::rule).collect::<Vec<_>>(),
                "refusals": refusals.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        )?),
        _ => None,
    };
    if let Some(run) = trigger.as_ref().filter(|r| !r.ok) {
        let rec = ledger::append(
            &tx,
            req.now,
            kind::TRIGGER_FAILED,
            &req.who,
            json!({"export_kind": req.kind.as_str(), "note": req.note, "trigger": run}),
        )?;
        tx.commit()?;
        return Err(trigger_failed(req.kind, run, rec.seq));
    }
    let record = ledger::append(
        &tx,
        req.now,
        kind::EXPORT_REQUESTED,
        &req.who,
        json!({
            "export_kind": req.kind.as_str(),
            "monthly": req.monthly,
            "note": req.note,
            "override_record": override_record.as_ref().map(|r| r.seq),
            "trigger": trigger,
        }),
    )?;
    tx.commit()?;

    let interval = req.kind.interval(req.monthly);
    let plus = |d| req.now.checked_add(d).ok().map(crate::clock::rfc3339_ms);
    Ok(Outcome {
        kind: req.kind,
        next_allowed: plus(interval).unwrap_or_default(),
        download_until: (req.kind == ExportKind::DataExport)
            .then(|| plus(cadence::DOWNLOAD_WINDOW))
            .flatten(),
        record,
        override_record,
        trigger,
        warnings,
    })
}

fn refused(kind: ExportKind, refusals: &[Refusal]) -> Error {
    let mut reasons: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    reasons.push(
        "to request anyway, add --override --reason TEXT (both are recorded in the ledger)".into(),
    );
    Error::Refused {
        kind: kind.as_str(),
        reasons,
        next_allowed: refusals.iter().find_map(|r| match r {
            Refusal::TooSoon { next_allowed, .. } => Some(next_allowed.clone()),
            _ => None,
        }),
    }
}

fn trigger_failed(kind: ExportKind, run: &TriggerRun, seq: i64) -> Error {
    let mut output = String::new();
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if !text.trim().is_empty() {
            output.push_str(&format!("--- {name} ---\n{}\n", text.trim_end()));
        }
    }
    Error::TriggerFailed {
        kind: kind.as_str(),
        why: run.error.clone().unwrap_or_else(|| "failed".into()),
        seq,
        output,
    }
}
