//! HTTP for `fetch`: the OAuth token, paced requests, retries.
//!
//! - **Token**: OAuth 2.0 client credentials against the org's My Domain
//!   (`/services/oauth2/token`). A `401` on a call gets a new token once.
//! - **Pace**: requests are spaced evenly to stay within the API's rate
//!   (90 a minute: one each 667 ms), rather than bursting and waiting.
//! - **Retries**: a `429` waits what its `Retry-After` says; a `5xx` or a
//!   failed connection waits a capped, jittered exponential backoff; both
//!   a bounded number of times. Other statuses fail at once.
//!
//! Invariant: the client secret goes into the token request's body and
//! nowhere else; errors name the URL and Salesforce's error code, never a
//! request body, a token or the secret.

use std::io::Read;
use std::time::{Duration, Instant};

use super::secret::Secret;
use crate::error::{Error, Result};

/// The largest response body read (an entries page holds at most 1,000
/// entries; a bigger body is refused, never read whole into memory).
pub const MAX_BODY: u64 = 256 * 1024 * 1024;

/// How often and how long failed calls are tried again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries of one call in all, the first included.
    pub attempts: u32,
    /// The first backoff; doubled each time, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 6,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
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
    /// Requests sent, tokens included.
    pub requests: u64,
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
            .timeout_global(Some(Duration::from_secs(120)))
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
            requests: 0,
        }
    }

    /// GETs `url` with the bearer token: the body of a `200`.
    pub fn get(&mut self, url: &str) -> Result<Vec<u8>> {
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
            match outcome(sent) {
                Outcome::Ok(body) => return Ok(body),
                Outcome::Unauthorized if !refreshed => {
                    refreshed = true;
                    self.token = None;
                }
                Outcome::Wait(wait, ..) if attempt < self.retry.attempts => {
                    let wait = wait.unwrap_or_else(|| self.backoff(attempt));
                    self.sleeper.sleep(wait);
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
            }
        }
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
            match outcome(sent) {
                Outcome::Ok(body) => {
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
                Outcome::Wait(wait, ..) if attempt < self.retry.attempts => {
                    let wait = wait.unwrap_or_else(|| self.backoff(attempt));
                    self.sleeper.sleep(wait);
                }
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
    Ok(Vec<u8>),
    Unauthorized,
    /// Try again, after the server's `Retry-After` if it gave one; why.
    Wait(Option<Duration>, String),
    Fail(Option<u16>, String),
}

fn outcome(sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Outcome {
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Wait(None, format!("the connection failed ({e})")),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    let read = resp
        .body_mut()
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body);
    if let Err(e) = read {
        return Outcome::Wait(None, format!("the response stopped mid-way ({e})"));
    }
    if body.len() as u64 > MAX_BODY {
        return Outcome::Fail(
            Some(status),
            format!("the response is larger than {MAX_BODY} bytes"),
        );
    }
    match status {
        200 => Outcome::Ok(body),
        401 => Outcome::Unauthorized,
        429 => Outcome::Wait(retry_after, "429 too many requests".into()),
        500..=599 => Outcome::Wait(retry_after, format!("{status} from the server")),
        _ => Outcome::Fail(Some(status), format!("{status}{}", salesforce_error(&body))),
    }
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

/// A fake HTTP server for the tests of this module and of `entries`.
#[cfg(test)]
pub mod tests_support {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// One request as the fake server saw it.
    #[derive(Debug, Clone)]
    pub struct Seen {
        pub method: String,
        pub path: String,
        pub authorization: Option<String>,
        pub body: String,
    }

    /// A server on 127.0.0.1 answering each request with `respond`'s
    /// (status, extra headers, body), stopping after `n` requests.
    pub fn serve(
        n: usize,
        respond: impl Fn(usize, &Seen) -> (u16, Vec<(String, String)>, String) + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let path = parts.next().unwrap_or("").to_owned();
                let (mut len, mut auth) = (0usize, None);
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap(),
                        "authorization" => auth = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
                let mut body = vec![0; len];
                std::io::Read::read_exact(&mut r, &mut body).unwrap();
                let s = Seen {
                    method,
                    path,
                    authorization: auth,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, headers, text) = respond(i, &s);
                log.lock().unwrap().push(s);
                let mut w = stream;
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    text.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = w.write_all(head.as_bytes());
                let _ = w.write_all(text.as_bytes());
            }
        });
        (url, seen)
    }

    /// [`serve`] with an OAuth token endpoint in front: `respond` answers
    /// every other request with a `200` or another status and a body.
    pub fn serve_org(
        n: usize,
        respond: impl Fn(&Seen) -> (u16, Vec<(String, String)>, String) + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        serve(n, move |_, s| {
            if s.path.ends_with("/services/oauth2/token") {
                (200, vec![], r#"{"access_token":"t"}"#.into())
            } else {
                respond(s)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{serve, serve_org};
    use super::*;

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
