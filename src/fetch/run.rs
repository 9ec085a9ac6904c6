//! The fetch loop: for each conversation, reserve its read in the shared
//! budget (waiting for the window to free, or stopping), then read its
//! pages. One conversation's failure is reported and the others go on.
//!
//! A conversation the API refuses (`404`, another `4xx`, a malformed
//! page) fails alone. When the org cannot be reached or refuses convault
//! itself ([`Error::ApiUnavailable`]), every later read would fail alike:
//! the run stops there, keeps what it read, and lists what is left. The
//! token is asked for before any budget is spent, so bad credentials cost
//! nothing.
//!
//! When the Conversation Data API answers `403` (not enabled for the org,
//! or the app lacks the `sfap_api` scope), the run goes on with the
//! Connect API at Connect's rate, and its outcome says so: Connect gives
//! text only. The conversation being read is read again through Connect
//! under the same reservation.
//!
//! Invariant: no request for a conversation's entries is sent before its
//! reservation is recorded (`activations`), so every run, at once or one
//! after another, keeps to one budget.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::activations::{Activations, Reservation};
use super::config::{Api, EntriesApi};
use super::entries;
use super::http::{Client, Sleeper};
use crate::error::{Error, Result};

/// What a run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    /// Conversations whose pages were all saved.
    pub fetched: Vec<String>,
    /// Conversations that failed, with the API's reason.
    pub failed: Vec<Failed>,
    /// Reads counted against the budget, and reads that were free.
    pub activations: u64,
    pub free_reads: u64,
    /// Pages saved.
    pub pages: u64,
    /// Times the run waited for the window to free.
    pub waits: u64,
    /// The entries API the run ended with, and why it left the
    /// configured one, if it did.
    pub entries_api: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fell_back: Option<String>,
    /// Set when the run stopped for the budget (`--no-wait`): the
    /// conversations left, and when the budget allows the next read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// Set when the org could not be reached or refused convault: why,
    /// and the conversations left (the one being read first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Aborted>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Aborted {
    pub reason: String,
    pub left: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failed {
    pub conversation: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stopped {
    pub left: Vec<String>,
    pub resume_at: Option<String>,
}

/// Whether a spent budget is waited for or ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenSpent {
    Wait,
    Stop,
}

/// What a run reads with, and where it saves.
pub struct Job<'a> {
    pub api: &'a Api,
    /// Where pages are saved.
    pub dir: &'a Path,
    pub when_spent: WhenSpent,
    /// The org's end time of a conversation, when known.
    pub ended: &'a dyn Fn(&str) -> Option<Timestamp>,
    /// The clock.
    pub now: &'a dyn Fn() -> Timestamp,
    /// Told of each step, for a progress display.
    pub progress: &'a dyn Fn(Progress),
}

/// A step of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A conversation is done (`done` of `total`, read or failed); the
    /// budget has `left` activations in the window now.
    Done { done: u64, total: u64, left: u64 },
    /// The budget is spent: waiting `left` more for the window to free.
    Waiting { left: Duration },
}

/// The name of an entries API as reports give it.
pub fn api_name(api: EntriesApi) -> &'static str {
    match api {
        EntriesApi::ConversationData => "conversation-data",
        EntriesApi::Connect => "connect",
    }
}

/// The least time between two requests to `api`.
pub fn interval(config: &Api, api: EntriesApi) -> Duration {
    match api {
        EntriesApi::ConversationData => Duration::from_secs(60) / config.requests_per_minute.max(1),
        EntriesApi::Connect => Duration::from_secs(3600) / config.requests_per_hour.max(1),
    }
}

/// Reads `conversations` into `job.dir`, one reservation each.
pub fn fetch_all<S: Sleeper>(
    client: &mut Client<S>,
    activations: &mut Activations,
    job: &Job<'_>,
    conversations: &[String],
) -> Result<Outcome> {
    let Job {
        api,
        dir,
        when_spent,
        ended,
        now,
        progress,
    } = *job;
    let mut api = api.clone();
    let mut out = Outcome {
        fetched: Vec::new(),
        failed: Vec::new(),
        activations: 0,
        free_reads: 0,
        pages: 0,
        waits: 0,
        entries_api: api_name(api.entries_api),
        fell_back: None,
        stopped: None,
        aborted: None,
    };
    let total = conversations.len() as u64;
    if total > 0 {
        client.authenticate()?;
    }
    for (i, conversation) in conversations.iter().enumerate() {
        loop {
            match activations.reserve(&api.budget, conversation, now(), ended(conversation))? {
                Reservation::Activated => out.activations += 1,
                Reservation::Free => out.free_reads += 1,
                Reservation::WaitUntil(at) => {
                    if when_spent == WhenSpent::Stop || at.is_none() {
                        out.stopped = Some(Stopped {
                            left: conversations[i..].to_vec(),
                            resume_at: at.map(crate::clock::rfc3339_ms),
                        });
                        return Ok(out);
                    }
                    if let Some(at) = at {
                        out.waits += 1;
                        wait_until(client, at, now, progress);
                    }
                    continue;
                }
            }
            break;
        }
        let mut files = Vec::new();
        let mut read = entries::fetch(client, &api, conversation, dir, &mut files);
        if let Err(Error::Api {
            status: Some(403),
            reason,
            ..
        }) = &read
            && api.entries_api == EntriesApi::ConversationData
        {
            out.fell_back = Some(format!(
                "the Conversation Data API refused with {reason}: went on with the Connect API, which gives text only"
            ));
            api.entries_api = EntriesApi::Connect;
            out.entries_api = api_name(api.entries_api);
            client.set_interval(interval(&api, api.entries_api));
            read = entries::fetch(client, &api, conversation, dir, &mut files);
        }
        activations.read_done(conversation, now())?;
        // Pages saved before a failure are archived too (a malformed one
        // in quarantine): nothing the API sent is dropped.
        out.pages += files.len() as u64;
        match read {
            Ok(()) => out.fetched.push(conversation.clone()),
            Err(e @ (Error::Api { .. } | Error::Usage(_))) => out.failed.push(Failed {
                conversation: conversation.clone(),
                reason: e.to_string(),
            }),
            Err(e @ Error::ApiUnavailable { .. }) => {
                out.aborted = Some(Aborted {
                    reason: e.to_string(),
                    left: conversations[i..].to_vec(),
                });
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
        let t = now();
        let left = u64::from(api.budget.allowance(t))
            .saturating_sub(activations.active_at(&api.budget, t)?);
        progress(Progress::Done {
            done: i as u64 + 1,
            total,
            left,
        });
    }
    Ok(out)
}

/// Waits until `at`, telling `progress` the time left each second (the
/// countdown on the terminal).
fn wait_until<S: Sleeper>(
    client: &mut Client<S>,
    at: Timestamp,
    now: &dyn Fn() -> Timestamp,
    progress: &dyn Fn(Progress),
) {
    loop {
        let left = Duration::try_from(at.duration_since(now())).unwrap_or(Duration::ZERO);
        if left.is_zero() {
            // A millisecond past: the reservation is made after `at`.
            client.wait(Duration::from_millis(1));
            return;
        }
        progress(Progress::Waiting { left });
        client.wait(left.min(Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::budget::Budget;
    use crate::fetch::http::{RealSleep, Retry};
    use convault_test_support::http::{Seen, serve_org};
    use jiff::SignedDuration;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// The fake org's count of active conversations, as Salesforce keeps
    /// it: a conversation read at `t` is active until `t + window`, renewed
    /// by each read. It records the most ever active at once.
    struct Org {
        window: Duration,
        last_read: HashMap<String, Instant>,
        peak: usize,
        reads: usize,
    }

    impl Org {
        fn read(&mut self, conversation: &str) {
            let now = Instant::now();
            self.last_read.insert(conversation.to_owned(), now);
            let active = self
                .last_read
                .values()
                .filter(|t| now.duration_since(**t) < self.window)
                .count();
            self.peak = self.peak.max(active);
            self.reads += 1;
        }
    }

    fn conversation_of(s: &Seen) -> String {
        s.path
            .split("conversationIdentifier=")
            .nth(1)
            .and_then(|r| r.split('&').next())
            .unwrap_or("")
            .to_owned()
    }

    fn setup(n: usize, window: Duration) -> (String, Arc<Mutex<Org>>) {
        let org = Arc::new(Mutex::new(Org {
            window,
            last_read: HashMap::new(),
            peak: 0,
            reads: 0,
        }));
        let o = org.clone();
        let (url, _) = serve_org(n, move |s| {
            let c = conversation_of(s);
            o.lock().unwrap().read(&c);
            (200, vec![], r#"{"conversationEntries":[]}"#.into())
        });
        (url, org)
    }

    fn api(url: &str, limit: u32, window: Duration) -> Api {
        let text = format!(
            "instance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n"
        );
        let c: crate::fetch::config::ApiConfig = toml::from_str(&text).unwrap();
        let mut api = c.check().unwrap();
        api.budget = Budget {
            active_limit: limit,
            busy_hours: None,
            busy_load: 0,
            quiet_load: 0,
            headroom: 0,
            window: SignedDuration::try_from(window).unwrap(),
        };
        api
    }

    fn client(url: &str, dir: &Path) -> Client<RealSleep> {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("secret");
        std::fs::write(&p, "s").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret =
            crate::fetch::secret::Secret::read(&crate::fetch::secret::Source::File(p), dir)
                .unwrap();
        Client::new(
            url,
            "x",
            secret,
            Duration::ZERO,
            Retry::default(),
            RealSleep,
        )
    }

    fn job<'a>(api: &'a Api, dir: &'a Path, when_spent: WhenSpent) -> Job<'a> {
        Job {
            api,
            dir,
            when_spent,
            ended: &|_| None,
            now: &Timestamp::now,
            progress: &|_| {},
        }
    }

    fn ids(n: usize, tag: u32) -> Vec<String> {
        (0..n)
            .map(|i| format!("{tag:08x}-1d2e-4f3a-8b4c-{i:012x}"))
            .collect()
    }

    #[test]
    fn twenty_conversations_on_a_budget_of_five_wait_four_windows_and_never_exceed_it() {
        let window = Duration::from_millis(600);
        let (url, org) = setup(21, window);
        let dir = tempfile::tempdir().unwrap();
        let api = api(&url, 5, window);
        let mut activations = Activations::open(dir.path()).unwrap();
        let mut c = client(&url, dir.path());
        let convs = ids(20, 1);
        let started = Instant::now();
        let out = fetch_all(
            &mut c,
            &mut activations,
            &job(&api, dir.path(), WhenSpent::Wait),
            &convs,
        )
        .unwrap();
        let took = started.elapsed();
        assert_eq!(out.fetched.len(), 20);
        assert_eq!((out.activations, out.free_reads), (20, 0));
        // Four groups of five: at least three whole windows waited.
        assert!(took >= window * 3, "{took:?}");
        let org = org.lock().unwrap();
        assert_eq!(org.reads, 20);
        // The budget is used, and never exceeded.
        assert_eq!(org.peak, 5, "the org saw {} active at once", org.peak);
    }

    #[test]
    fn no_wait_stops_and_a_re_run_resumes_sharing_the_budget_and_free_reads() {
        let window = Duration::from_millis(800);
        let (url, org) = setup(13, window);
        let dir = tempfile::tempdir().unwrap();
        let api = api(&url, 3, window);
        let mut c = client(&url, dir.path());
        let convs = ids(5, 2);
        let mut a = Activations::open(dir.path()).unwrap();
        let first = fetch_all(
            &mut c,
            &mut a,
            &job(&api, dir.path(), WhenSpent::Stop),
            &convs,
        )
        .unwrap();
        assert_eq!(first.fetched, convs[..3]);
        let stopped = first.stopped.unwrap();
        assert_eq!(stopped.left, convs[3..]);
        assert!(stopped.resume_at.is_some());
        // A second run at once, with its own store handle: still spent.
        let mut b = Activations::open(dir.path()).unwrap();
        let again = fetch_all(
            &mut c,
            &mut b,
            &job(&api, dir.path(), WhenSpent::Stop),
            &stopped.left,
        )
        .unwrap();
        assert!(again.fetched.is_empty() && again.stopped.is_some());
        // Reading one already read within the window costs nothing.
        let free = fetch_all(
            &mut c,
            &mut b,
            &job(&api, dir.path(), WhenSpent::Stop),
            &convs[..1],
        )
        .unwrap();
        assert_eq!((free.free_reads, free.activations), (1, 0));
        // After the window, the rest.
        std::thread::sleep(window);
        let rest = fetch_all(
            &mut c,
            &mut b,
            &job(&api, dir.path(), WhenSpent::Wait),
            &stopped.left,
        )
        .unwrap();
        assert_eq!(rest.fetched, convs[3..]);
        assert!(org.lock().unwrap().peak <= 3);
    }
}
