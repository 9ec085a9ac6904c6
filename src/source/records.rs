//! Records: rows of the objects an auditor joins conversations against
//! (`Conversation`, `MessagingSession`, `MessagingEndUser`, ...), from the
//! Data Export Service's object CSVs or Data Cloud's DMOs, read through a
//! records profile (`crate::profile`).
//!
//! They carry no message text but a conversation's channel, its sessions
//! (with case and owner), its end user and participants, its voice calls.
//! Every row is kept twice over: whole, column name to value exactly as
//! received (`fields`), and under the profile's field names (`mapped`), so
//! that `show` and `search` read one spelling whatever the source. With
//! them go the keys that join a row to conversations: the Salesforce
//! `Conversation` id it belongs to and, for a `Conversation`, the
//! conversation identifier the entries carry.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::hashing::HashWriter;
use crate::profile::Mapping;

/// One row of an object, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The object: `Conversation`, `MessagingSession`, ...
    pub object: String,
    /// Its `Id`.
    pub record_id: String,
    /// The `Conversation` id it belongs to (its own `Id` for a
    /// `Conversation`), when it has one.
    pub conversation_ref: Option<String>,
    /// The conversation identifier entries carry, when the row names one.
    pub conversation_identifier: Option<String>,
    /// The row as a JSON object, column name to value, keys sorted.
    pub fields: String,
    /// The row under the profile's field names (a column the profile does
    /// not name keeps its header, the profile's prefix and suffix removed).
    pub mapped: String,
    /// SHA-256 of the object and `fields`: the same row in next week's
    /// export is not stored twice.
    pub content_hash: String,
}

impl ObjectRecord {
    /// The record in `row` under `mapping` (a records profile applied to
    /// `headers`); the reason when it has no `Id`.
    pub fn from_row(
        mapping: &Mapping<'_>,
        headers: &[String],
        row: &[&str],
    ) -> Result<Self, String> {
        let object = mapping.profile.object.clone();
        let get = |field: &str| {
            mapping
                .get(field, row)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let record_id = get("Id").ok_or_else(|| format!("{object} row without an Id"))?;
        let conversation_identifier = get("ConversationIdentifier");
        let conversation_ref = if object == "Conversation" {
            Some(record_id.clone())
        } else {
            get("ConversationId")
        };
        let map: BTreeMap<&str, &str> = headers
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}'))
            .zip(row.iter().copied())
            .collect();
        let mut mapped: BTreeMap<String, &str> = BTreeMap::new();
        for (i, (header, value)) in headers.iter().zip(row.iter().copied()).enumerate() {
            let key = match mapping.field_of(i) {
                Some(field) => field.to_owned(),
                None => mapping.profile.strip(header).to_owned(),
            };
            // Where several columns fill one field, the profile's choice.
            let value = mapping.value_of_column(i, row).unwrap_or(value);
            mapped.entry(key).or_insert(value);
        }
        let fields = serde_json::to_string(&map).unwrap_or_default();
        let mapped = serde_json::to_string(&mapped).unwrap_or_default();
        let mut w = HashWriter::default();
        let _ = serde_json::to_writer(
            &mut w,
            &Hashed {
                object: &object,
                fields: &map,
            },
        );
        Ok(ObjectRecord {
            object,
            record_id,
            conversation_ref,
            conversation_identifier,
            fields,
            mapped,
            content_hash: w.finish_hex(),
        })
    }
}

/// Fills `mapped` for records stored before it existed (schema 5), by the
/// built-in profile named by their member's shape; a record whose profile
/// is gone keeps its fields as they are.
pub fn backfill_mapped(tx: &rusqlite::Connection) -> crate::error::Result<()> {
    let rows: Vec<(i64, String, Option<String>)> = tx
        .prepare(
            "SELECT r.id, r.fields, m.shape FROM records r JOIN members m ON m.id = r.member_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare("UPDATE records SET mapped = ?2 WHERE id = ?1")?;
    for (id, fields, shape) in rows {
        let parsed: BTreeMap<String, String> = serde_json::from_str(&fields).unwrap_or_default();
        let headers: Vec<String> = parsed.keys().cloned().collect();
        let row: Vec<&str> = parsed.values().map(String::as_str).collect();
        let profile = shape
            .as_deref()
            .and_then(|s| crate::profile::Profiles::builtin_named(s).ok());
        let mapped = profile
            .and_then(|p| p.matches(&headers))
            .and_then(|m| ObjectRecord::from_row(&m, &headers, &row).ok())
            .map_or(fields, |r| r.mapped);
        update.execute(rusqlite::params![id, mapped])?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Hashed<'a> {
    object: &'a str,
    fields: &'a BTreeMap<&'a str, &'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiles;

    fn h(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    fn object_of(headers: &[&str], member: &str) -> Option<String> {
        let all = Profiles::builtin().unwrap();
        all.recognise(&h(headers), member)
            .map(|m| m.profile.object.clone())
    }

    #[test]
    fn objects_are_recognised_by_columns_and_name() {
        let conv = [
            "Id",
            "ConversationIdentifier",
            "ConversationChannelId",
            "StartTime",
        ];
        assert_eq!(
            object_of(&conv, "Conversation.csv").as_deref(),
            Some("Conversation")
        );
        let session = [
            "ID",
            "CONVERSATIONID",
            "MESSAGINGCHANNELID",
            "MESSAGINGENDUSERID",
            "CASEID",
        ];
        assert_eq!(
            object_of(&session, "x/MessagingSession.csv").as_deref(),
            Some("MessagingSession")
        );
        let user = ["Id", "Name", "MessagingChannelId", "MessagingPlatformKey"];
        assert_eq!(
            object_of(&user, "anything.csv").as_deref(),
            Some("MessagingEndUser")
        );
        assert_eq!(object_of(&["Id", "Name"], "Account.csv"), None);
    }

    #[test]
    fn a_row_keeps_every_column_and_its_join_keys() {
        let all = Profiles::builtin().unwrap();
        let headers = h(&["\u{feff}Id", "ConversationIdentifier", "Extra"]);
        let m = all.recognise(&headers, "Conversation.csv").unwrap();
        let r = ObjectRecord::from_row(&m, &headers, &["0dwX", "uuid-1", "x"]).unwrap();
        assert_eq!(r.object, "Conversation");
        assert_eq!(r.record_id, "0dwX");
        assert_eq!(r.conversation_ref.as_deref(), Some("0dwX"));
        assert_eq!(r.conversation_identifier.as_deref(), Some("uuid-1"));
        assert_eq!(
            r.fields,
            r#"{"ConversationIdentifier":"uuid-1","Extra":"x","Id":"0dwX"}"#
        );
        assert_eq!(r.mapped, r.fields);
        assert!(ObjectRecord::from_row(&m, &headers, &["", "u", "x"]).is_err());
    }

    #[test]
    fn a_data_cloud_row_is_mapped_to_the_same_field_names() {
        let all = Profiles::builtin().unwrap();
        let headers = h(&[
            "ssot__Id__c",
            "ssot__ConversationId__c",
            "ssot__MessagingSessionStartTime__c",
            "ssot__OwnerId__c",
            "ssot__Topic__c",
        ]);
        let m = all.recognise(&headers, "sessions.csv").unwrap();
        assert_eq!(m.profile.name, "data-cloud-messaging-session");
        let r = ObjectRecord::from_row(
            &m,
            &headers,
            &["0Mw1", "0dw1", "2026-11-16T09:14:03.000Z", "005A", "t"],
        )
        .unwrap();
        assert_eq!(r.object, "MessagingSession");
        assert_eq!(r.conversation_ref.as_deref(), Some("0dw1"));
        assert_eq!(
            r.mapped,
            r#"{"ConversationId":"0dw1","Id":"0Mw1","OwnerId":"005A","StartTime":"2026-11-16T09:14:03.000Z","Topic":"t"}"#
        );
        assert!(r.fields.contains(r#""ssot__OwnerId__c":"005A""#));
    }
}
