//! A fake Salesforce org on 127.0.0.1 for `fetch`'s tests: the OAuth
//! token endpoint, the REST query API (SOQL on `Conversation` and
//! `VoiceCall`, paged by `nextRecordsUrl`), the Conversation Data API
//! (paged by `pageToken`) and the Connect API (paged by time), with the
//! failures a real org gives: `429` with `Retry-After`, `500`, `403` when
//! the Conversation Data API is not enabled, `404` for a conversation it
//! does not know, a page cut off mid-way.
//!
//! It counts active conversations exactly as Salesforce does: every
//! request for a conversation's entries makes it active for the window,
//! renewed by each request; it records the most ever active at once, so a
//! test fails if convault ever goes over its budget.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the org behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    pub window: Duration,
    /// Conversations the SOQL query finds: (identifier, EndTime as
    /// Salesforce writes it, e.g. `2026-11-20T10:00:00.000+0000`).
    pub ended: Vec<(String, String)>,
    /// Voice calls in progress: (VoiceCall id, Conversation record id).
    pub calls: Vec<(String, String)>,
    /// The Conversation Data API answers 403 (not enabled).
    pub conversation_data_disabled: bool,
    /// Conversations the entries APIs do not know (404).
    pub unknown: Vec<String>,
    /// Conversations whose page is cut off mid-way.
    pub broken: Vec<String>,
    /// Conversations whose first request gets a 429 (`Retry-After: 1`).
    pub throttled: Vec<String>,
    /// Conversations whose first request gets a 500.
    pub failing: Vec<String>,
    /// Conversations whose entries come on two pages.
    pub two_pages: Vec<String>,
    /// After this many reads the app's access is revoked: entries
    /// requests get 401 and the token endpoint refuses (`Some(0)`: bad
    /// credentials from the start).
    pub revoked_after: Option<usize>,
    /// Conversations answered `429` with `Retry-After: 999999` (11.5 days).
    pub long_retry_after: Vec<String>,
    /// Conversations whose every page names the same next page.
    pub repeating_token: Vec<String>,
    /// Conversations whose every page names a new next page, forever.
    pub endless: Vec<String>,
    /// Conversations whose body stalls: headers and a few bytes, then
    /// nothing for 30 s.
    pub stalled: Vec<String>,
    /// (asked, given): the entries of `given` are the answer for `asked`.
    pub foreign: Vec<(String, String)>,
    /// Conversations whose page is padded with whitespace to this many
    /// bytes (a valid page near the 256 MiB cap).
    pub huge: Option<(String, usize)>,
    /// Entries requests are redirected (`302`) elsewhere.
    pub redirect: bool,
    /// A directory whose tree's permission bits the org notes at each
    /// entries request (`Seen::modes`): what a run leaves meanwhile.
    pub watch: Option<std::path::PathBuf>,
}

/// The status that tells `serve_one` to stall the body.
const STALL: u16 = 0;

/// What the org saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub tokens: usize,
    /// Requests for entries, by either API, failed ones included.
    pub reads: usize,
    pub queries: usize,
    pub peak_active: usize,
    pub status_429: usize,
    pub status_500: usize,
    /// Every request's raw text (request line, headers, body).
    pub requests: Vec<String>,
    /// Paths under `Behaviour::watch` with their permission bits.
    pub modes: Vec<(std::path::PathBuf, u32)>,
    last_read: HashMap<String, Instant>,
    answered_once: Vec<String>,
}

pub struct FakeOrg {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts an org that knows every conversation and fails nothing.
pub fn start(window: Duration) -> FakeOrg {
    start_with(Behaviour {
        window,
        ..Behaviour::default()
    })
}

/// Starts the org; it serves until the test process ends, one thread per
/// connection (two runs of convault may call it at once).
pub fn start_with(b: Behaviour) -> FakeOrg {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    let url = crate::http::listen(move |_, request| {
        let mut s = log.lock().expect("lock");
        s.requests.push(request.raw.clone());
        let (status, extra, body) = answer(&mut s, &b, &request.path);
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        headers.extend(
            extra
                .split("\r\n")
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        crate::http::Reply {
            status,
            headers,
            body,
            stall: status == STALL,
        }
    });
    FakeOrg { url, seen }
}

/// The org's answer to `path`: status, extra header lines, body.
fn answer(s: &mut Seen, b: &Behaviour, path: &str) -> (u16, String, String) {
    let revoked = b.revoked_after.is_some_and(|n| s.reads >= n);
    if path.ends_with("/services/oauth2/token") {
        s.tokens += 1;
        if revoked {
            return (
                400,
                String::new(),
                r#"{"error":"invalid_client","error_description":"app revoked"}"#.into(),
            );
        }
        return (
            200,
            String::new(),
            r#"{"access_token":"fake-token","token_type":"Bearer"}"#.into(),
        );
    }
    if path.contains("/query") {
        s.queries += 1;
        return (200, String::new(), query(b, path));
    }
    let (conversation, connect) = if let Some(rest) = path.split("/connect/conversation/").nth(1) {
        (rest.split('/').next().unwrap_or("").to_owned(), true)
    } else {
        let c = path
            .split("conversationIdentifier=")
            .nth(1)
            .and_then(|x| x.split('&').next())
            .unwrap_or("")
            .to_owned();
        (c, false)
    };
    if revoked {
        s.reads += 1;
        return (
            401,
            String::new(),
            r#"[{"errorCode":"INVALID_SESSION_ID"}]"#.into(),
        );
    }
    // Every request for a conversation's entries makes it active.
    let now = Instant::now();
    s.last_read.insert(conversation.clone(), now);
    let active = s
        .last_read
        .values()
        .filter(|t| now.duration_since(**t) < b.window)
        .count();
    s.peak_active = s.peak_active.max(active);
    s.reads += 1;
    if !connect && b.conversation_data_disabled {
        return (
            403,
            String::new(),
            r#"[{"errorCode":"FORBIDDEN","message":"The Conversation Data API is not enabled for this org."}]"#.into(),
        );
    }
    if let Some(dir) = &b.watch {
        note_modes(dir, &mut s.modes);
    }
    if b.redirect {
        return (
            302,
            "Location: https://login.example.invalid/elsewhere?x=1\r\n".into(),
            String::new(),
        );
    }
    if b.long_retry_after.contains(&conversation) {
        s.status_429 += 1;
        return (
            429,
            "Retry-After: 999999\r\n".into(),
            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#.into(),
        );
    }
    if b.stalled.contains(&conversation) {
        return (STALL, String::new(), r#"{"conversationEntries":["#.into());
    }
    if let Some((_, given)) = b.foreign.iter().find(|(asked, _)| *asked == conversation) {
        return (200, String::new(), page(given, &[1, 2], false, None));
    }
    if b.repeating_token.contains(&conversation) {
        return (
            200,
            String::new(),
            page(&conversation, &[1], false, Some("again")),
        );
    }
    if b.endless.contains(&conversation) {
        let next = format!("p{}", s.reads);
        return (
            200,
            String::new(),
            page(&conversation, &[1], false, Some(&next)),
        );
    }
    if let Some((huge, size)) = &b.huge
        && *huge == conversation
    {
        let mut body = page(&conversation, &[1, 2], false, None);
        // Whitespace inside the array, before its closing bracket: a page
        // as valid as any, as large as asked.
        let at = body.rfind(']').unwrap_or(body.len());
        let pad = size.saturating_sub(body.len());
        body.insert_str(at, &" ".repeat(pad));
        return (200, String::new(), body);
    }
    if b.unknown.contains(&conversation) {
        return (
            404,
            String::new(),
            r#"[{"errorCode":"NOT_FOUND","message":"The requested conversation does not exist."}]"#
                .into(),
        );
    }
    let first = !s.answered_once.contains(&conversation);
    if first && b.throttled.contains(&conversation) {
        s.answered_once.push(conversation);
        s.status_429 += 1;
        return (
            429,
            "Retry-After: 1\r\n".into(),
            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#.into(),
        );
    }
    if first && b.failing.contains(&conversation) {
        s.answered_once.push(conversation);
        s.status_500 += 1;
        return (500, String::new(), "oops".into());
    }
    if b.broken.contains(&conversation) {
        let page = page(&conversation, &[1, 2], connect, None);
        return (200, String::new(), page[..page.len() / 2].to_owned());
    }
    if connect {
        return (200, String::new(), page(&conversation, &[1, 2], true, None));
    }
    let body = if !b.two_pages.contains(&conversation) {
        page(&conversation, &[1, 2], false, None)
    } else if path.contains("pageToken=") {
        page(&conversation, &[2], false, None)
    } else {
        page(&conversation, &[1], false, Some("next/page 2"))
    };
    (200, String::new(), body)
}

/// Notes the permission bits of `dir` and everything under it.
fn note_modes(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    out.push((dir.to_path_buf(), meta.permissions().mode() & 0o777));
    if meta.is_dir()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for e in entries.flatten() {
            note_modes(&e.path(), out);
        }
    }
}

/// SOQL: conversations ended (two pages when there are more than one),
/// voice calls in progress.
fn query(b: &Behaviour, path: &str) -> String {
    let record = |(i, (id, end)): (usize, &(String, String))| {
        format!(
            r#"{{"attributes":{{"type":"Conversation"}},"Id":"0dw{i:012}","ConversationIdentifier":"{id}","StartTime":"2026-11-20T09:00:00.000+0000","EndTime":"{end}"}}"#
        )
    };
    if path.contains("FROM%20VoiceCall") {
        let calls: Vec<String> = b
            .calls
            .iter()
            .map(|(id, conv)| format!(r#"{{"Id":"{id}","ConversationId":"{conv}"}}"#))
            .collect();
        return format!(
            r#"{{"totalSize":{},"done":true,"records":[{}]}}"#,
            calls.len(),
            calls.join(",")
        );
    }
    let all: Vec<String> = b.ended.iter().enumerate().map(record).collect();
    let half = all.len().div_ceil(2);
    if path.ends_with("/query/01gFAKE-2") {
        format!(
            r#"{{"totalSize":{},"done":true,"records":[{}]}}"#,
            all.len(),
            all[half..].join(",")
        )
    } else {
        format!(
            r#"{{"totalSize":{},"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gFAKE-2","records":[{}]}}"#,
            all.len(),
            all[..half].join(",")
        )
    }
}

/// A page of `conversation`'s messages `numbers`: entry ids made from
/// the conversation, so every conversation's entries are its own. Connect
/// pages are text only and carry no conversation id.
fn page(conversation: &str, numbers: &[u32], connect: bool, next: Option<&str>) -> String {
    let tail = conversation.get(24..).unwrap_or("000000000000");
    let entry = |n: u32| {
        let ms = 1_794_218_400_000u64 + u64::from(n) * 1000;
        if connect {
            format!(
                r#"{{"identifier":"e{n:07x}-1d2e-4f3a-8b4c-{tail}","messageText":"refund request {n}","serverReceivedTimestamp":{ms},"clientTimestamp":{ms},"clientDuration":0,"sender":{{"role":"EndUser","appType":"iamessage","subject":"u"}},"relatedRecords":[]}}"#
            )
        } else {
            format!(
                r#"{{"identifier":"e{n:07x}-1d2e-4f3a-8b4c-{tail}","entryType":"Message","entryPayload":{{"entryType":"Message","abstractMessage":{{"messageType":"StaticContentMessage","staticContent":{{"formatType":"Text","text":"refund request {n}"}}}}}},"serverReceivedTimestamp":{ms},"clientTimestamp":{ms},"sender":{{"role":"EndUser","appType":"iamessage","subject":"u"}},"relatedRecords":[]}}"#
            )
        }
    };
    let entries: Vec<String> = numbers.iter().map(|n| entry(*n)).collect();
    let next = next
        .map(|t| format!(r#","nextPageToken":"{t}""#))
        .unwrap_or_default();
    if connect {
        format!(r#"{{"conversationEntries":[{}]}}"#, entries.join(","))
    } else {
        format!(
            r#"{{"conversationIdentifier":"{conversation}","conversationEntries":[{}]{next}}}"#,
            entries.join(",")
        )
    }
}
