//! The one fake HTTP server of the tests: on 127.0.0.1, a thread per
//! connection, each request (one per connection: `Connection: close`)
//! answered by the test's function and recorded. The fake org
//! ([`crate::fake_org`]) and the unit tests of convault's HTTP client
//! (`fetch::http`, `fetch::entries`, `fetch::query`, `fetch::run`) are
//! built on it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path with its query.
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
    /// The request line and headers as sent, then the body.
    pub raw: String,
}

/// An answer.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Send the headers (declaring 100,000 bytes) and `body`, then nothing
    /// for 30 s: a stalled response.
    pub stall: bool,
}

impl Reply {
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers,
            body: body.into(),
            stall: false,
        }
    }
}

/// Starts a server that answers every request with `respond` (given the
/// request's number, from 0), until the test process ends. Its URL.
pub fn listen(respond: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let respond = Arc::new(respond);
    let count = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (respond, count) = (respond.clone(), count.clone());
            std::thread::spawn(move || {
                let Some(seen) = read_request(&stream) else {
                    return;
                };
                let reply = respond(count.fetch_add(1, Ordering::SeqCst), &seen);
                write_reply(stream, &reply);
            });
        }
    });
    url
}

fn read_request(stream: &std::net::TcpStream) -> Option<Seen> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    let mut line = String::new();
    let (mut len, mut authorization) = (0usize, None);
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            authorization = Some(line[14..].trim().to_owned());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
        line.clear();
    }
    let mut body = vec![0; len];
    let _ = r.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut parts = head.split_whitespace();
    Some(Seen {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("").to_owned(),
        authorization,
        raw: format!("{head}{body}"),
        body,
    })
}

fn write_reply(mut w: std::net::TcpStream, reply: &Reply) {
    let mut head = if reply.stall {
        "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n".to_owned()
    } else {
        format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        )
    };
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(reply.body.as_bytes());
    let _ = w.flush();
    if reply.stall {
        std::thread::sleep(Duration::from_secs(30));
    }
}

/// A server answering each request with `respond`'s (status, extra
/// headers, body), recording them. (It serves any number; `_n` is how
/// many the test expects.)
pub fn serve(
    _n: usize,
    respond: impl Fn(usize, &Seen) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let url = listen(move |i, s| {
        let (status, headers, body) = respond(i, s);
        log.lock().expect("lock").push(s.clone());
        Reply::new(status, headers, body)
    });
    (url, seen)
}

/// [`serve`] with an OAuth token endpoint in front: `respond` answers
/// every other request.
pub fn serve_org(
    n: usize,
    respond: impl Fn(&Seen) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    serve(n, move |_, s| {
        if s.path.ends_with("/services/oauth2/token") {
            (200, vec![], r#"{"access_token":"t"}"#.into())
        } else {
            respond(s)
        }
    })
}
