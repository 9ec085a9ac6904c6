//! A one-request-per-connection HTTP server on 127.0.0.1, for the unit
//! tests of convault's HTTP client (`fetch::http`, `fetch::entries`,
//! `fetch::query`, `fetch::run`): each request is answered by the test's
//! function, and recorded.

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
