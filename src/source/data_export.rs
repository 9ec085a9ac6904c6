//! Shape 4: the Data Export Service's object CSVs (`Conversation.csv`,
//! `MessagingSession.csv`, ... in `WE_<orgId>_<n>.ZIP`), kept as records.
//!
//! They carry no message text but what an auditor joins against: a
//! conversation's channel, its sessions (with case and owner), its end user
//! and participants, its voice calls. Every row is kept whole (column name
//! to value, exactly as received) with the keys that join it to the
//! conversations: the Salesforce `Conversation` id it belongs to and, for a
//! `Conversation` row, the conversation identifier the entries carry.
//!
//! An object is recognised by its columns (API field names, any case), the
//! file's name breaking ties; a CSV of none of them is quarantined.

use serde::Serialize;

use super::transcript_csv::normalise_header;
use crate::hashing::HashWriter;

/// A Data Export Service object convault keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// The API name: `Conversation`, `MessagingSession`, ...
    pub name: &'static str,
    /// Recorded in `members.shape`.
    pub shape: &'static str,
    /// Normalised columns it must have.
    required: &'static [&'static str],
}

/// Most specific first.
const OBJECTS: &[Object] = &[
    Object {
        name: "ConversationEntry",
        shape: "des-conversation-entry",
        required: &["id", "conversationid", "entrytype", "actortype"],
    },
    Object {
        name: "ConversationParticipant",
        shape: "des-conversation-participant",
        required: &["id", "conversationid", "participantrole"],
    },
    Object {
        name: "MessagingSession",
        shape: "des-messaging-session",
        required: &["id", "messagingenduserid", "messagingchannelid"],
    },
    Object {
        name: "VoiceCall",
        shape: "des-voice-call",
        required: &["id", "vendorcallkey"],
    },
    Object {
        name: "MessagingEndUser",
        shape: "des-messaging-end-user",
        required: &["id", "messagingplatformkey", "messagingchannelid"],
    },
    Object {
        name: "MessagingChannel",
        shape: "des-messaging-channel",
        required: &["id", "developername", "masterlabel"],
    },
    Object {
        name: "Conversation",
        shape: "des-conversation",
        required: &["id", "conversationidentifier"],
    },
];

/// The object whose columns `headers` has; the file's name (`Object.csv`)
/// decides between several.
pub fn recognise(headers: &[String], member: &str) -> Option<Object> {
    let norm: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
    let fits: Vec<Object> = OBJECTS
        .iter()
        .copied()
        .filter(|o| o.required.iter().all(|r| norm.iter().any(|h| h == r)))
        .collect();
    let stem = member
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(member)
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    fits.iter()
        .copied()
        .find(|o| o.name.to_ascii_lowercase() == stem)
        .or_else(|| fits.first().copied())
}

/// One row of an object, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub object: &'static str,
    /// Its `Id`.
    pub record_id: String,
    /// The `Conversation` id it belongs to (its own `Id` for a
    /// `Conversation`), when it has one.
    pub conversation_ref: Option<String>,
    /// For a `Conversation`: the conversation identifier entries carry.
    pub conversation_identifier: Option<String>,
    /// The row as a JSON object, column name to value, keys sorted.
    pub fields: String,
    /// SHA-256 of `fields`: the same row in next week's export is not
    /// stored twice.
    pub content_hash: String,
}

impl ObjectRecord {
    /// The record in a row of `object` with these `headers`; the reason
    /// when it has no `Id`.
    pub fn from_row(object: Object, headers: &[String], row: &[&str]) -> Result<Self, String> {
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| normalise_header(h) == name)
                .and_then(|i| row.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let record_id = get("id").ok_or_else(|| format!("{} row without an Id", object.name))?;
        let (conversation_ref, conversation_identifier) = if object.name == "Conversation" {
            (Some(record_id.clone()), get("conversationidentifier"))
        } else {
            (get("conversationid"), None)
        };
        let map: std::collections::BTreeMap<&str, &str> = headers
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}'))
            .zip(row.iter().copied())
            .collect();
        let fields = serde_json::to_string(&map).unwrap_or_default();
        let mut w = HashWriter::default();
        let _ = serde_json::to_writer(
            &mut w,
            &Hashed {
                object: object.name,
                fields: &map,
            },
        );
        Ok(ObjectRecord {
            object: object.name,
            record_id,
            conversation_ref,
            conversation_identifier,
            fields,
            content_hash: w.finish_hex(),
        })
    }
}

#[derive(Serialize)]
struct Hashed<'a> {
    object: &'a str,
    fields: &'a std::collections::BTreeMap<&'a str, &'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn objects_are_recognised_by_columns_and_name() {
        let conv = h(&[
            "Id",
            "ConversationIdentifier",
            "ConversationChannelId",
            "StartTime",
        ]);
        assert_eq!(
            recognise(&conv, "Conversation.csv").map(|o| o.name),
            Some("Conversation")
        );
        let session = h(&[
            "ID",
            "CONVERSATIONID",
            "MESSAGINGCHANNELID",
            "MESSAGINGENDUSERID",
            "CASEID",
        ]);
        assert_eq!(
            recognise(&session, "x/MessagingSession.csv").map(|o| o.name),
            Some("MessagingSession")
        );
        let user = h(&["Id", "Name", "MessagingChannelId", "MessagingPlatformKey"]);
        assert_eq!(
            recognise(&user, "anything.csv").map(|o| o.name),
            Some("MessagingEndUser")
        );
        assert_eq!(recognise(&h(&["Id", "Name"]), "Account.csv"), None);
    }

    #[test]
    fn a_row_keeps_every_column_and_its_join_keys() {
        let conv = recognise(&h(&["Id", "ConversationIdentifier"]), "Conversation.csv").unwrap();
        let r = ObjectRecord::from_row(
            conv,
            &h(&["\u{feff}Id", "ConversationIdentifier"]),
            &["0dwX", "uuid-1"],
        )
        .unwrap();
        assert_eq!(r.record_id, "0dwX");
        assert_eq!(r.conversation_ref.as_deref(), Some("0dwX"));
        assert_eq!(r.conversation_identifier.as_deref(), Some("uuid-1"));
        assert_eq!(
            r.fields,
            r#"{"ConversationIdentifier":"uuid-1","Id":"0dwX"}"#
        );
        assert!(
            ObjectRecord::from_row(conv, &h(&["Id", "ConversationIdentifier"]), &["", "u"])
                .is_err()
        );
    }
}
