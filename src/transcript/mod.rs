//! Whole conversations read back from the archive, in time order.
//!
//! Which version a transcript shows: for each entry identifier, the
//! highest version (the latest content the archive received). Earlier
//! versions stay in the archive and are counted in `versions`.

pub mod html;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::archive::stored_bitmap::StoredSeen;
use crate::error::{Error, Result};
use crate::export::ExportKind;
use crate::timestamp::rfc3339;

/// One line of a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub entry: String,
    pub entry_type: String,
    pub is_message: bool,
    pub time: Option<String>,
    pub time_ms: Option<i64>,
    pub role: Option<String>,
    pub app_type: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// This entry's version shown (the latest), and how many exist.
    pub version: i64,
    pub versions: i64,
    /// The exports that contained the version shown, oldest first.
    pub exports: Vec<i64>,
    /// Links the message carries (a rich link's URL and title).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Files the message carries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The versions before the one shown (edits, redactions), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<Version>,
    /// Deleted at the source: the latest export of a complete kind (the
    /// transcript export holds all of history) holds no version of this
    /// entry, though an earlier one of that kind did. Omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<Absence>,
    #[serde(skip)]
    seqs: Vec<u32>,
    /// The `seq` of the version shown.
    #[serde(skip)]
    seq: i64,
}

/// A link in a message (`linkItem`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub title: Option<String>,
}

/// A file in a message (`staticContent.attachments[]`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attachment {
    pub name: Option<String>,
    pub mime_type: Option<String>,
    pub url: Option<String>,
}

/// An earlier version of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub version: i64,
    pub text: Option<String>,
    pub content_hash: String,
    /// The exports that contained this version, oldest first.
    pub exports: Vec<i64>,
    #[serde(skip)]
    seq: i64,
}

/// An entry or conversation the latest complete export lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Absence {
    /// The latest export of its kind, which lacks it.
    pub absent_from_export: i64,
    /// The latest export of that kind that held it.
    pub last_held_by_export: i64,
}

/// A conversation with its entries in time order.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub conversation: String,
    /// What the Data Export Service says of it (omitted when nothing).
    #[serde(skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    /// The whole conversation is missing from the latest complete export
    /// (deleted at the source); its entries are kept. Omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<Absence>,
    /// The participants' names by sender subject, as the conversation's
    /// own participant events give them (`displayName`): `005Kj…` is
    /// "Dana Whitfield". Omitted when there are none.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub participants: std::collections::BTreeMap<String, String>,
    pub entries: Vec<Line>,
}

/// A conversation's records from the Data Export Service, each the row as
/// received (column name to value), the latest version of each record.
///
/// Joins (the reference's keys): `Conversation` rows by their
/// `ConversationIdentifier`; sessions, participants and voice calls by
/// their `ConversationId`, and sessions and voice calls also by an entry's
/// related records; end users and channels by the sessions' (and the
/// conversation's) ids.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub conversations: Vec<Value>,
    pub channels: Vec<Value>,
    pub sessions: Vec<Value>,
    pub end_users: Vec<Value>,
    pub participants: Vec<Value>,
    pub voice_calls: Vec<Value>,
}

impl Context {
    /// One line per record, for people: its kind (`channel`, `session`,
    /// `end user`, `participant`, `voice call`) and its chief fields,
    /// each value passed through `show` (which makes it safe for where it
    /// is printed) and prefixed by its label.
    pub fn lines(&self, show: impl Fn(&str) -> String) -> Vec<(&'static str, String)> {
        const KINDS: [(&str, &[(&str, &str)]); 5] = [
            (
                "channel",
                &[
                    ("", "MasterLabel"),
                    ("", "DeveloperName"),
                    ("type ", "MessageType"),
                    ("", "Id"),
                ],
            ),
            (
                "session",
                &[
                    ("", "Id"),
                    ("status ", "Status"),
                    ("case ", "CaseId"),
                    ("owner ", "OwnerId"),
                    ("channel ", "ChannelName"),
                    ("from ", "StartTime"),
                    ("to ", "EndTime"),
                ],
            ),
            (
                "end user",
                &[
                    ("", "Name"),
                    ("platform key ", "MessagingPlatformKey"),
                    ("contact ", "ContactId"),
                    ("", "Id"),
                ],
            ),
            (
                "participant",
                &[
                    ("", "Name"),
                    ("", "ParticipantRole"),
                    ("", "ParticipantEntityId"),
                    ("joined ", "JoinedTime"),
                    ("left ", "LeftTime"),
                ],
            ),
            (
                "voice call",
                &[
                    ("", "Id"),
                    ("from ", "FromPhoneNumber"),
                    ("to ", "ToPhoneNumber"),
                    ("", "CallType"),
                    ("start ", "CallStartDateTime"),
                ],
            ),
        ];
        let rows = [
            &self.channels,
            &self.sessions,
            &self.end_users,
            &self.participants,
            &self.voice_calls,
        ];
        let mut out = Vec::new();
        for ((kind, fields), records) in KINDS.iter().zip(rows) {
            for v in records {
                let text = fields
                    .iter()
                    .filter_map(|(label, k)| {
                        v.get(*k)
                            .and_then(Value::as_str)
                            .filter(|x| !x.is_empty())
                            .map(|x| format!("{label}{}", show(x)))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push((*kind, text));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
            && self.channels.is_empty()
            && self.sessions.is_empty()
            && self.end_users.is_empty()
            && self.participants.is_empty()
            && self.voice_calls.is_empty()
    }
}

/// The `object` records whose `column` is one of `values`, one per record
/// Id, under the profiles' field names (`records.mapped`).
///
/// Which version: from each source (the profile that read it, e.g. the
/// Data Export Service's or Data Cloud's), the record's latest version;
/// where sources differ, a field filled in by a newer one wins, and a field
/// only one source has is kept.
fn records(conn: &Connection, object: &str, column: &str, values: &[String]) -> Result<Vec<Value>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.record_id, r.mapped FROM records r JOIN members m ON m.id = r.member_id
         WHERE r.object = ?1 AND r.{column} IN (SELECT value FROM json_each(?2))
           AND r.id = (SELECT max(v.id) FROM records v JOIN members vm ON vm.id = v.member_id
                       WHERE v.object = r.object AND v.record_id = r.record_id
                         AND vm.shape IS m.shape)
         ORDER BY r.record_id, r.id DESC"
    ))?;
    let rows = stmt
        .query_map(rusqlite::params![object, list], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<(String, serde_json::Map<String, Value>)> = Vec::new();
    for (id, mapped) in rows {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&mapped) else {
            continue;
        };
        match out.last_mut() {
            // Rows of one Id come newest first: older ones only fill gaps.
            Some((last, merged)) if *last == id => {
                for (k, v) in fields {
                    let empty = merged
                        .get(&k)
                        .is_none_or(|have| have.as_str().is_some_and(str::is_empty));
                    if empty {
                        merged.insert(k, v);
                    }
                }
            }
            _ => out.push((id, fields)),
        }
    }
    Ok(out.into_iter().map(|(_, m)| Value::Object(m)).collect())
}

/// The values of `field` in `rows`, without repeats.
fn values_of(rows: &[Value], field: &str) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get(field).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The conversation's channel as people name it: its messaging channel's
/// label (or developer name), else its session's channel name; `None`
/// when no Data Export Service record says.
pub fn channel(
    conn: &Connection,
    identifier: &str,
    conversation_id: i64,
) -> Result<Option<String>> {
    let c = context(conn, identifier, conversation_id)?;
    let named = |rows: &[Value], keys: &[&str]| {
        rows.iter().find_map(|r| {
            keys.iter().find_map(|k| {
                r.get(*k)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        })
    };
    Ok(named(&c.channels, &["MasterLabel", "DeveloperName"])
        .or_else(|| named(&c.sessions, &["ChannelName"])))
}

/// What the Data Export Service records say of the conversation.
fn context(conn: &Connection, identifier: &str, conversation_id: i64) -> Result<Context> {
    let conversations = records(
        conn,
        "Conversation",
        "conversation_identifier",
        &[identifier.to_owned()],
    )?;
    let refs = values_of(&conversations, "Id");
    let related: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT j.value FROM entries e, json_each(e.related_records) j
             WHERE e.conversation_id = ?1",
        )?
        .query_map([conversation_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    let joined = |object: &str| -> Result<Vec<Value>> {
        let mut rows = records(conn, object, "conversation_ref", &refs)?;
        for extra in records(conn, object, "record_id", &related)? {
            if !rows.contains(&extra) {
                rows.push(extra);
            }
        }
        Ok(rows)
    };
    let sessions = joined("MessagingSession")?;
    let voice_calls = joined("VoiceCall")?;
    let participants = records(conn, "ConversationParticipant", "conversation_ref", &refs)?;
    let end_users = records(
        conn,
        "MessagingEndUser",
        "record_id",
        &values_of(&sessions, "MessagingEndUserId"),
    )?;
    let mut channel_ids = values_of(&sessions, "MessagingChannelId");
    channel_ids.extend(values_of(&conversations, "ConversationChannelId"));
    let channels = records(conn, "MessagingChannel", "record_id", &channel_ids)?;
    Ok(Context {
        conversations,
        channels,
        sessions,
        end_users,
        participants,
        voice_calls,
    })
}

/// Reads conversation `identifier`; an unknown one is an error.
pub fn read(conn: &Connection, identifier: &str) -> Result<Transcript> {
    // One snapshot for the entries and every export's sightings, even if
    // an ingest commits meanwhile.
    let snapshot = conn.unchecked_transaction()?;
    let conversation_id: i64 = conn
        .query_row(
            "SELECT id FROM conversations WHERE identifier = ?1",
            [identifier],
            |r| r.get(0),
        )
        .optional()?
        .map_or_else(|| Err(not_held(conn, identifier)), Ok)?;
    let stored = versions(conn, conversation_id)?;
    let t = assemble(conn, identifier, conversation_id, &stored)?;
    snapshot.finish()?;
    Ok(t)
}

/// Reads conversation `conversation_id` (an archive's own id) and every
/// stored version of its entries, in one snapshot: what a production
/// renders (the transcript) and lists (every version, raw).
pub fn read_with_versions(
    conn: &Connection,
    conversation_id: i64,
) -> Result<(Transcript, Vec<Stored>)> {
    let snapshot = conn.unchecked_transaction()?;
    let identifier: String = conn
        .prepare_cached("SELECT identifier FROM conversations WHERE id = ?1")?
        .query_row([conversation_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::UnknownConversation(format!("#{conversation_id}")))?;
    let stored = versions(conn, conversation_id)?;
    let t = assemble(conn, &identifier, conversation_id, &stored)?;
    snapshot.finish()?;
    Ok((t, stored))
}

/// One stored version of an entry: every column a transcript or a
/// production uses, and where it was first read (member, line, and the
/// SHA-256 of the original that carried it).
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: String,
    pub version: i64,
    pub entry_type: String,
    pub entry_type_raw: Option<String>,
    pub is_message: bool,
    pub client_ms: Option<i64>,
    pub server_ms: Option<i64>,
    pub role: Option<String>,
    pub app_type: Option<String>,
    pub sender: Option<String>,
    pub text: Option<String>,
    pub payload: Option<String>,
    pub message_text: Option<String>,
    pub related_records: Option<String>,
    pub content_hash: String,
    pub export_id: i64,
    pub member: Option<String>,
    pub line: Option<i64>,
    pub original_sha256: Option<String>,
    /// The row's id (the entry's time key) and its number in the
    /// sightings bitmaps.
    id: i64,
    seq: i64,
}

impl Stored {
    /// The entry's time: the server's, else the client's.
    pub fn time_ms(&self) -> Option<i64> {
        self.server_ms.or(self.client_ms)
    }
}

/// Every stored version of a conversation's entries, in row order (each
/// entry's versions in order), read in one statement.
pub fn versions(conn: &Connection, conversation_id: i64) -> Result<Vec<Stored>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.identifier, e.version, e.entry_type, e.entry_type_raw, e.is_message,
                e.client_ms, e.server_ms, e.sender_role, e.sender_app_type, e.sender_subject,
                e.text, e.payload, e.message_text, e.related_records, e.content_hash,
                e.export_id, m.name, e.line, f.sha256, e.id, e.seq
         FROM entries e
         LEFT JOIN members m ON m.id = e.member_id
         LEFT JOIN files f ON f.id = m.file_id
         WHERE e.conversation_id = ?1
         ORDER BY e.id, e.version",
    )?;
    let rows = stmt.query_map([conversation_id], |r| {
        Ok(Stored {
            entry: r.get(0)?,
            version: r.get(1)?,
            entry_type: r.get(2)?,
            entry_type_raw: r.get(3)?,
            is_message: r.get(4)?,
            client_ms: r.get(5)?,
            server_ms: r.get(6)?,
            role: r.get(7)?,
            app_type: r.get(8)?,
            sender: r.get(9)?,
            text: r.get(10)?,
            payload: r.get(11)?,
            message_text: r.get(12)?,
            related_records: r.get(13)?,
            content_hash: r.get(14)?,
            export_id: r.get(15)?,
            member: r.get(16)?,
            line: r.get(17)?,
            original_sha256: r.get(18)?,
            id: r.get(19)?,
            seq: r.get(20)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The transcript of a conversation from its stored versions ([`lines`]),
/// with the conversation's records, what the latest complete export
/// lacks, and which exports held each version.
fn assemble(
    conn: &Connection,
    identifier: &str,
    conversation_id: i64,
    stored: &[Stored],
) -> Result<Transcript> {
    let mut t = Transcript {
        conversation: identifier.to_owned(),
        context: context(conn, identifier, conversation_id)?,
        absent: None,
        participants: participants(stored),
        entries: lines(stored),
    };
    mark_absent(conn, conversation_id, &mut t)?;
    mark_exports(conn, conversation_id, &mut t)?;
    Ok(t)
}

/// Each participant's name by sender subject, from the participant events'
/// payloads (`entries[].displayName` and `.participant.subject`), later
/// events winning. A payload that does not parse gives none.
fn participants(stored: &[Stored]) -> std::collections::BTreeMap<String, String> {
    let mut names = std::collections::BTreeMap::new();
    let mut events: Vec<&Stored> = stored
        .iter()
        .filter(|s| s.entry_type == "PARTICIPANT_CHANGED")
        .collect();
    events.sort_by_key(|s| (s.time_ms(), s.version));
    for s in events {
        let Some(payload) = s
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            continue;
        };
        for change in payload["entries"].as_array().into_iter().flatten() {
            if let (Some(name), Some(subject)) = (
                change["displayName"]
                    .as_str()
                    .filter(|n| !n.trim().is_empty()),
                change["participant"]["subject"].as_str(),
            ) {
                names.insert(subject.to_owned(), name.to_owned());
            }
        }
    }
    names
}

/// One line per entry: its latest version, the earlier ones oldest first;
/// in time order (an entry without a time first), ties in the latest
/// version's row order.
fn lines(stored: &[Stored]) -> Vec<Line> {
    let mut by_entry: std::collections::HashMap<&str, Vec<&Stored>> = Default::default();
    for s in stored {
        by_entry.entry(s.entry.as_str()).or_default().push(s);
    }
    let mut entries: Vec<(Option<i64>, i64, Line)> = by_entry
        .into_values()
        .filter_map(|mut all| {
            all.sort_by_key(|s| s.version);
            let latest = all.pop()?;
            let (links, attachments) = carried(latest.payload.as_deref());
            let mut seqs: Vec<u32> = all
                .iter()
                .filter_map(|s| u32::try_from(s.seq).ok())
                .collect();
            seqs.extend(u32::try_from(latest.seq).ok());
            let line = Line {
                entry: latest.entry.clone(),
                entry_type: latest.entry_type.clone(),
                is_message: latest.is_message,
                time: latest.time_ms().map(rfc3339),
                time_ms: latest.time_ms(),
                role: latest.role.clone(),
                app_type: latest.app_type.clone(),
                subject: latest.sender.clone(),
                text: latest.text.clone(),
                version: latest.version,
                versions: all.len() as i64 + 1,
                exports: Vec::new(),
                links,
                attachments,
                earlier: all
                    .iter()
                    .map(|s| Version {
                        version: s.version,
                        text: s.text.clone(),
                        content_hash: s.content_hash.clone(),
                        exports: Vec::new(),
                        seq: s.seq,
                    })
                    .collect(),
                seq: latest.seq,
                absent: None,
                seqs,
            };
            Some((latest.time_ms(), latest.id, line))
        })
        .collect();
    entries.sort_by_key(|(time, id, _)| (*time, *id));
    entries.into_iter().map(|(_, _, line)| line).collect()
}

/// The links and attachments a message's payload carries (the
/// reference's `staticContent.linkItem` and `staticContent.attachments[]`).
fn carried(payload: Option<&str>) -> (Vec<Link>, Vec<Attachment>) {
    let Some(v) = payload.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return (Vec::new(), Vec::new());
    };
    let sc = &v["abstractMessage"]["staticContent"];
    let s = |v: &Value| v.as_str().filter(|x| !x.is_empty()).map(str::to_owned);
    let links = s(&sc["linkItem"]["url"])
        .map(|url| Link {
            url,
            title: s(&sc["linkItem"]["title"]),
        })
        .into_iter()
        .collect();
    let attachments = sc["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| Attachment {
                    name: s(&x["name"]),
                    mime_type: s(&x["mimeType"]),
                    url: s(&x["url"]),
                })
                .collect()
        })
        .unwrap_or_default();
    (links, attachments)
}

/// The lines of `t` from `n` before entry `entry` to `n` after it.
pub fn window<'a>(t: &'a Transcript, entry: &str, n: usize) -> Result<&'a [Line]> {
    let at = t
        .entries
        .iter()
        .position(|l| l.entry == entry)
        .ok_or_else(|| Error::UnknownEntry {
            conversation: t.conversation.clone(),
            entry: entry.to_owned(),
        })?;
    let from = at.saturating_sub(n);
    let to = at.saturating_add(n).saturating_add(1).min(t.entries.len());
    Ok(&t.entries[from..to])
}

/// Fills each line's `exports`: the exports whose sightings hold the
/// version shown. Only each bitmap's header and the containers asked
/// about are read (archive::stored_bitmap), and an export's entries only
/// when it held the conversation.
fn mark_exports(conn: &Connection, conversation_id: i64, t: &mut Transcript) -> Result<()> {
    let Ok(conv) = u32::try_from(conversation_id) else {
        return Ok(());
    };
    let exports: Vec<i64> = conn
        .prepare_cached(
            "SELECT s.export_id FROM export_sightings s JOIN exports x ON x.id = s.export_id
             ORDER BY x.generated_ms, x.id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for export_id in exports {
        let Some(seen) = StoredSeen::open(conn, export_id)? else {
            continue;
        };
        if !seen.conversations.contains(conv)? {
            continue;
        }
        for line in &mut t.entries {
            if let Ok(s) = u32::try_from(line.seq)
                && seen.entries.contains(s)?
            {
                line.exports.push(export_id);
            }
            for v in &mut line.earlier {
                if let Ok(s) = u32::try_from(v.seq)
                    && seen.entries.contains(s)?
                {
                    v.exports.push(export_id);
                }
            }
        }
    }
    Ok(())
}

/// Marks what the latest export of each complete kind lacks that an
/// earlier export of that kind held: the conversation as a whole, and
/// each entry (no version of it held). Earlier exports' sightings are
/// opened newest first, only as far back as needed, and only the parts
/// asked about are read.
fn mark_absent(conn: &Connection, conversation_id: i64, t: &mut Transcript) -> Result<()> {
    let Ok(conv) = u32::try_from(conversation_id) else {
        return Ok(());
    };
    for kind in ExportKind::ALL.into_iter().filter(|k| k.is_complete()) {
        let exports = crate::archive::timeline::of_kind_newest_first(conn, kind.as_str())?;
        let Some((&latest, earlier)) = exports.split_first() else {
            continue;
        };
        let Some(now) = StoredSeen::open(conn, latest)? else {
            continue;
        };
        let mut opened: Vec<Option<StoredSeen>> = Vec::new();
        let mut earlier_held = |held: &dyn Fn(&StoredSeen) -> Result<bool>| -> Result<Option<i64>> {
            for (i, &export) in earlier.iter().enumerate() {
                if opened.len() <= i {
                    opened.push(StoredSeen::open(conn, export)?);
                }
                if let Some(seen) = &opened[i]
                    && held(seen)?
                {
                    return Ok(Some(export));
                }
            }
            Ok(None)
        };
        let absence = |last| Absence {
            absent_from_export: latest,
            last_held_by_export: last,
        };
        if !now.conversations.contains(conv)? {
            t.absent = earlier_held(&|s| s.conversations.contains(conv))?.map(absence);
        }
        for line in &mut t.entries {
            if any_held(&now, &line.seqs)? {
                continue;
            }
            let seqs = line.seqs.clone();
            line.absent = earlier_held(&move |s| any_held(s, &seqs))?.map(absence);
        }
    }
    Ok(())
}

/// Whether `seen` holds any of the versions `seqs`.
fn any_held(seen: &StoredSeen, seqs: &[u32]) -> Result<bool> {
    for &s in seqs {
        if seen.entries.contains(s)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why the archive does not hold conversation `identifier`: removed (by
/// which record, when), or never ingested.
pub fn not_held(conn: &Connection, identifier: &str) -> Error {
    let removed = conn
        .query_row(
            "SELECT x.kind, x.at_ms, x.ledger_seq FROM disposed_conversations d
             JOIN disposals x ON x.id = d.disposal_id
             WHERE d.identifier = ?1 ORDER BY x.id DESC LIMIT 1",
            [identifier],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional();
    match removed {
        Ok(Some((kind, at_ms, record))) => Error::Disposed {
            conversation: identifier.to_owned(),
            certificate: crate::archive::Archive::certificate_names(&kind, record).0,
            kind,
            at: crate::timestamp::rfc3339(at_ms),
            record,
        },
        Ok(None) => Error::UnknownConversation(identifier.to_owned()),
        Err(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stored(entry: usize, version: i64, time: Option<i64>, id: i64) -> Stored {
        Stored {
            entry: format!("e{entry}"),
            version,
            entry_type: "Message".into(),
            entry_type_raw: None,
            is_message: true,
            client_ms: None,
            server_ms: time,
            role: None,
            app_type: None,
            sender: None,
            text: Some(format!("e{entry} v{version}")),
            payload: None,
            message_text: None,
            related_records: None,
            content_hash: format!("h{entry}-{version}"),
            export_id: 1,
            member: None,
            line: None,
            original_sha256: None,
            id,
            seq: id,
        }
    }

    proptest! {
        /// Whatever order the rows come in: one line per entry showing its
        /// highest version, every other version earlier and in order, and
        /// lines in time order (no time first), ties by the row id.
        #[test]
        fn lines_show_each_entry_once_latest_version_in_time_order(
            entries in prop::collection::vec(
                (prop::collection::btree_set(1i64..6, 1..4), prop::option::of(0i64..5)),
                0..12,
            ),
            shuffle in any::<u64>(),
        ) {
            let mut rows = Vec::new();
            let mut id = 0;
            for (e, (versions, time)) in entries.iter().enumerate() {
                for &v in versions {
                    id += 1;
                    // Each version may carry its own time; the latest's counts.
                    rows.push(stored(e, v, time.map(|t| t + v), id * 7919 % 1000));
                }
            }
            let n = rows.len().max(1);
            rows.rotate_left(shuffle as usize % n);
            let lines = lines(&rows);
            prop_assert_eq!(lines.len(), entries.len());
            for line in &lines {
                let e: usize = line.entry[1..].parse().unwrap();
                let versions: Vec<i64> = entries[e].0.iter().copied().collect();
                prop_assert_eq!(line.version, *versions.last().unwrap());
                prop_assert_eq!(line.versions as usize, versions.len());
                let earlier: Vec<i64> = line.earlier.iter().map(|v| v.version).collect();
                prop_assert_eq!(&earlier[..], &versions[..versions.len() - 1]);
                prop_assert_eq!(line.seqs.len(), versions.len());
            }
            let keys: Vec<(Option<i64>, i64)> = lines
                .iter()
                .map(|l| (l.time_ms, l.seq))
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            prop_assert_eq!(keys, sorted);
        }
    }
}
