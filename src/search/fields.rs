//! The query language's fields (`role:`, `after:`, `session:`, …): each
//! value checked where it is written, then the field tree compiled into one
//! SQL condition over the hit's row (`entries e`), its values bound as
//! named parameters, never spliced into the SQL text.
//!
//! Conversation fields (`conversation:`, `session:`, `case:`, `enduser:`,
//! `channel:`) are resolved to conversation rows first, by their indexes;
//! `export:N` reads export N's sightings bitmap and asks it through a SQL
//! function registered on the connection (`convault_in_export`), never a
//! list of every version.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;

use super::query::{Field, Node, example};
use crate::archive::rekey;
use crate::archive::sightings::Seen;
use crate::error::{Error, Result};

/// The conditions of a query, ready to run.
#[derive(Debug, Default)]
pub struct Conditions {
    /// One SQL boolean over `e` (and `c`, the conversation), or `None`.
    pub sql: Option<String>,
    /// `(:name, value)` for every parameter `sql` names.
    pub params: Vec<(String, Value)>,
    /// The id range `[lo, hi)` the top-level `after:`/`before:` allow, for
    /// the full-text index's rowid constraint.
    pub range: Option<(i64, i64)>,
}

/// How times without an offset are read: `after:2026-11-09` is that day's
/// start in this zone (UTC unless `--tz`).
#[derive(Debug, Clone)]
pub struct Clock {
    pub zone: jiff::tz::TimeZone,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A value refused, with its place: exit 2.
fn refuse(f: &Field, why: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "{}:{} {why} at character {}",
        f.key,
        crate::sanitize::for_terminal(&f.value),
        f.at
    ))
}

/// Checks every field's value without touching the archive, so that a
/// wrong query is refused before it opens anything.
pub fn check(nodes: &[Node], clock: &Clock) -> Result<()> {
    for n in nodes {
        match n {
            Node::Field(f) => {
                check_field(f, clock)?;
            }
            Node::Not(inner, _) => check(std::slice::from_ref(inner), clock)?,
            Node::And(v) | Node::Or(v) => check(v, clock)?,
            Node::Term(_) | Node::Near(..) => {}
        }
    }
    Ok(())
}

fn check_field(f: &Field, clock: &Clock) -> Result<()> {
    match f.key.as_str() {
        "after" | "before" => {
            time(f, clock)?;
        }
        "export" => {
            export_number(f)?;
        }
        "has" => {
            has(f)?;
        }
        "version" if !f.value.eq_ignore_ascii_case("current") => {
            return Err(refuse(
                f,
                "is not a version choice: version:current keeps each entry's latest version only",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// A time given to `after:` or `before:`: a date (`2026-11-09`, the start
/// of that day in the clock's zone) or an RFC 3339 time with its offset.
fn time(f: &Field, clock: &Clock) -> Result<i64> {
    let v = f.value.as_str();
    if v.len() == 10
        && let Ok(date) = v.parse::<jiff::civil::Date>()
    {
        return date
            .to_zoned_datetime(clock.zone.clone())
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| refuse(f, e));
    }
    v.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            refuse(
                f,
                "is not a date or time: give a date (2026-11-09, the whole day in UTC or --tz) or an RFC 3339 time with its offset (2026-11-09T10:00:00Z)",
            )
        })
}

fn export_number(f: &Field) -> Result<i64> {
    f.value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            refuse(
                f,
                "is not an export number (see `convault ledger`), e.g. export:3",
            )
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Has {
    Attachment,
    Link,
}

fn has(f: &Field) -> Result<Has> {
    match f.value.to_ascii_lowercase().as_str() {
        "attachment" | "attachments" => Ok(Has::Attachment),
        "link" | "links" => Ok(Has::Link),
        _ => Err(refuse(f, "is not known: use has:attachment or has:link")),
    }
}

/// `e.payload` as JSON, or NULL when it is not JSON (a payload is kept as
/// received; a malformed one must not turn a search into an SQL error).
const PAYLOAD: &str = "(CASE WHEN json_valid(e.payload) THEN e.payload END)";

/// Compiles the field trees (ANDed) into conditions, resolving
/// conversation fields and loading the sightings `export:` asks about.
pub fn compile(conn: &Connection, nodes: &[Node], clock: &Clock) -> Result<Conditions> {
    let mut cx = Compiler {
        conn,
        clock,
        params: Vec::new(),
        exports: BTreeMap::new(),
    };
    let mut range: Option<(i64, i64)> = None;
    let mut parts = Vec::new();
    for n in nodes {
        if let Node::Field(f) = n
            && matches!(f.key.as_str(), "after" | "before")
        {
            let ms = time(f, clock)?;
            let (lo, hi) = range.unwrap_or((0, i64::MAX));
            range = Some(if f.key == "after" {
                (lo.max(rekey::key(ms)), hi)
            } else {
                (lo, hi.min(rekey::key(ms)))
            });
        }
        parts.push(cx.node(n)?);
    }
    if !cx.exports.is_empty() {
        register_exports(conn, cx.exports)?;
    }
    Ok(Conditions {
        sql: (!parts.is_empty()).then(|| parts.join(" AND ")),
        params: cx.params,
        range,
    })
}

struct Compiler<'a> {
    conn: &'a Connection,
    clock: &'a Clock,
    params: Vec<(String, Value)>,
    exports: BTreeMap<i64, Seen>,
}

impl Compiler<'_> {
    fn param(&mut self, v: impl Into<Value>) -> String {
        let name = format!(":f{}", self.params.len() + 1);
        self.params.push((name.clone(), v.into()));
        name
    }

    /// `nodes` compiled and joined by `op`, in parentheses.
    fn joined(&mut self, nodes: &[Node], op: &str) -> Result<String> {
        let parts = nodes
            .iter()
            .map(|n| self.node(n))
            .collect::<Result<Vec<_>>>()?;
        Ok(format!("({})", parts.join(op)))
    }

    fn node(&mut self, n: &Node) -> Result<String> {
        Ok(match n {
            Node::Field(f) => format!("({})", self.field(f)?),
            Node::Not(inner, _) => format!("NOT {}", self.node(inner)?),
            Node::And(v) => self.joined(v, " AND ")?,
            Node::Or(v) => self.joined(v, " OR ")?,
            Node::Term(_) | Node::Near(..) => {
                return Err(Error::Internal("words reached the field compiler"));
            }
        })
    }

    fn field(&mut self, f: &Field) -> Result<String> {
        let v = f.value.as_str();
        Ok(match f.key.as_str() {
            "role" => format!("lower(e.sender_role) = lower({})", self.param(v.to_owned())),
            "type" => {
                // `participantchanged`, `participant_changed` and
                // `ParticipantChanged` are one type.
                let normal = v.to_lowercase().replace(['_', '-'], "");
                format!(
                    "replace(lower(e.entry_type), '_', '') = {}",
                    self.param(normal)
                )
            }
            "format" => {
                let p = self.param(v.to_lowercase());
                format!(
                    "{p} IN (lower(json_extract({PAYLOAD}, '$.abstractMessage.staticContent.formatType')),
                             lower(json_extract({PAYLOAD}, '$.abstractMessage.choices.formatType')),
                             lower(json_extract({PAYLOAD}, '$.abstractMessage.messageType')),
                             lower(replace(json_extract({PAYLOAD}, '$.abstractMessage.messageType'), 'Message', '')))"
                )
            }
            "has" => match has(f)? {
                Has::Attachment => format!(
                    "(json_array_length({PAYLOAD}, '$.abstractMessage.staticContent.attachments') > 0
                      OR json_extract({PAYLOAD}, '$.abstractMessage.staticContent.formatType')
                         IN ('Attachments', 'ExternalAttachments'))"
                ),
                Has::Link => format!(
                    "(json_extract({PAYLOAD}, '$.abstractMessage.staticContent.linkItem.url') IS NOT NULL
                      OR json_extract({PAYLOAD}, '$.abstractMessage.staticContent.formatType') = 'RichLink'
                      OR instr(lower(e.text), 'http://') > 0 OR instr(lower(e.text), 'https://') > 0
                      OR instr(lower(e.text), 'www.') > 0)"
                ),
            },
            "from" => {
                let p = self.param(v.to_owned());
                // The sender's subject, or a name a ParticipantChanged
                // entry of the same conversation gave that subject.
                format!(
                    "(e.sender_subject = {p} OR e.sender_subject IN (
                        SELECT json_extract(pe.value, '$.participant.subject')
                        FROM entries pc, json_each(CASE WHEN json_valid(pc.payload) THEN pc.payload END, '$.entries') pe
                        WHERE pc.conversation_id = e.conversation_id
                          AND pc.entry_type = 'PARTICIPANT_CHANGED'
                          AND lower(json_extract(pe.value, '$.displayName')) = lower({p})))"
                )
            }
            "after" => format!("e.id >= {}", self.param(rekey::key(time(f, self.clock)?))),
            "before" => format!(
                "(e.id >= 0 AND e.id < {})",
                self.param(rekey::key(time(f, self.clock)?))
            ),
            "version" => "NOT EXISTS (SELECT 1 FROM entries n WHERE n.conversation_id = e.conversation_id
                    AND n.identifier = e.identifier AND n.version > e.version)"
                .to_owned(),
            "export" => {
                let n = export_number(f)?;
                if !self.exports.contains_key(&n) {
                    let seen = Seen::load(self.conn, n)?
                        .ok_or_else(|| refuse(f, "names no export of this archive (see `convault ledger`)"))?;
                    self.exports.insert(n, seen);
                }
                format!("convault_in_export({}, e.seq)", self.param(n))
            }
            "substr" => format!(
                "instr(lower(coalesce(e.text, '')), lower({})) > 0",
                self.param(v.to_owned())
            ),
            "conversation" | "session" | "case" | "enduser" | "channel" => {
                let ids = super::conversations_for(self.conn, &f.key, v)?;
                let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
                format!(
                    "e.conversation_id IN (SELECT value FROM json_each({}))",
                    self.param(list)
                )
            }
            other => {
                return Err(refuse(
                    f,
                    format!("has an unknown key {other}: (e.g. {})", example(other)),
                ));
            }
        })
    }
}

/// Registers `convault_in_export(N, seq)`: whether export N contained
/// that version, by its sightings bitmap.
fn register_exports(conn: &Connection, exports: BTreeMap<i64, Seen>) -> Result<()> {
    let exports = Arc::new(exports);
    conn.create_scalar_function(
        "convault_in_export",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let export: i64 = ctx.get(0)?;
            let seq: i64 = ctx.get(1)?;
            Ok(exports
                .get(&export)
                .is_some_and(|s| u32::try_from(seq).is_ok_and(|seq| s.entries.contains(seq))))
        },
    )?;
    Ok(())
}
