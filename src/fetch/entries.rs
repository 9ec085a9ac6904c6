//! A conversation's entries through either API, page by page, each page
//! saved byte for byte as the API sent it.
//!
//! - **Conversation Data API** (`{api_host}/platform/engagement/v1.0/
//!   conversation-entries`): full payloads, paged by `pageToken` /
//!   `nextPageToken`.
//! - **Connect API** (`{instance_url}/services/data/vXX.X/connect/
//!   conversation/{id}/entries`): text only, paged by advancing
//!   `startTimestamp` with `queryDirection=FromStart`, `recordLimit` up to
//!   1,000. A page starts at the last page's latest time (inclusive, so
//!   entries sharing that millisecond are not lost; the repeats are the
//!   same entries and ingest as such); a full page that cannot advance is
//!   an error, never an endless loop.
//!
//! A page that is not an entries page (not JSON, cut off mid-way, no
//! `conversationEntries`) is saved too, so the ingest keeps it in
//! quarantine with its reason, and the conversation is reported failed.
//!
//! Pages are written as `<conversation>-<n>.json` in a directory: the
//! name carries the conversation, which Connect's entries do not
//! (source::api_json reads it from there). The existing readers ingest
//! the directory as one export.

use std::path::{Path, PathBuf};

use super::config::{Api, EntriesApi};
use super::http::{Client, Sleeper};
use crate::error::{Error, Result};

/// Entries asked for per page.
pub const RECORD_LIMIT: u32 = 1_000;

/// Fetches every entry of `conversation` into `dir` as pages, adding the
/// files written to `files` in order (also those written before an
/// error).
pub fn fetch<S: Sleeper>(
    client: &mut Client<S>,
    api: &Api,
    conversation: &str,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    if !is_conversation_id(conversation) {
        return Err(Error::Usage(format!(
            "{}: not a conversation identifier",
            crate::sanitize::for_terminal(conversation)
        )));
    }
    match api.entries_api {
        EntriesApi::ConversationData => conversation_data(client, api, conversation, dir, files),
        EntriesApi::Connect => connect(client, api, conversation, dir, files),
    }
}

/// A conversation identifier (a UUID) or a Salesforce record id (15 or 18
/// letters and digits): safe in a URL and a file name.
pub fn is_conversation_id(s: &str) -> bool {
    crate::entry::is_uuid(s)
        || (matches!(s.len(), 15 | 18) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn conversation_data<S: Sleeper>(
    client: &mut Client<S>,
    api: &Api,
    conversation: &str,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    let base = format!(
        "{}/platform/engagement/v1.0/conversation-entries?conversationIdentifier={}&recordLimit={RECORD_LIMIT}",
        api.api_host,
        encode(conversation)
    );
    let mut token: Option<String> = None;
    // Every token given: one given again would page forever.
    let mut tokens = std::collections::HashSet::new();
    for n in 1..=api.max_pages {
        let url = match &token {
            None => base.clone(),
            Some(t) => format!("{base}&pageToken={}", encode(t)),
        };
        let page = read_page(client, &url, dir, conversation, n, files)?;
        token = page.next.filter(|t| !t.is_empty());
        let Some(t) = &token else {
            return Ok(());
        };
        if !tokens.insert(t.clone()) {
            return Err(Error::Api {
                what: format!("conversation {conversation}"),
                reason: format!(
                    "page {n} names as the next page one the org gave before: paging would never end; stopped (the pages read are archived)"
                ),
                status: None,
            });
        }
    }
    Err(too_many(conversation, api.max_pages))
}

fn connect<S: Sleeper>(
    client: &mut Client<S>,
    api: &Api,
    conversation: &str,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    let base = format!(
        "{}/services/data/{}/connect/conversation/{}/entries?queryDirection=FromStart&recordLimit={RECORD_LIMIT}",
        api.instance_url,
        api.api_version,
        encode(conversation)
    );
    let mut start: i64 = 0;
    for n in 1..=api.max_pages {
        let url = format!("{base}&startTimestamp={start}");
        let page = read_page(client, &url, dir, conversation, n, files)?;
        if page.entries.count < u64::from(RECORD_LIMIT) {
            return Ok(());
        }
        let latest = page.entries.latest.unwrap_or(start);
        if latest <= start {
            return Err(Error::Api {
                what: format!("conversation {conversation}"),
                reason: format!(
                    "the Connect API gave a full page of {RECORD_LIMIT} entries all at {start} ms: paging by time cannot go on; read it with the Conversation Data API"
                ),
                status: None,
            });
        }
        start = latest;
    }
    Err(too_many(conversation, api.max_pages))
}

fn too_many(conversation: &str, max_pages: u32) -> Error {
    Error::Api {
        what: format!("conversation {conversation}"),
        reason: format!(
            "more than {max_pages} pages ([api] max_pages); stopped (the pages read are archived)"
        ),
        status: None,
    }
}

/// Reads page `n` of `conversation` from `url` into its file in `dir`
/// (byte for byte, streamed), then what fetch needs of it. A page that
/// is not an entries page, or that names another conversation, is an
/// error naming it; it is kept, and the ingest quarantines it.
fn read_page<S: Sleeper>(
    client: &mut Client<S>,
    url: &str,
    dir: &Path,
    conversation: &str,
    n: u32,
    files: &mut Vec<PathBuf>,
) -> Result<Page> {
    // The name comes from a checked identifier, never from the page:
    // `source::api_json` holds the page's entries to it.
    let path = dir.join(page_name(conversation, n));
    client.get_to_file(url, &path)?;
    files.push(path.clone());
    let what = url.split('?').next().unwrap_or(url).to_owned();
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let page: Page =
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| Error::Api {
            what: what.clone(),
            reason: if e.is_io() {
                format!("the saved page could not be read again ({e})")
            } else {
                format!("the page is not JSON ({e}); it is kept in quarantine")
            },
            status: None,
        })?;
    if !page.entries.present {
        return Err(Error::Api {
            what,
            reason: "the page has no conversationEntries; it is kept in quarantine".into(),
            status: None,
        });
    }
    let other = page
        .conversation
        .iter()
        .chain(page.entries.first.iter())
        .chain(page.entries.other.iter())
        .find(|c| !c.eq_ignore_ascii_case(conversation));
    if let Some(other) = other {
        return Err(Error::Api {
            what,
            reason: format!(
                "the org answered with entries of conversation {}, not of {conversation}: they are kept in quarantine, not filed under either",
                crate::sanitize::for_terminal(other)
            ),
            status: None,
        });
    }
    Ok(page)
}

/// The file name of page `n` of `conversation`: what `source::api_json`
/// recognises as a fetched page ([`crate::source::api_json::fetched_page`]).
pub fn page_name(conversation: &str, n: u32) -> String {
    format!("{conversation}-{n:04}.json")
}

/// What fetch reads of a page: its conversation, its next page, and of
/// its entries only a count, the latest time and any other conversation
/// named (memory does not grow with the page).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Page {
    #[serde(rename = "conversationIdentifier")]
    conversation: Option<String>,
    #[serde(rename = "nextPageToken")]
    next: Option<String>,
    #[serde(rename = "conversationEntries", deserialize_with = "entries_seen")]
    entries: Seen,
}

#[derive(Default)]
struct Seen {
    /// Whether the page has `conversationEntries` at all.
    present: bool,
    count: u64,
    latest: Option<i64>,
    /// The conversation the first entry names, and the first entry naming
    /// another: with the page's own, all must be the one asked for.
    first: Option<String>,
    other: Option<String>,
}

/// One entry, as far as fetch looks (any JSON type is accepted: the
/// ingest judges the entry).
#[derive(serde::Deserialize)]
struct EntryHead {
    #[serde(rename = "serverReceivedTimestamp")]
    server: Option<serde_json::Value>,
    #[serde(rename = "clientTimestamp")]
    client: Option<serde_json::Value>,
    #[serde(rename = "conversationIdentifier")]
    conversation: Option<serde_json::Value>,
}

fn entries_seen<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Seen, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Seen;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of conversation entries")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Seen, A::Error> {
            let mut seen = Seen {
                present: true,
                ..Seen::default()
            };
            while let Some(e) = seq.next_element::<Option<EntryHead>>()? {
                seen.count += 1;
                let Some(e) = e else { continue };
                let at = [e.server, e.client]
                    .into_iter()
                    .flatten()
                    .find_map(|n| n.as_i64());
                seen.latest = seen.latest.max(at);
                let named = e.conversation.filter(|c| !c.is_null()).map(|c| match c {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
                match (&seen.first, named) {
                    (None, named) => seen.first = named,
                    (Some(first), Some(c)) if seen.other.is_none() && &c != first => {
                        seen.other = Some(c);
                    }
                    _ => {}
                }
            }
            Ok(seen)
        }
    }
    d.deserialize_seq(V)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::http::Retry;
    use crate::fetch::secret::Secret;
    use convault_test_support::http::serve_org;
    use std::time::Duration;

    const CONV: &str = "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13";

    fn api(url: &str, entries_api: EntriesApi) -> Api {
        let text = format!(
            "instance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n"
        );
        let c: super::super::config::ApiConfig = toml::from_str(&text).unwrap();
        let mut api = c.check().unwrap();
        api.entries_api = entries_api;
        api
    }

    /// [`fetch`], giving the files written.
    fn read_pages<S: Sleeper>(
        c: &mut Client<S>,
        api: &Api,
        conversation: &str,
        dir: &Path,
    ) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        fetch(c, api, conversation, dir, &mut files).map(|()| files)
    }

    fn entry(id: u32, ms: i64) -> String {
        format!(
            r#"{{"identifier":"0b6c{id:04x}-1d2e-4f3a-8b4c-5d6e7f8a9b0c","messageText":"refund {id}","serverReceivedTimestamp":{ms},"clientTimestamp":{ms},"sender":{{"role":"EndUser","appType":"iamessage","subject":"u"}},"relatedRecords":[]}}"#
        )
    }

    fn client(url: &str, dir: &Path) -> Client<crate::fetch::http::RealSleep> {
        let retry = Retry::default();
        Client::new(
            url,
            "x",
            secret(dir),
            Duration::ZERO,
            retry,
            crate::fetch::http::RealSleep,
        )
    }

    fn secret(dir: &Path) -> Secret {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("s");
        std::fs::write(&p, "secret").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        Secret::read(&crate::fetch::secret::Source::File(p), dir).unwrap()
    }

    #[test]
    fn conversation_data_pages_follow_the_page_token_and_are_kept_byte_for_byte() {
        let page1 = format!(
            r#"{{"conversationEntries":[{}],"nextPageToken":"t/2 x"}}"#,
            entry(1, 1_000)
        );
        let page2 = format!(r#"{{"conversationEntries":[{}]}}"#, entry(2, 2_000));
        let (p1, p2) = (page1.clone(), page2.clone());
        let (url, seen) = serve_org(3, move |s| {
            if s.path.contains("pageToken=t%2F2%20x") {
                (200, vec![], p2.clone())
            } else {
                (200, vec![], p1.clone())
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut c = client(&url, dir.path());
        let pages = dir.path().join("pages");
        std::fs::create_dir(&pages).unwrap();
        let files = read_pages(
            &mut c,
            &api(&url, EntriesApi::ConversationData),
            CONV,
            &pages,
        )
        .unwrap();
        assert_eq!(files.len(), 2);
        // The saved pages are an export the existing readers ingest.
        let archive = crate::archive::Archive::new(dir.path().join("archive"));
        let report = crate::ingest::ingest(
            &archive,
            std::slice::from_ref(&pages),
            &crate::ingest::Options {
                dry_run: false,
                progress: false,
                who: "test".into(),
                now: jiff::Timestamp::from_second(1_794_000_000).unwrap(),
                profiles: Vec::new(),
                fetch: None,
                generated: None,
            },
        )
        .unwrap();
        assert_eq!((report.entries_read, report.entries_new), (2, 2));
        assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), page1);
        assert_eq!(std::fs::read_to_string(&files[1]).unwrap(), page2);
        assert!(files[0].ends_with(format!("{CONV}-0001.json")));
        let seen = seen.lock().unwrap();
        assert!(seen[1].path.starts_with(&format!(
            "/platform/engagement/v1.0/conversation-entries?conversationIdentifier={CONV}&recordLimit=1000"
        )));
    }

    #[test]
    fn connect_pages_advance_by_time_and_a_stuck_page_is_an_error() {
        // Two full pages then a short one; the second starts at the first
        // page's latest time.
        let full = |from: u32| {
            let entries: Vec<String> = (from..from + RECORD_LIMIT)
                .map(|i| entry(i, 1_000 + i64::from(i)))
                .collect();
            format!(r#"{{"conversationEntries":[{}]}}"#, entries.join(","))
        };
        let (a, b) = (full(0), full(1_000));
        let (url, seen) = serve_org(4, move |s| {
            if s.path.ends_with("startTimestamp=0") {
                (200, vec![], a.clone())
            } else if s.path.ends_with("startTimestamp=1999") {
                (200, vec![], b.clone())
            } else {
                (200, vec![], r#"{"conversationEntries":[]}"#.into())
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut c = client(&url, dir.path());
        let files = read_pages(&mut c, &api(&url, EntriesApi::Connect), CONV, dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        let paths: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.path.clone())
            .collect();
        assert!(paths[1].starts_with(&format!(
            "/services/data/v62.0/connect/conversation/{CONV}/entries?queryDirection=FromStart&recordLimit=1000"
        )));
        assert!(paths[3].ends_with("startTimestamp=2999"), "{paths:?}");

        // A full page all at one millisecond cannot advance.
        let stuck: Vec<String> = (0..RECORD_LIMIT).map(|i| entry(i, 0)).collect();
        let stuck = format!(r#"{{"conversationEntries":[{}]}}"#, stuck.join(","));
        let (url, _) = serve_org(2, move |_| (200, vec![], stuck.clone()));
        let dir = tempfile::tempdir().unwrap();
        let mut c = client(&url, dir.path());
        let e = read_pages(&mut c, &api(&url, EntriesApi::Connect), CONV, dir.path()).unwrap_err();
        assert!(e.to_string().contains("cannot go on"), "{e}");
    }

    #[test]
    fn a_malformed_page_is_kept_for_quarantine_and_a_bad_id_is_refused() {
        let (url, _) = serve_org(2, |_| {
            {
                (
                    200,
                    vec![],
                    r#"{"conversationEntries":[{"identifier""#.into(),
                )
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut c = client(&url, dir.path());
        let a = api(&url, EntriesApi::ConversationData);
        let mut files = Vec::new();
        let e = fetch(&mut c, &a, CONV, dir.path(), &mut files).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        // It was saved, for the ingest to keep in quarantine.
        let saved = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|f| {
                f.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count();
        assert_eq!((saved, files.len()), (1, 1));
        let e = read_pages(&mut c, &a, "../../etc/passwd", dir.path()).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
    }
}
