//! One conversation entry (a message or an event), normalised from whatever
//! shape it arrived in, with its content hash.
//!
//! Invariants:
//! - `payload` is the entry payload exactly as received; everything else is
//!   derived from the row and can be derived again (`verify --rederive`).
//! - `content_hash` is SHA-256 over [`Entry::canonical_form`], which depends
//!   only on the stored fields, so anyone can recompute it (see
//!   `docs/archive-format.md`).
//! - Entry types are normalised to UPPER_SNAKE when known (`Message` and
//!   `MESSAGE` are one type); an unknown type is kept verbatim.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hashing::HashWriter;
use crate::text;
use crate::timestamp::parse_millis;

/// Tag at the head of the canonical form; bump only with a new migration.
pub const CANONICAL_VERSION: &str = "convault-entry-v1";

/// Entry types named in Salesforce's documentation, in UPPER_SNAKE form.
pub const KNOWN_TYPES: &[&str] = &[
    "MESSAGE",
    "PARTICIPANT_CHANGED",
    "ROUTING_RESULT",
    "ROUTING_WORK_RESULT",
    "NOTE",
    "FLAG_RAISE",
    "FLAG_LOWER",
    "CLIENT_MENU",
    "END_USER_CONSENT_UPDATED",
    "SESSION_STATUS_CHANGED",
    "CONSULT_CONVERSATION_INFO",
    "SESSION_CONTEXT",
    "SESSION_OWNER_CHANGED",
    "MESSAGE_DELIVERY_FAILED",
];

/// The fields of one entry as a source reader found them, still as text.
#[derive(Debug, Default, Clone)]
pub struct RawEntry<'a> {
    pub identifier: &'a str,
    pub conversation: &'a str,
    /// `conversation` is the Id of a `Conversation` record (Data Cloud's
    /// ConversationId), not yet the identifier: the ingest resolves it.
    pub conversation_is_record: bool,
    pub entry_type: Option<&'a str>,
    pub payload: Option<&'a str>,
    pub sender: Option<&'a str>,
    /// The sender's parts in columns of their own, used when there is no
    /// `sender` JSON.
    pub sender_role: Option<&'a str>,
    pub sender_app_type: Option<&'a str>,
    pub sender_subject: Option<&'a str>,
    pub client_timestamp: Option<&'a str>,
    pub server_timestamp: Option<&'a str>,
    pub related_records: Option<&'a str>,
    /// Connect API `messageText`: HTML-escaped message text.
    pub message_text: Option<&'a str>,
}

/// A CSV row's hash before parsing (`CsvMember::row_hash`): an archived
/// row seen again is recognised by it without being parsed
/// (`ingest::known`).
pub type RowHash = [u8; 16];

/// One entry, normalised and hashed, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub identifier: String,
    pub conversation: String,
    /// `conversation` is still a `Conversation` record's Id, to resolve to
    /// its identifier ([`Entry::with_conversation`]); never stored as such
    /// unless no record maps it.
    #[serde(default)]
    pub conversation_is_record: bool,
    /// Normalised type: UPPER_SNAKE for known types, verbatim otherwise.
    pub entry_type: String,
    /// The type exactly as the source wrote it.
    pub entry_type_raw: String,
    pub sender_role: Option<String>,
    pub sender_app_type: Option<String>,
    pub sender_subject: Option<String>,
    pub client_ms: Option<i64>,
    pub server_ms: Option<i64>,
    pub related_records: Vec<String>,
    /// The payload JSON text exactly as received.
    pub payload: Option<String>,
    pub message_text: Option<String>,
    /// Searchable text (messages) or a readable description (events).
    pub text: Option<String>,
    pub is_message: bool,
    pub content_hash: String,
}

impl Entry {
    /// Normalises `raw`. The error is a reason fit for the quarantine.
    pub fn from_raw(raw: &RawEntry<'_>) -> Result<Entry, String> {
        let identifier = raw.identifier.trim();
        if identifier.is_empty() {
            return Err("the entry identifier is empty".into());
        }
        let conversation = raw.conversation.trim();
        if conversation.is_empty() {
            return Err("the conversation identifier is empty".into());
        }
        let payload_text = raw.payload.filter(|p| !p.trim().is_empty());
        let payload_json = match payload_text {
            Some(p) => Some(
                serde_json::from_str::<Value>(p)
                    .map_err(|e| format!("entry_payload is not valid JSON ({e})"))?,
            ),
            None => None,
        };
        let type_from_payload = payload_json
            .as_ref()
            .and_then(|v| v.get("entryType"))
            .and_then(Value::as_str);
        let entry_type_raw = raw
            .entry_type
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or(type_from_payload)
            .unwrap_or("")
            .to_owned();
        if entry_type_raw.is_empty() {
            return Err(
                "the entry type is empty (no entry_type column value, no entryType in the payload)"
                    .into(),
            );
        }
        let entry_type = normalize_entry_type(&entry_type_raw);
        let (sender_role, sender_app_type, sender_subject) = match parse_sender(raw.sender)? {
            (None, None, None) => {
                let part = |p: Option<&str>| {
                    p.map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                };
                (
                    part(raw.sender_role),
                    part(raw.sender_app_type),
                    part(raw.sender_subject),
                )
            }
            parsed => parsed,
        };
        let client_ms = parse_ts("client timestamp", raw.client_timestamp)?;
        let server_ms = parse_ts("server timestamp", raw.server_timestamp)?;
        let related_records = parse_related(raw.related_records)?;
        let message_text = raw
            .message_text
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let extracted = text::extract(&entry_type, payload_json.as_ref(), message_text.as_deref());

        let mut entry = Entry {
            identifier: identifier.to_owned(),
            conversation: conversation.to_owned(),
            conversation_is_record: raw.conversation_is_record,
            entry_type,
            entry_type_raw,
            sender_role,
            sender_app_type,
            sender_subject,
            client_ms,
            server_ms,
            related_records,
            payload: payload_text.map(str::to_owned),
            message_text,
            text: extracted.text,
            is_message: extracted.is_message,
            content_hash: String::new(),
        };
        entry.content_hash = entry.canonical_hash(payload_json.as_ref());
        Ok(entry)
    }

    /// The canonical form hashed into `content_hash`: a compact JSON array
    /// (keys of nested objects sorted, non-ASCII unescaped) of
    /// `[version, identifier, conversation, entry_type, role, app_type,
    /// subject, client_ms, server_ms, related_records, payload, message_text]`
    /// where `payload` is the parsed payload JSON (so its whitespace and key
    /// order do not matter) or null.
    pub fn canonical_form(&self, payload: Option<&Value>) -> String {
        let mut out = Vec::new();
        // Writing JSON of plain values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &self.canonical_parts(payload));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Hex SHA-256 of [`Entry::canonical_form`], serialised straight into
    /// the hasher (no copy of the payload, no intermediate string).
    pub fn canonical_hash(&self, payload: Option<&Value>) -> String {
        let mut hasher = HashWriter::default();
        let _ = serde_json::to_writer(&mut hasher, &self.canonical_parts(payload));
        hasher.finish_hex()
    }

    #[allow(clippy::type_complexity)]
    fn canonical_parts<'a>(
        &'a self,
        payload: Option<&'a Value>,
    ) -> (
        &'static str,
        &'a str,
        &'a str,
        &'a str,
        &'a Option<String>,
        &'a Option<String>,
        &'a Option<String>,
        &'a Option<i64>,
        &'a Option<i64>,
        &'a [String],
        Option<&'a Value>,
        &'a Option<String>,
    ) {
        (
            CANONICAL_VERSION,
            &self.identifier,
            &self.conversation,
            &self.entry_type,
            &self.sender_role,
            &self.sender_app_type,
            &self.sender_subject,
            &self.client_ms,
            &self.server_ms,
            &self.related_records,
            payload,
            &self.message_text,
        )
    }

    /// This entry filed under conversation `identifier` (a record Id
    /// resolved), its content hash computed again.
    pub fn with_conversation(mut self, identifier: &str) -> Entry {
        self.conversation = identifier.to_owned();
        self.conversation_is_record = false;
        let payload = self
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok());
        self.content_hash = self.canonical_hash(payload.as_ref());
        self
    }

    /// Whether this entry shows nothing that `stored` (an archived version
    /// of the same identifier) does not: every field it has equals
    /// `stored`'s, its related records are among `stored`'s, and its
    /// payload is the same JSON. A source with fewer columns (Data Cloud
    /// has no sender) sees the same entry through a narrower window; that
    /// is a sighting, not an edit (docs/archive-format.md).
    pub fn is_narrower_view_of(&self, stored: &Entry) -> bool {
        fn within<T: PartialEq>(mine: &Option<T>, theirs: &Option<T>) -> bool {
            mine.is_none() || mine == theirs
        }
        let payload_same = match (&self.payload, &stored.payload) {
            (None, _) => true,
            (Some(a), Some(b)) => {
                a == b
                    || serde_json::from_str::<Value>(a).ok()
                        == serde_json::from_str::<Value>(b).ok()
            }
            (Some(_), None) => false,
        };
        self.conversation == stored.conversation
            && self.entry_type == stored.entry_type
            && within(&self.sender_role, &stored.sender_role)
            && within(&self.sender_app_type, &stored.sender_app_type)
            && within(&self.sender_subject, &stored.sender_subject)
            && within(&self.client_ms, &stored.client_ms)
            && within(&self.server_ms, &stored.server_ms)
            && within(&self.message_text, &stored.message_text)
            && self
                .related_records
                .iter()
                .all(|r| stored.related_records.contains(r))
            && payload_same
            && (self.payload.is_some() || self.text.is_none() || self.text == stored.text)
    }

    /// Whether this entry is a text-only view (the Connect API's
    /// `messageText`, no payload) of an archived version whose extracted
    /// text is `text`: the same entry seen through a narrower window, not
    /// an edit. Such a sighting adds no version (docs/archive-format.md).
    pub fn is_text_view_of(&self, text: Option<&str>) -> bool {
        self.payload.is_none()
            && self.message_text.is_some()
            && self.text.is_some()
            && self.text.as_deref() == text
    }

    /// The entry's time: the server's when known, else the client's.
    pub fn time_ms(&self) -> Option<i64> {
        self.server_ms.or(self.client_ms)
    }
}

/// Whether `s` is a UUID in its 36-character text form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `Message` → `MESSAGE`, `ParticipantChanged` → `PARTICIPANT_CHANGED`;
/// a type that is not in [`KNOWN_TYPES`] either way is returned verbatim.
pub fn normalize_entry_type(raw: &str) -> String {
    let raw = raw.trim();
    let mut snake = String::with_capacity(raw.len() + 4);
    let mut prev_lower = false;
    for c in raw.chars() {
        if c.is_uppercase() && prev_lower {
            snake.push('_');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        snake.extend(c.to_uppercase());
    }
    if KNOWN_TYPES.contains(&snake.as_str()) {
        snake
    } else {
        raw.to_owned()
    }
}

type Sender = (Option<String>, Option<String>, Option<String>);

/// `{"role":..,"appType":..,"subject":..}`; a bare word is taken as the role.
fn parse_sender(raw: Option<&str>) -> Result<Sender, String> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((None, None, None));
    };
    if !s.starts_with('{') {
        return Ok((Some(s.to_owned()), None, None));
    }
    let v: Value =
        serde_json::from_str(s).map_err(|e| format!("sender is not valid JSON ({e})"))?;
    let field = |names: &[&str]| {
        names.iter().find_map(|n| match v.get(*n) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    Ok((
        field(&["role"]),
        field(&["appType", "app_type"]),
        field(&["subject"]),
    ))
}

fn parse_ts(what: &str, raw: Option<&str>) -> Result<Option<i64>, String> {
    match raw {
        Some(s) => parse_millis(s).map_err(|e| format!("{what}: {e}")),
        None => Ok(None),
    }
}

/// A JSON array of ids, or ids separated by `;`, `,` or white space.
fn parse_related(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    if s.starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(s)
            .map_err(|e| format!("related_records is not a valid JSON array ({e})"))?;
        return Ok(v
            .into_iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect());
    }
    Ok(s.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::sha256_hex;

    fn raw<'a>(payload: &'a str) -> RawEntry<'a> {
        RawEntry {
            identifier: "e1",
            conversation: "c1",
            entry_type: Some("Message"),
            payload: Some(payload),
            sender: Some(r#"{"role":"EndUser","appType":"iamessage","subject":"u1"}"#),
            client_timestamp: Some("1736508081161"),
            server_timestamp: Some("2025-01-10T11:21:21.203Z"),
            related_records: Some("0Mw1;0Mw2"),
            ..RawEntry::default()
        }
    }

    const HELLO: &str = r#"{"entryType":"Message","abstractMessage":{"messageType":"StaticContentMessage","staticContent":{"formatType":"Text","text":"Hello"}}}"#;

    #[test]
    fn normalises_types() {
        assert_eq!(normalize_entry_type("Message"), "MESSAGE");
        assert_eq!(normalize_entry_type("MESSAGE"), "MESSAGE");
        assert_eq!(
            normalize_entry_type("ParticipantChanged"),
            "PARTICIPANT_CHANGED"
        );
        assert_eq!(
            normalize_entry_type("RoutingWorkResult"),
            "ROUTING_WORK_RESULT"
        );
        assert_eq!(
            normalize_entry_type("EndUserConsentUpdated"),
            "END_USER_CONSENT_UPDATED"
        );
        assert_eq!(normalize_entry_type("HologramBeamed"), "HologramBeamed");
        assert_eq!(normalize_entry_type("HOLOGRAM_BEAMED"), "HOLOGRAM_BEAMED");
    }

    #[test]
    fn builds_an_entry() {
        let e = Entry::from_raw(&raw(HELLO)).unwrap();
        assert_eq!(e.entry_type, "MESSAGE");
        assert_eq!(e.sender_role.as_deref(), Some("EndUser"));
        assert_eq!(e.client_ms, Some(1_736_508_081_161));
        assert_eq!(e.server_ms, Some(1_736_508_081_203));
        assert_eq!(e.related_records, vec!["0Mw1", "0Mw2"]);
        assert_eq!(e.text.as_deref(), Some("Hello"));
        assert!(e.is_message);
        assert_eq!(e.content_hash.len(), 64);
    }

    #[test]
    fn hash_ignores_payload_formatting_but_not_content() {
        let a = Entry::from_raw(&raw(HELLO)).unwrap();
        let spaced = HELLO.replace(':', ": ").replace(',', ", ");
        let b = Entry::from_raw(&raw(&spaced)).unwrap();
        assert_eq!(a.content_hash, b.content_hash);
        assert_ne!(a.payload, b.payload, "the raw payload is kept as received");
        let redacted = HELLO.replace("Hello", "*****");
        let c = Entry::from_raw(&raw(&redacted)).unwrap();
        assert_ne!(a.content_hash, c.content_hash);
    }

    #[test]
    fn hash_is_the_documented_canonical_form() {
        let e = Entry::from_raw(&raw(HELLO)).unwrap();
        let payload: Value = serde_json::from_str(HELLO).unwrap();
        let form = e.canonical_form(Some(&payload));
        assert!(form.starts_with(r#"["convault-entry-v1","e1","c1","MESSAGE","EndUser","iamessage","u1",1736508081161,1736508081203,["0Mw1","0Mw2"],{"abstractMessage":"#));
        assert_eq!(e.content_hash, sha256_hex(form.as_bytes()));
    }

    #[test]
    fn bad_rows_give_reasons() {
        let mut r = raw(HELLO);
        r.identifier = " ";
        assert!(Entry::from_raw(&r).unwrap_err().contains("identifier"));
        let r = raw("{not json");
        assert!(Entry::from_raw(&r).unwrap_err().contains("entry_payload"));
        let mut r = raw(HELLO);
        r.client_timestamp = Some("soon");
        assert!(
            Entry::from_raw(&r)
                .unwrap_err()
                .contains("client timestamp")
        );
        let mut r = raw(HELLO);
        r.related_records = Some("[1,");
        assert!(Entry::from_raw(&r).unwrap_err().contains("related_records"));
    }

    #[test]
    fn type_falls_back_to_the_payload() {
        let mut r = raw(HELLO);
        r.entry_type = None;
        assert_eq!(Entry::from_raw(&r).unwrap().entry_type, "MESSAGE");
        r.payload = None;
        assert!(Entry::from_raw(&r).unwrap_err().contains("entry type"));
    }

    #[test]
    fn a_narrower_view_is_not_an_edit() {
        let full = Entry::from_raw(&raw(HELLO)).unwrap();
        // Data Cloud: no sender, no related records, the payload re-spaced.
        let spaced = HELLO.replace(',', ", ");
        let mut r = raw(&spaced);
        r.sender = None;
        r.related_records = None;
        let narrow = Entry::from_raw(&r).unwrap();
        assert_ne!(narrow.content_hash, full.content_hash);
        assert!(narrow.is_narrower_view_of(&full));
        assert!(!full.is_narrower_view_of(&narrow), "the sender is new");
        // A redaction is an edit, however narrow the source.
        let redacted = HELLO.replace("Hello", "*****");
        let mut r = raw(&redacted);
        r.sender = None;
        assert!(!Entry::from_raw(&r).unwrap().is_narrower_view_of(&full));
        // So is a different time.
        let mut r = raw(HELLO);
        r.client_timestamp = Some("1736508081162");
        assert!(!Entry::from_raw(&r).unwrap().is_narrower_view_of(&full));
    }

    #[test]
    fn a_resolved_conversation_is_hashed_again() {
        let mut r = raw(HELLO);
        r.conversation = "0dwX";
        r.conversation_is_record = true;
        let e = Entry::from_raw(&r).unwrap();
        assert!(e.conversation_is_record);
        let resolved = e.clone().with_conversation("c1");
        assert!(!resolved.conversation_is_record);
        assert_eq!(
            resolved.content_hash,
            Entry::from_raw(&raw(HELLO)).unwrap().content_hash
        );
    }

    #[test]
    fn sender_parts_in_their_own_columns() {
        let mut r = raw(HELLO);
        r.sender = None;
        r.sender_role = Some("Agent");
        r.sender_subject = Some(" 005A ");
        let e = Entry::from_raw(&r).unwrap();
        assert_eq!(e.sender_role.as_deref(), Some("Agent"));
        assert_eq!(e.sender_app_type, None);
        assert_eq!(e.sender_subject.as_deref(), Some("005A"));
    }

    #[test]
    fn related_records_forms() {
        assert_eq!(parse_related(Some(r#"["a","b"]"#)).unwrap(), vec!["a", "b"]);
        assert_eq!(parse_related(Some("a, b")).unwrap(), vec!["a", "b"]);
        assert_eq!(parse_related(Some("")).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn sender_forms() {
        assert_eq!(
            parse_sender(Some("Agent")).unwrap().0.as_deref(),
            Some("Agent")
        );
        assert!(parse_sender(Some("{oops")).is_err());
        assert_eq!(parse_sender(None).unwrap(), (None, None, None));
    }
}
