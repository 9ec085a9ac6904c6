//! The `[api]` section of `DIR/config.toml`: where the org is, how to
//! authenticate, which entries API to use, the activation budget and the
//! rate limits (docs/fetch.md). Unknown keys are errors.

use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use serde::Deserialize;

use super::budget::{Budget, BusyHours};
use super::http::Retry;
use super::secret::Source;

/// Which API gives a conversation's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntriesApi {
    /// The Conversation Data API: full payloads, 90 requests a minute.
    #[default]
    ConversationData,
    /// The Connect API: text only, 1,000 requests an hour.
    Connect,
}

/// `[api]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// My Domain: the OAuth token and the REST query.
    pub instance_url: String,
    /// The Conversation Data API's host.
    #[serde(default = "default_api_host")]
    pub api_host: String,
    #[serde(default)]
    pub entries_api: EntriesApi,
    /// For the REST query and Connect paths, e.g. `v62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    #[serde(default = "default_active_limit")]
    pub active_limit: u32,
    /// e.g. `Mon-Fri 08:00-18:00 America/New_York`.
    pub busy_hours: Option<String>,
    #[serde(default)]
    pub busy_load: u32,
    #[serde(default)]
    pub quiet_load: u32,
    #[serde(default)]
    pub headroom: u32,
    /// How long a read keeps a conversation active, e.g. `30m`.
    #[serde(default = "default_window")]
    pub window: String,
    /// The Conversation Data API's rate.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    /// The Connect API's rate.
    #[serde(default = "default_per_hour")]
    pub requests_per_hour: u32,
    /// The longest a response may go without a byte before it is tried
    /// again, e.g. `60s`.
    #[serde(default = "default_read_timeout")]
    pub read_timeout: String,
    /// The longest `Retry-After` waited; past it the run stops and says
    /// when to run again.
    #[serde(default = "default_retry_after_limit")]
    pub retry_after_limit: String,
    /// Tries of a failed request after the first.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The most pages read of one conversation.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

fn default_api_host() -> String {
    "https://api.salesforce.com".into()
}
fn default_api_version() -> String {
    "v62.0".into()
}
fn default_active_limit() -> u32 {
    11_000
}
fn default_window() -> String {
    "30m".into()
}
fn default_per_minute() -> u32 {
    90
}
fn default_per_hour() -> u32 {
    1_000
}
fn default_read_timeout() -> String {
    "60s".into()
}
fn default_retry_after_limit() -> String {
    "15m".into()
}
fn default_retries() -> u32 {
    5
}
fn default_max_pages() -> u32 {
    1_000
}

/// `[api]` checked: every value usable.
#[derive(Debug, Clone)]
pub struct Api {
    pub instance_url: String,
    pub api_host: String,
    pub entries_api: EntriesApi,
    pub api_version: String,
    pub client_id: String,
    pub secret: Source,
    pub budget: Budget,
    pub requests_per_minute: u32,
    pub requests_per_hour: u32,
    /// How failed requests are tried again, and how long a stalled one is
    /// waited for.
    pub retry: Retry,
    pub max_pages: u32,
}

impl ApiConfig {
    /// Checks every value; the reason names the key.
    #[allow(
        clippy::too_many_lines,
        reason = "one check per [api] key, each naming it"
    )]
    pub fn check(&self) -> Result<Api, String> {
        let url = |key: &str, v: &str| -> Result<String, String> {
            let v = v.trim_end_matches('/');
            if v.starts_with("https://") || is_loopback_http(v) {
                Ok(v.to_owned())
            } else {
                Err(format!(
                    "[api] {key} = {v:?}: must be an https:// URL (http:// only for 127.0.0.1 or localhost, in tests)"
                ))
            }
        };
        let secret = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(name), None) if !name.is_empty() => Source::Env(name.clone()),
            (None, Some(path)) => Source::File(path.clone()),
            _ => {
                return Err(
                    "[api]: give exactly one of client_secret_env (an environment variable's name) and client_secret_file (a file readable by its owner only)"
                        .into(),
                );
            }
        };
        if self.client_id.trim().is_empty() {
            return Err(
                "[api] client_id is empty: give the External Client App's consumer key".into(),
            );
        }
        let version_ok = self
            .api_version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
        if !version_ok {
            return Err(format!(
                "[api] api_version = {:?}: give it as v62.0",
                self.api_version
            ));
        }
        let window: SignedDuration = self.window.parse().map_err(|e| {
            format!(
                "[api] window = {:?}: not a duration such as 30m ({e})",
                self.window
            )
        })?;
        if window <= SignedDuration::ZERO {
            return Err(format!(
                "[api] window = {:?}: must be longer than zero",
                self.window
            ));
        }
        let busy_hours = self
            .busy_hours
            .as_deref()
            .map(BusyHours::parse)
            .transpose()
            .map_err(|e| format!("[api] busy_hours: {e}"))?;
        if self.requests_per_minute == 0 || self.requests_per_hour == 0 {
            return Err(
                "[api] requests_per_minute and requests_per_hour must be at least 1".into(),
            );
        }
        let positive = |key: &str, v: &str| -> Result<std::time::Duration, String> {
            let d: SignedDuration = v
                .parse()
                .map_err(|e| format!("[api] {key} = {v:?}: not a duration such as 60s ({e})"))?;
            std::time::Duration::try_from(d)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("[api] {key} = {v:?}: must be longer than zero"))
        };
        if self.max_pages == 0 {
            return Err("[api] max_pages must be at least 1".into());
        }
        let retry = Retry {
            attempts: self.retries.saturating_add(1),
            read_timeout: positive("read_timeout", &self.read_timeout)?,
            longest_wait: positive("retry_after_limit", &self.retry_after_limit)?,
            ..Retry::default()
        };
        Ok(Api {
            instance_url: url("instance_url", &self.instance_url)?,
            api_host: url("api_host", &self.api_host)?,
            entries_api: self.entries_api,
            api_version: self.api_version.clone(),
            client_id: self.client_id.clone(),
            secret,
            budget: Budget {
                active_limit: self.active_limit,
                busy_hours,
                busy_load: self.busy_load,
                quiet_load: self.quiet_load,
                headroom: self.headroom,
                window,
            },
            requests_per_minute: self.requests_per_minute,
            requests_per_hour: self.requests_per_hour,
            retry,
            max_pages: self.max_pages,
        })
    }
}

/// `http://127.0.0.1…` or `http://localhost…`: the fake org of the tests.
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "127.0.0.1" || host == "localhost"
}

/// The secret's source, relative paths read from the archive directory.
pub fn secret_source(api: &Api, root: &Path) -> Source {
    match &api.secret {
        Source::File(p) if p.is_relative() => Source::File(root.join(p)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Api, String> {
        let c: ApiConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check()
    }

    const ISSUE_EXAMPLE: &str = r#"
instance_url = "https://example.my.salesforce.com"
api_host = "https://api.salesforce.com"
entries_api = "conversation-data"
api_version = "v62.0"
client_id = "3MVG9..."
client_secret_env = "CONVAULT_CLIENT_SECRET"
active_limit = 11000
busy_hours = "Mon-Fri 08:00-18:00 America/New_York"
busy_load = 8000
quiet_load = 0
headroom = 500
window = "30m"
requests_per_minute = 90
"#;

    #[test]
    fn the_documented_example_reads_as_salesforces_budget() {
        let api = parse(ISSUE_EXAMPLE).unwrap();
        assert_eq!(api.budget.window, SignedDuration::from_mins(30));
        assert_eq!(api.entries_api, EntriesApi::ConversationData);
        assert_eq!(api.secret, Source::Env("CONVAULT_CLIENT_SECRET".into()));
        let busy: jiff::Timestamp = "2026-11-26T15:00:00Z".parse().unwrap();
        assert_eq!(api.budget.allowance(busy), 2_500);
        // Defaults: only the org, the client and its secret are required.
        let api = parse(
            "instance_url = \"http://127.0.0.1:8080\"\nclient_id = \"x\"\nclient_secret_file = \"secret\"\n",
        )
        .unwrap();
        assert_eq!(
            (
                api.budget.active_limit,
                api.requests_per_minute,
                api.requests_per_hour
            ),
            (11_000, 90, 1_000)
        );
        assert_eq!(api.api_host, "https://api.salesforce.com");
    }

    #[test]
    fn each_mistake_is_named() {
        let base = "instance_url = \"https://x.my.salesforce.com\"\nclient_id = \"x\"\nclient_secret_env = \"S\"\n";
        for (extra, want) in [
            ("windw = \"30m\"\n", "unknown field"),
            ("window = \"soon\"\n", "window"),
            ("window = \"0s\"\n", "longer than zero"),
            ("busy_hours = \"weekdays\"\n", "busy_hours"),
            ("api_version = \"62\"\n", "api_version"),
            ("entries_api = \"soap\"\n", "entries_api"),
            ("client_secret_file = \"f\"\n", "exactly one"),
            ("requests_per_minute = 0\n", "at least 1"),
        ] {
            let e = parse(&format!("{base}{extra}")).unwrap_err();
            assert!(e.contains(want), "{extra}: {e}");
        }
        for url in [
            "http://x.my.salesforce.com",
            "ftp://127.0.0.1",
            "http://127.0.0.2",
        ] {
            let e = parse(&base.replace("https://x.my.salesforce.com", url)).unwrap_err();
            assert!(e.contains("https://"), "{url}: {e}");
        }
    }
}
