//! A fake Salesforce org on 127.0.0.1 for `fetch`'s tests: the OAuth
//! token endpoint and the Conversation Data API, each conversation's
//! entries on one page. It counts active conversations exactly as
//! Salesforce does (a read makes a conversation active for the window,
//! renewed by each read) and records the most ever active at once.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the org saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub tokens: usize,
    pub reads: usize,
    pub peak_active: usize,
    /// Every request's raw text (request line, headers, body).
    pub requests: Vec<String>,
    last_read: HashMap<String, Instant>,
}

pub struct FakeOrg {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts the org; it serves until the test process ends.
pub fn start(window: Duration) -> FakeOrg {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut r = BufReader::new(read_half);
            let mut head = String::new();
            let mut line = String::new();
            let mut len = 0usize;
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.to_ascii_lowercase().starts_with("content-length:") {
                    len = line[15..].trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let text = {
                let mut s = log.lock().expect("lock");
                s.requests
                    .push(format!("{head}{}", String::from_utf8_lossy(&body)));
                if path.ends_with("/services/oauth2/token") {
                    s.tokens += 1;
                    r#"{"access_token":"fake-token","token_type":"Bearer"}"#.to_owned()
                } else {
                    let conversation = path
                        .split("conversationIdentifier=")
                        .nth(1)
                        .and_then(|x| x.split('&').next())
                        .unwrap_or("")
                        .to_owned();
                    let now = Instant::now();
                    s.last_read.insert(conversation.clone(), now);
                    let active = s
                        .last_read
                        .values()
                        .filter(|t| now.duration_since(**t) < window)
                        .count();
                    s.peak_active = s.peak_active.max(active);
                    s.reads += 1;
                    page(&conversation)
                }
            };
            let mut w = stream;
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    FakeOrg { url, seen }
}

/// One page of two messages of `conversation` (a UUID): entry ids made
/// from it, so every conversation's entries are its own.
fn page(conversation: &str) -> String {
    let tail = conversation.get(24..).unwrap_or("000000000000");
    let entry = |n: u32, ms: u64| {
        format!(
            r#"{{"identifier":"e{n:07x}-1d2e-4f3a-8b4c-{tail}","entryType":"Message","entryPayload":{{"entryType":"Message","abstractMessage":{{"messageType":"StaticContentMessage","staticContent":{{"formatType":"Text","text":"refund request {n}"}}}}}},"serverReceivedTimestamp":{ms},"clientTimestamp":{ms},"sender":{{"role":"EndUser","appType":"iamessage","subject":"u"}},"relatedRecords":[]}}"#
        )
    };
    format!(
        r#"{{"conversationIdentifier":"{conversation}","conversationEntries":[{},{}]}}"#,
        entry(1, 1_794_218_400_000),
        entry(2, 1_794_218_401_000)
    )
}
