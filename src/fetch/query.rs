//! Which conversations to fetch, found in the org with SOQL through the
//! REST query API (`{instance_url}/services/data/vXX.X/query`), paged by
//! `nextRecordsUrl` until `done`.
//!
//! - `SELECT Id, ConversationIdentifier, StartTime, EndTime FROM
//!   Conversation WHERE EndTime >= {since} ORDER BY EndTime`: the
//!   conversations that ended since a time. Their end times also tell the
//!   budget which reads are free (a conversation that ended within the
//!   window is active already).
//! - `SELECT Id, ConversationId, CallStartDateTime FROM VoiceCall WHERE
//!   CallEndDateTime = null`: voice calls in progress. A call's entries
//!   are tied to it only after it ends, so its conversation is deferred
//!   and listed, never read half-way. An org without Salesforce Voice has
//!   no `VoiceCall` object; the query's `INVALID_TYPE` is taken as no
//!   calls.
//!
//! Invariant: `nextRecordsUrl` is followed only as a path on the org's
//! own host, so the bearer token never goes anywhere else.

use jiff::Timestamp;
use serde::Serialize;

use super::config::Api;
use super::http::{Client, Sleeper};
use crate::error::{Error, Result};

/// The most query pages read (2,000 records each: 20 million records).
pub const MAX_PAGES: u32 = 10_000;

/// A conversation the query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `ConversationIdentifier`: the id both entries APIs take.
    pub conversation: String,
    /// `Id`: the `Conversation` record's id (`0dw…`).
    pub record_id: String,
    pub ended: Option<Timestamp>,
}

/// A conversation not read now, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Deferred {
    /// The conversation identifier when the query gave it, else the
    /// `Conversation` record id.
    pub conversation: String,
    pub voice_call: String,
    pub reason: String,
}

/// What the queries found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub conversations: Vec<Listed>,
    pub deferred: Vec<Deferred>,
    /// Query pages read (requests made).
    pub pages: u64,
    /// What the user should know (e.g. the org has no voice calls).
    pub notes: Vec<String>,
}

/// The conversations that ended at or after `since`, less those whose
/// voice call is still in progress (deferred).
pub fn ended_since<S: Sleeper>(
    client: &mut Client<S>,
    api: &Api,
    since: Timestamp,
) -> Result<Found> {
    let mut found = Found::default();
    let soql = format!(
        "SELECT Id, ConversationIdentifier, StartTime, EndTime FROM Conversation WHERE EndTime >= {} ORDER BY EndTime",
        soql_datetime(since)
    );
    let mut listed = Vec::new();
    query(client, api, &soql, &mut found.pages, |r| {
        let conversation = text(r, "ConversationIdentifier");
        let record_id = text(r, "Id");
        if conversation.is_empty() {
            return Ok(());
        }
        let ended = time(r, "EndTime")?;
        listed.push(Listed {
            conversation,
            record_id,
            ended,
        });
        Ok(())
    })?;
    let mut calls = Vec::new();
    let voice = "SELECT Id, ConversationId, CallStartDateTime FROM VoiceCall WHERE CallEndDateTime = null AND ConversationId != null";
    match query(client, api, voice, &mut found.pages, |r| {
        calls.push((text(r, "Id"), text(r, "ConversationId")));
        Ok(())
    }) {
        Ok(()) => {}
        Err(Error::Api {
            status: Some(400),
            reason,
            ..
        }) if reason.contains("INVALID_TYPE") => found
            .notes
            .push("the org has no VoiceCall object: no voice calls to defer".into()),
        Err(e) => return Err(e),
    }
    for l in listed {
        match calls.iter().find(|(_, conv)| *conv == l.record_id) {
            Some((call, _)) => found.deferred.push(Deferred {
                conversation: l.conversation,
                voice_call: call.clone(),
                reason: "the voice call has not ended: its entries exist only after it ends".into(),
            }),
            None => found.conversations.push(l),
        }
    }
    // Calls in progress whose conversation the first query did not list
    // (not ended, so not found by end time): listed, so none is forgotten.
    for (call, conv) in calls {
        if !found.deferred.iter().any(|d| d.voice_call == call) {
            found.deferred.push(Deferred {
                conversation: conv,
                voice_call: call,
                reason: "the voice call is in progress: fetch again after it ends".into(),
            });
        }
    }
    Ok(found)
}

/// Runs `soql`, calling `each` on every record of every page.
fn query<S: Sleeper>(
    client: &mut Client<S>,
    api: &Api,
    soql: &str,
    pages: &mut u64,
    mut each: impl FnMut(&serde_json::Value) -> Result<()>,
) -> Result<()> {
    let base = format!(
        "{}/services/data/{}/query",
        api.instance_url, api.api_version
    );
    let mut url = format!("{base}?q={}", super::entries::encode(soql));
    // Every next page given: one given again would page forever.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let body = client.get(&url)?;
        *pages += 1;
        let page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Api {
            what: base.clone(),
            reason: format!("the query's answer is not JSON ({e})"),
            status: None,
        })?;
        let records = page["records"].as_array().ok_or_else(|| Error::Api {
            what: base.clone(),
            reason: "the query's answer has no records".into(),
            status: None,
        })?;
        for r in records {
            each(r)?;
        }
        if page["done"].as_bool() != Some(false) {
            return Ok(());
        }
        let next = page["nextRecordsUrl"].as_str().unwrap_or("");
        if !next.starts_with("/services/data/") || next.contains("//") {
            return Err(Error::Api {
                what: base,
                reason: format!(
                    "the query is not done but its nextRecordsUrl {:?} is not a path on the org",
                    crate::sanitize::for_terminal(next)
                ),
                status: None,
            });
        }
        if !seen.insert(next.to_owned()) {
            return Err(Error::Api {
                what: base,
                reason: "the query names as its next page one it gave before: paging would never end; stopped".into(),
                status: None,
            });
        }
        url = format!("{}{next}", api.instance_url);
    }
    Err(Error::Api {
        what: base,
        reason: format!("more than {MAX_PAGES} pages of query results; stopped"),
        status: None,
    })
}

fn text(record: &serde_json::Value, field: &str) -> String {
    record[field].as_str().unwrap_or("").to_owned()
}

/// A datetime field (`2026-11-20T10:15:00.000+0000`), or none.
fn time(record: &serde_json::Value, field: &str) -> Result<Option<Timestamp>> {
    let Some(raw) = record[field].as_str() else {
        return Ok(None);
    };
    let ms = crate::timestamp::parse_millis(raw).map_err(|e| Error::Api {
        what: format!("the query's {field}"),
        reason: e,
        status: None,
    })?;
    Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
}

/// A SOQL datetime literal (unquoted, UTC).
fn soql_datetime(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::config::EntriesApi;
    use crate::fetch::http::{RealSleep, Retry};
    use crate::fetch::secret::{Secret, Source};
    use convault_test_support::http::serve_org;
    use std::time::Duration;

    fn setup(
        respond: impl Fn(&convault_test_support::http::Seen) -> (u16, Vec<(String, String)>, String)
        + Send
        + Sync
        + 'static,
    ) -> (Api, Client<RealSleep>, tempfile::TempDir) {
        let (url, _) = serve_org(10, respond);
        let text = format!(
            "instance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n"
        );
        let c: crate::fetch::config::ApiConfig = toml::from_str(&text).unwrap();
        let mut api = c.check().unwrap();
        api.entries_api = EntriesApi::ConversationData;
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("s");
        std::fs::write(&p, "s").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = Secret::read(&Source::File(p), dir.path()).unwrap();
        let client = Client::new(
            &url,
            "x",
            secret,
            Duration::ZERO,
            Retry::default(),
            RealSleep,
        );
        (api, client, dir)
    }

    fn record(id: u32, ended: &str) -> String {
        format!(
            r#"{{"attributes":{{"type":"Conversation"}},"Id":"0dw{id:012}","ConversationIdentifier":"5b0d3c1e-8a47-4f2e-9c61-{id:012x}","StartTime":"2026-11-20T09:00:00.000+0000","EndTime":{ended}}}"#
        )
    }

    #[test]
    fn two_pages_follow_next_records_url_and_a_call_in_progress_is_deferred() {
        let (api, mut client, _dir) = setup(|s| {
            let body = if s.path.contains("FROM%20VoiceCall") {
                r#"{"done":true,"records":[{"Id":"0LQ1","ConversationId":"0dw000000000002"},{"Id":"0LQ2","ConversationId":"0dw000000000009"}]}"#.to_owned()
            } else if s.path.ends_with("/query/01g-2000") {
                format!(
                    r#"{{"done":true,"records":[{},{}]}}"#,
                    record(2, r#""2026-11-20T10:00:00.000+0000""#),
                    record(3, r#""2026-11-20T11:00:00.000+0000""#)
                )
            } else {
                assert!(
                    s.path
                        .contains("WHERE%20EndTime%20%3E%3D%202026-11-19T00%3A00%3A00Z"),
                    "{}",
                    s.path
                );
                format!(
                    r#"{{"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01g-2000","records":[{}]}}"#,
                    record(1, r#""2026-11-19T23:00:00Z""#)
                )
            };
            (200, vec![], body)
        });
        let since: Timestamp = "2026-11-19T00:00:00Z".parse().unwrap();
        let found = ended_since(&mut client, &api, since).unwrap();
        assert_eq!(found.pages, 3);
        let ids: Vec<&str> = found
            .conversations
            .iter()
            .map(|l| l.conversation.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "5b0d3c1e-8a47-4f2e-9c61-000000000001",
                "5b0d3c1e-8a47-4f2e-9c61-000000000003"
            ]
        );
        assert_eq!(
            found.conversations[1].ended,
            Some("2026-11-20T11:00:00Z".parse().unwrap())
        );
        // The ended conversation with a call still open, and the call
        // whose conversation the first query did not list.
        assert_eq!(found.deferred.len(), 2);
        assert_eq!(
            found.deferred[0].conversation,
            "5b0d3c1e-8a47-4f2e-9c61-000000000002"
        );
        assert_eq!(found.deferred[1].conversation, "0dw000000000009");
    }

    #[test]
    fn an_org_without_voice_and_a_next_url_off_the_org() {
        let (api, mut client, _dir) = setup(|s| {
            if s.path.contains("FROM%20VoiceCall") {
                (
                    400,
                    vec![],
                    r#"[{"errorCode":"INVALID_TYPE","message":"sObject type 'VoiceCall' is not supported."}]"#.into(),
                )
            } else {
                (
                    200,
                    vec![],
                    format!(r#"{{"done":true,"records":[{}]}}"#, record(1, "null")),
                )
            }
        });
        let found = ended_since(&mut client, &api, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(found.conversations.len(), 1);
        assert_eq!(found.conversations[0].ended, None);
        assert!(found.notes[0].contains("no VoiceCall"), "{:?}", found.notes);

        let (api, mut client, _dir) = setup(|_| {
            (
                200,
                vec![],
                r#"{"done":false,"nextRecordsUrl":"https://elsewhere.example/services/data/v62.0/query/x","records":[]}"#.into(),
            )
        });
        let e = ended_since(&mut client, &api, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(e.to_string().contains("not a path on the org"), "{e}");

        // A next page that leads back to itself: stopped at the second.
        let (api, mut client, _dir) = setup(|_| {
            (
                200,
                vec![],
                r#"{"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01g-loop","records":[]}"#.into(),
            )
        });
        let e = ended_since(&mut client, &api, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(
            e.to_string()
                .contains("names as its next page one it gave before"),
            "{e}"
        );
    }
}
