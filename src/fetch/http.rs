//! HTTP for `fetch`: the OAuth token, paced requests, retries.
//!
//! - **Token**: OAuth 2.0 client credentials against the org's My Domain
//!   (`/services/oauth2/token`). A `401` on a call gets a new token once.
//! - **Pace**: requests are spaced evenly to stay within the API's rate
//!   (90 a minute: one each 667 ms), rather than bursting and waiting.
//! - **Retries**: a `429` waits what its `Retry-After` says, up to
//!   `[api] retry_after_limit`: an org asking for longer stops the run,
//!   saying when to resume, rather than waiting silently for days. A `5xx`,
//!   a failed connection or a stalled body (no byte for `[api]
//!   read_timeout`) waits a capped, jittered exponential backoff. Both are
//!   tried a bounded number of times, and each wait is told (`on_retry`).
//!   Other statuses, redirects included, fail at once.
//! - **Memory**: a page's body is written to its file as it arrives, never
//!   held whole ([`Client::get_to_file`]); only small bodies (a SOQL page,
//!   an error's text) are read into memory, under their own cap.
//!
//! Invariant: the client secret goes into the token request's body and
//! nowhere else; errors name the URL and Salesforce's error code, never a
//! request body, a token or the secret.

use std::io::Read;
use std::time::{Duration, Instant};

use super::secret::Secret;
use crate::error::{Error, Result};

/// The largest page body saved (an entries page holds at most 1,000
/// entries; a bigger body is refused). Written to disk as it arrives.
pub const MAX_BODY: u64 = 256 * 1024 * 1024;

/// The largest body read into memory: a SOQL page (at most 2,000 short
/// records) or a token. A bigger one is refused.
pub const MAX_SMALL_BODY: u64 = 16 * 1024 * 1024;

/// The most of an error's body read for Salesforce's words.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// How often and how long failed calls are tried again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries of one call in all, the first included.
    pub attempts: u32,
    /// The first backoff; doubled each time, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// The longest `Retry-After` waited; an org asking for more stops the
    /// call with [`Error::ApiUnavailable`], naming when to resume.
    pub longest_wait: Duration,
    /// The longest a response may go without a byte (headers or body).
    pub read_timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 6,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            longest_wait: Duration::from_secs(15 * 60),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// What waits: the real clock, or a test's record of the waits.
pub trait Sleeper {
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
pub struct RealSleep;

impl Sleeper for RealSleep {
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A client of one org.
pub struct Client<S: Sleeper = RealSleep> {
    agent: ureq::Agent,
    token_url: String,
    client_id: String,
    secret: Secret,
    token: Option<String>,
    /// The least time between two requests.
    interval: Duration,
    last: Option<Instant>,
    retry: Retry,
    sleeper: S,
    jitter: u64,
    /// Told of each retry and its wait, in words.
    notice: Box<dyn FnMut(&str)>,
    /// Requests sent, tokens included.
    pub requests: u64,
}

/// Where a `200`'s body goes.
enum Dest<'a> {
    Memory(&'a mut Vec<u8>),
    File(&'a std::path::Path),
}

impl<S: Sleeper> Client<S> {
    /// A client of the org at `instance_url` (My Domain), sending at most
    /// one request each `interval`.
    pub fn new(
        instance_url: &str,
        client_id: &str,
        secret: Secret,
        interval: Duration,
        retry: Retry,
        sleeper: S,
    ) -> Client<S> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A stalled response fails after `read_timeout` without a byte
            // and is tried again; a whole page may take longer than that.
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(retry.read_timeout))
            .timeout_global(Some(Duration::from_secs(30 * 60)))
            .max_redirects(0)
            .build()
            .into();
        Client {
            agent,
            token_url: format!(
                "{}/services/oauth2/token",
                instance_url.trim_end_matches('/')
            ),
            client_id: client_id.to_owned(),
            secret,
            token: None,
            interval,
            last: None,
            retry,
            sleeper,
            jitter: u64::from(std::process::id()) | 1,
            notice: Box::new(|_| {}),
            requests: 0,
        }
    }

    /// Tells `f` of each retry: what failed, and how long the client
    /// waits before it tries again (a run is never silent for long).
    pub fn on_retry(&mut self, f: impl FnMut(&str) + 'static) {
        self.notice = Box::new(f);
    }

    /// GETs `url` with the bearer token: the body of a `200`, at most
    /// [`MAX_SMALL_BODY`] bytes.
    pub fn get(&mut self, url: &str) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        self.get_into(url, &mut Dest::Memory(&mut body))?;
        Ok(body)
    }

    /// GETs `url` into the file `path` (created, or emptied for each
    /// try), streaming: at most [`MAX_BODY`] bytes, never held in memory.
    pub fn get_to_file(&mut self, url: &str, path: &std::path::Path) -> Result<()> {
        self.get_into(url, &mut Dest::File(path))
    }

    fn get_into(&mut self, url: &str, dest: &mut Dest<'_>) -> Result<()> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token()?;
            self.pace();
            let sent = self
                .agent
                .get(url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Accept", "application/json")
                .call();
            match outcome(sent, dest) {
                Outcome::Ok => return Ok(()),
                Outcome::Unauthorized if !refreshed => {
                    refreshed = true;
                    self.token = None;
                }
                Outcome::Wait(wait, why) if attempt < self.retry.attempts => {
                    self.wait_to_retry(url, wait, &why, attempt)?;
                }
                Outcome::Unauthorized => {
                    return Err(unavailable(url, "401: the new token was refused too"));
                }
                Outcome::Wait(_, why) => {
                    return Err(unavailable(
                        url,
                        &format!("{why}, {} times; try again later", self.retry.attempts),
                    ));
                }
                Outcome::Fail(status, why) => return Err(api_error(url, status, &why)),
                Outcome::Local(e) => return Err(e),
            }
        }
    }

    /// Waits before try `attempt + 1` of `url`, which failed with `why`:
    /// the server's `Retry-After` if it gave one (refused past
    /// `longest_wait`), else the backoff; told first.
    fn wait_to_retry(
        &mut self,
        url: &str,
        asked: Option<Duration>,
        why: &str,
        attempt: u32,
    ) -> Result<()> {
        if let Some(asked) = asked
            && asked > self.retry.longest_wait
        {
            let until = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(asked.as_secs()).unwrap_or(i64::MAX / 2),
                ))
                .map_or_else(
                    |_| "a time too far to name".to_owned(),
                    crate::clock::rfc3339_ms,
                );
            return Err(unavailable(
                url,
                &format!(
                    "{why}: the org asks to wait {} s, until {until}; convault waits at most {} s ([api] retry_after_limit). Run the same command again after {until}",
                    asked.as_secs(),
                    self.retry.longest_wait.as_secs()
                ),
            ));
        }
        let wait = asked.unwrap_or_else(|| self.backoff(attempt));
        let what = url.split('?').next().unwrap_or(url);
        (self.notice)(&format!(
            "{}: {}; trying again in {:.1} s (try {} of {})",
            crate::sanitize::for_terminal(what),
            crate::sanitize::for_terminal(why),
            wait.as_secs_f64(),
            attempt + 1,
            self.retry.attempts
        ));
        self.sleeper.sleep(wait);
        Ok(())
    }

    /// Gets the access token now (a run checks its credentials before it
    /// spends any of the budget).
    pub fn authenticate(&mut self) -> Result<()> {
        self.token().map(|_| ())
    }

    /// The access token, asked for when there is none.
    fn token(&mut self) -> Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace();
            let sent = self.agent.post(&self.token_url).send_form([
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.secret.expose()),
            ]);
            let mut body = Vec::new();
            match outcome(sent, &mut Dest::Memory(&mut body)) {
                Outcome::Ok => {
                    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                        unavailable(
                            &self.token_url,
                            &format!("the token response is not JSON ({e})"),
                        )
                    })?;
                    let token = v["access_token"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            unavailable(&self.token_url, "the token response has no access_token")
                        })?;
                    self.token = Some(token.to_owned());
                    return Ok(token.to_owned());
                }
                Outcome::Wait(wait, why) if attempt < self.retry.attempts => {
                    let url = self.token_url.clone();
                    self.wait_to_retry(&url, wait, &why, attempt)?;
                }
                Outcome::Local(e) => return Err(e),
                Outcome::Wait(_, why) | Outcome::Fail(_, why) => {
                    return Err(unavailable(
                        &self.token_url,
                        &format!(
                            "{why}; check [api] client_id and the secret, and that the External Client App allows the client credentials flow"
                        ),
                    ));
                }
                Outcome::Unauthorized => {
                    return Err(unavailable(
                        &self.token_url,
                        "401: the client id or secret was refused",
                    ));
                }
            }
        }
    }

    /// Changes the least time between two requests (a run that goes on
    /// with another API goes on at that API's rate).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// Waits `d` on the client's clock (the budget's waits).
    pub fn wait(&mut self, d: Duration) {
        self.sleeper.sleep(d);
    }

    /// Waits until a request may be sent.
    fn pace(&mut self) {
        if let Some(last) = self.last {
            let since = last.elapsed();
            if since < self.interval {
                self.sleeper.sleep(self.interval - since);
            }
        }
        self.last = Some(Instant::now());
        self.requests += 1;
    }

    /// The wait before try `attempt + 1`: `base × 2^(attempt − 1)`, capped,
    /// less up to a quarter at random (runs that failed together do not
    /// come back together).
    fn backoff(&mut self, attempt: u32) -> Duration {
        let full = self
            .retry
            .base
            .saturating_mul(1 << (attempt - 1).min(20))
            .min(self.retry.cap);
        // xorshift: no need for a cryptographic generator here.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let quarter = full / 4;
        let off = quarter.mul_f64((self.jitter % 1000) as f64 / 1000.0);
        full - off
    }
}

enum Outcome {
    /// A `200`, its body written to the destination.
    Ok,
    Unauthorized,
    /// Try again, after the server's `Retry-After` if it gave one; why.
    Wait(Option<Duration>, String),
    Fail(Option<u16>, String),
    /// The destination could not be written: not the org's doing.
    Local(Error),
}

fn outcome(
    sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    dest: &mut Dest<'_>,
) -> Outcome {
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Wait(None, format!("the connection failed ({e})")),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| l.split('?').next().unwrap_or(l).to_owned());
    let mut reader = resp.body_mut().as_reader();
    if status != 200 {
        // An error's body only for its words: a little is enough.
        let mut body = Vec::new();
        if let Err(e) = (&mut reader).take(MAX_ERROR_BODY).read_to_end(&mut body)
            && matches!(status, 429 | 500..=599)
        {
            return Outcome::Wait(
                retry_after,
                format!("{status} from the server, its body cut off ({e})"),
            );
        }
        return match status {
            401 => Outcome::Unauthorized,
            429 => Outcome::Wait(retry_after, "429 too many requests".into()),
            500..=599 => Outcome::Wait(retry_after, format!("{status} from the server")),
            300..=399 => Outcome::Fail(
                Some(status),
                format!(
                    "{status}: the org redirects{}, and convault follows no redirect; check [api] instance_url and api_host (My Domain, https)",
                    location
                        .map(|l| format!(" to {}", crate::sanitize::for_terminal(&l)))
                        .unwrap_or_default()
                ),
            ),
            _ => Outcome::Fail(Some(status), format!("{status}{}", salesforce_error(&body))),
        };
    }
    let (limit, read) = match dest {
        Dest::Memory(body) => {
            body.clear();
            (
                MAX_SMALL_BODY,
                (&mut reader)
                    .take(MAX_SMALL_BODY + 1)
                    .read_to_end(body)
                    .map(|n| n as u64),
            )
        }
        Dest::File(path) => {
            let path: &std::path::Path = path;
            let file = match std::fs::File::create(path) {
                Ok(f) => f,
                Err(e) => return Outcome::Local(Error::io(path, e)),
            };
            let mut w = std::io::BufWriter::new(file);
            let copied = std::io::copy(&mut (&mut reader).take(MAX_BODY + 1), &mut w);
            if let Err(e) = std::io::Write::flush(&mut w) {
                return Outcome::Local(Error::io(path, e));
            }
            (MAX_BODY, copied)
        }
    };
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            let path = match dest {
                Dest::File(p) => p.to_path_buf(),
                Dest::Memory(_) => std::path::PathBuf::from("memory"),
            };
            Outcome::Local(Error::io(&path, e))
        }
        Err(e) => Outcome::Wait(None, format!("the response stopped mid-way ({e})")),
        Ok(n) if n > limit => {
            if let Dest::File(p) = dest {
                // Not a page: nothing of it is kept.
                let _ = std::fs::remove_file(p);
            }
            Outcome::Fail(
                Some(status),
                format!("the response is larger than {limit} bytes"),
            )
        }
        Ok(_) => Outcome::Ok,
    }
}

/// `Retry-After`: seconds, or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let left = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// Salesforce's own words for an error: `error`/`error_description`
/// (OAuth) or `[{errorCode, message}]` (REST), shortened.
fn salesforce_error(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let first = if v.is_array() { &v[0] } else { &v };
    let code = first["error"].as_str().or(first["errorCode"].as_str());
    let text = first["error_description"]
        .as_str()
        .or(first["message"].as_str());
    let words = [code, text]
        .into_iter()
        .flatten()
        .map(|s| s.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join(": ");
    if words.is_empty() {
        String::new()
    } else {
        format!(" ({words})")
    }
}

/// The org cannot be reached or refuses convault: the run stops.
fn unavailable(url: &str, reason: &str) -> Error {
    Error::ApiUnavailable {
        what: url.split('?').next().unwrap_or(url).to_owned(),
        reason: reason.to_owned(),
    }
}

fn api_error(url: &str, status: Option<u16>, reason: &str) -> Error {
    // The URL without its query, which may carry page tokens.
    let what = url.split('?').next().unwrap_or(url).to_owned();
    Error::Api {
        what,
        reason: reason.to_owned(),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convault_test_support::http::{serve, serve_org};

    #[derive(Default)]
    struct Recorded(Vec<Duration>);
    impl Sleeper for &mut Recorded {
        fn sleep(&mut self, d: Duration) {
            self.0.push(d);
        }
    }

    fn secret() -> Secret {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "the-secret-value").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        Secret::read(&super::super::secret::Source::File(p), dir.path()).unwrap()
    }

    const TOKEN: &str = r#"{"access_token":"tok-1","token_type":"Bearer"}"#;

    #[test]
    fn a_token_then_the_page_and_a_401_refreshes_the_token_once() {
        let (url, seen) = serve(5, |i, s| match (i, s.path.as_str()) {
            (_, "/services/oauth2/token") => {
                (200, vec![], TOKEN.replace("tok-1", &format!("tok-{i}")))
            }
            (1, _) => (401, vec![], "[]".into()),
            _ => (200, vec![], "{\"page\":1}".into()),
        });
        let mut waits = Recorded::default();
        let mut c = Client::new(
            &url,
            "cid",
            secret(),
            Duration::ZERO,
            Retry::default(),
            &mut waits,
        );
        assert_eq!(
            c.get(&format!("{url}/entries?x=1")).unwrap(),
            b"{\"page\":1}"
        );
        let seen = seen.lock().unwrap().clone();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/services/oauth2/token",
                "/entries?x=1",
                "/services/oauth2/token",
                "/entries?x=1"
            ]
        );
        assert_eq!(seen[0].method, "POST");
        assert!(
            seen[0].body.contains("grant_type=client_credentials"),
            "{}",
            seen[0].body
        );
        assert!(seen[0].body.contains("client_secret=the-secret-value"));
        assert_eq!(seen[1].authorization.as_deref(), Some("Bearer tok-0"));
        assert_eq!(seen[3].authorization.as_deref(), Some("Bearer tok-2"));
        assert_eq!(c.requests, 4);
    }

    #[test]
    fn a_429_waits_its_retry_after_and_a_5xx_backs_off_capped() {
        let (url, _) = serve(6, |i, s| match (i, s.path.as_str()) {
            (_, "/services/oauth2/token") => (200, vec![], TOKEN.into()),
            (1, _) => (429, vec![("Retry-After".into(), "7".into())], "".into()),
            (2..=4, _) => (503, vec![], "".into()),
            _ => (200, vec![], "ok".into()),
        });
        let mut waits = Recorded::default();
        let retry = Retry {
            attempts: 6,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(5),
            ..Retry::default()
        };
        let mut c = Client::new(&url, "cid", secret(), Duration::ZERO, retry, &mut waits);
        assert_eq!(c.get(&format!("{url}/p")).unwrap(), b"ok");
        drop(c);
        assert_eq!(waits.0[0], Duration::from_secs(7));
        // The tries after it: 2 × 2^(try − 1) s, capped at 5 s (the 429
        // was the first try), each less at most a quarter.
        assert_eq!(waits.0.len(), 4);
        for (w, full) in waits.0[1..].iter().zip([4.0, 5.0, 5.0]) {
            let s = w.as_secs_f64();
            assert!(s <= full && s >= full * 0.75, "{s} against {full}");
        }
    }

    #[test]
    fn a_failure_names_the_url_and_salesforces_words_never_the_secret() {
        let (url, _) = serve(1, |_, _| {
            (
                400,
                vec![],
                r#"{"error":"invalid_client","error_description":"invalid client credentials"}"#
                    .into(),
            )
        });
        let mut waits = Recorded::default();
        let mut c = Client::new(
            &url,
            "cid",
            secret(),
            Duration::ZERO,
            Retry::default(),
            &mut waits,
        );
        let e = c
            .get(&format!("{url}/p?pageToken=abc"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/services/oauth2/token") && e.contains("invalid_client"),
            "{e}"
        );
        assert!(!e.contains("the-secret-value"), "{e}");
        // A call that keeps failing stops after its attempts; its query
        // (page tokens) is not repeated.
        let (url, _) = serve_org(4, |_| (500, vec![], "".into()));
        let retry = Retry {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            ..Retry::default()
        };
        let mut waits = Recorded::default();
        let mut c = Client::new(&url, "cid", secret(), Duration::ZERO, retry, &mut waits);
        let e = c
            .get(&format!("{url}/p?pageToken=abc"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("500 from the server, 3 times") && !e.contains("pageToken"),
            "{e}"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(48))
            .unwrap();
        let text = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let d = retry_after(&text).unwrap();
        assert!(d > Duration::from_secs(47 * 3600), "{text}: {d:?}");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn a_retry_after_past_the_limit_is_not_waited_and_each_wait_is_told() {
        let (url, _) = serve_org(4, |s| {
            if s.path.ends_with("/long") {
                (429, vec![("Retry-After".into(), "86400".into())], "".into())
            } else {
                (503, vec![], "".into())
            }
        });
        let mut waits = Recorded::default();
        let told = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let retry = Retry {
            attempts: 2,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(10),
            longest_wait: Duration::from_secs(600),
            ..Retry::default()
        };
        let mut c = Client::new(&url, "cid", secret(), Duration::ZERO, retry, &mut waits);
        let t = told.clone();
        c.on_retry(move |m| t.borrow_mut().push(m.to_owned()));
        let e = c.get(&format!("{url}/long")).unwrap_err();
        assert!(matches!(e, Error::ApiUnavailable { .. }), "{e}");
        assert!(e.to_string().contains("asks to wait 86400 s"), "{e}");
        let e = c.get(&format!("{url}/busy?pageToken=x")).unwrap_err();
        assert!(
            e.to_string().contains("503 from the server, 2 times"),
            "{e}"
        );
        drop(c);
        // The day was never waited; the 503 was, once, and told.
        assert_eq!(waits.0.len(), 1, "{:?}", waits.0);
        let told = told.borrow();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].ends_with("/busy: 503 from the server; trying again in 0.0 s (try 2 of 2)"),
            "{told:?}"
        );
    }

    #[test]
    fn requests_are_spaced_by_the_interval() {
        let (url, _) = serve_org(3, |_| (200, vec![], "ok".into()));
        let mut waits = Recorded::default();
        let mut c = Client::new(
            &url,
            "cid",
            secret(),
            Duration::from_secs(60),
            Retry::default(),
            &mut waits,
        );
        c.get(&format!("{url}/a")).unwrap();
        c.get(&format!("{url}/b")).unwrap();
        drop(c);
        // Token, a, b: two waits of nearly the whole interval.
        assert_eq!(waits.0.len(), 2);
        assert!(
            waits.0.iter().all(|w| *w > Duration::from_secs(59)),
            "{:?}",
            waits.0
        );
    }
}
