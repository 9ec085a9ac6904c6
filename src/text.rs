//! Searchable text from entry payloads, and short readable descriptions of
//! events for transcripts.
//!
//! Messages: static text, rich link title and URL, attachment names, choices
//! text and option titles, selected options, form fields; a message type we
//! do not know gives the text found under text-like keys. Events
//! (participant changed, routing result, ...) get one short sentence.
//! Connect API `messageText` is HTML-escaped: it is unescaped here, for the
//! index, while the stored row keeps it as received.

use serde_json::Value;

/// What [`extract`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Message text, or an event's description.
    pub text: Option<String>,
    /// Whether the entry is a message (else an event).
    pub is_message: bool,
}

/// Keys whose string values are text a person wrote or reads.
const TEXT_KEYS: &[&str] = &[
    "text",
    "title",
    "formTitle",
    "subTitle",
    "subtitle",
    "label",
    "name",
    "displayName",
    "value",
    "displayValue",
    "url",
    "description",
    "message",
];

/// Longest event description kept for a generic event.
const MAX_EVENT_CHARS: usize = 300;

/// Extracts the text of an entry of type `entry_type` (normalised).
pub fn extract(entry_type: &str, payload: Option<&Value>, message_text: Option<&str>) -> Extracted {
    let abstract_message = payload.and_then(|p| p.get("abstractMessage"));
    let is_message = entry_type == "MESSAGE" || abstract_message.is_some();
    let text = if is_message {
        let mut parts = Vec::new();
        if let Some(m) = abstract_message {
            message_parts(m, &mut parts);
        }
        if let Some(t) = message_text {
            let t = unescape_html(t);
            if !parts.contains(&t) {
                parts.push(t);
            }
        }
        join(parts)
    } else {
        event_description(entry_type, payload)
    };
    // U+0000 (JSON's `\u0000`) ends a C string: SQLite's FTS5 indexed the
    // whole text but `highlight()` gave it back cut at the NUL, so every
    // search reaching such a text failed. The searchable text shows it as
    // U+FFFD; the payload keeps it, byte for byte.
    let text = text.map(|t| {
        if t.contains('\0') {
            t.replace('\0', "\u{FFFD}")
        } else {
            t
        }
    });
    Extracted { text, is_message }
}

fn join(parts: Vec<String>) -> Option<String> {
    let parts: Vec<String> = parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    cur.as_str().filter(|s| !s.trim().is_empty())
}

fn items<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn message_parts(m: &Value, out: &mut Vec<String>) {
    let kind = m.get("messageType").and_then(Value::as_str).unwrap_or("");
    match kind {
        "StaticContentMessage" => match m.get("staticContent") {
            Some(sc) => static_content(sc, out),
            None => generic(m, out),
        },
        "ChoicesMessage" => match m.get("choices") {
            Some(c) => choices(c, out),
            None => generic(m, out),
        },
        "ChoicesResponseMessage" => {
            let resp = m.get("choicesResponse").unwrap_or(m);
            let selected: Vec<String> = items(resp, "selectedOptions")
                .filter_map(|o| {
                    str_at(o, &["title"])
                        .or_else(|| str_at(o, &["titleItem", "title"]))
                        .or_else(|| str_at(o, &["optionIdentifier"]))
                })
                .map(str::to_owned)
                .collect();
            if selected.is_empty() {
                generic(resp, out);
            } else {
                out.push(format!("Selected: {}", selected.join(", ")));
            }
        }
        "FormMessage" | "FormResponseMessage" => {
            let form = m.get("form").or_else(|| m.get("formResponse")).unwrap_or(m);
            form_text(form, out);
        }
        _ => generic(m, out),
    }
}

fn static_content(sc: &Value, out: &mut Vec<String>) {
    if let Some(t) = str_at(sc, &["text"]) {
        out.push(t.to_owned());
    }
    match sc.get("formatType").and_then(Value::as_str).unwrap_or("") {
        "Text" => {}
        "RichLink" => {
            let title = str_at(sc, &["linkItem", "title"]);
            let url = str_at(sc, &["linkItem", "url"]);
            match (title, url) {
                (Some(t), Some(u)) => out.push(format!("{t} <{u}>")),
                (Some(t), None) => out.push(t.to_owned()),
                (None, Some(u)) => out.push(format!("<{u}>")),
                (None, None) => {}
            }
            if let Some(t) = str_at(sc, &["image", "assetName"]).or(str_at(sc, &["image", "title"]))
            {
                out.push(t.to_owned());
            }
        }
        "Attachments" | "ExternalAttachments" => {
            for a in items(sc, "attachments") {
                let name = str_at(a, &["name"])
                    .or_else(|| str_at(a, &["title"]))
                    .or_else(|| str_at(a, &["url"]));
                if let Some(name) = name {
                    match str_at(a, &["mimeType"]) {
                        Some(mime) => out.push(format!("[attachment: {name} ({mime})]")),
                        None => out.push(format!("[attachment: {name}]")),
                    }
                }
            }
        }
        "WebView" => {
            for key in ["title", "url"] {
                if let Some(t) = str_at(sc, &[key]).or_else(|| str_at(sc, &["webView", key])) {
                    out.push(t.to_owned());
                }
            }
        }
        _ => {
            if out.is_empty() {
                generic(sc, out);
            }
        }
    }
}

fn choices(c: &Value, out: &mut Vec<String>) {
    if let Some(t) = str_at(c, &["text"]) {
        out.push(t.to_owned());
    }
    let mut options = Vec::new();
    for item in items(c, "optionItems").chain(items(c, "items")) {
        let title = str_at(item, &["titleItem", "title"]).or_else(|| str_at(item, &["title"]));
        if let Some(t) = title {
            options.push(format!("[{t}]"));
        }
        if let Some(s) = str_at(item, &["titleItem", "subTitle"])
            .or_else(|| str_at(item, &["titleItem", "subtitle"]))
        {
            options.push(s.to_owned());
        }
    }
    if !options.is_empty() {
        out.push(options.join(" "));
    } else if out.is_empty() {
        generic(c, out);
    }
}

/// A form's title and fields: `label: value` for answered fields, the label
/// alone for questions (an input's machine `name` is not shown beside its
/// label); anything else as in [`generic`].
fn form_text(v: &Value, out: &mut Vec<String>) {
    walk(v, out, true);
}

/// One form field as a line.
fn form_field(label: &str, value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => format!("{label}: {s}"),
        Some(Value::Array(list)) => {
            let vals: Vec<String> = list.iter().map(scalar_text).collect();
            format!("{label}: {}", vals.join(", "))
        }
        Some(Value::Null) | None => label.to_owned(),
        Some(other) => format!("{label}: {}", scalar_text(other)),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Strings under [`TEXT_KEYS`], depth first, for shapes we do not know.
fn generic(v: &Value, out: &mut Vec<String>) {
    walk(v, out, false);
}

/// The depth-first walk behind [`generic`] and (with `form`) [`form_text`].
fn walk(v: &Value, out: &mut Vec<String>, form: bool) {
    match v {
        Value::Object(map) => {
            if form && let Some(label) = map.get("label").and_then(Value::as_str) {
                out.push(form_field(
                    label,
                    map.get("value").or_else(|| map.get("values")),
                ));
                return;
            }
            for key in TEXT_KEYS {
                if let Some(Value::String(s)) = map.get(*key)
                    && !s.trim().is_empty()
                    && !out.contains(s)
                {
                    out.push(s.clone());
                }
            }
            for child in map.values() {
                if child.is_object() || child.is_array() {
                    walk(child, out, form);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|x| walk(x, out, form)),
        _ => {}
    }
}

fn event_description(entry_type: &str, payload: Option<&Value>) -> Option<String> {
    let empty = Value::Null;
    let p = payload.unwrap_or(&empty);
    let s = match entry_type {
        "PARTICIPANT_CHANGED" => {
            let changes: Vec<String> = items(p, "entries")
                .map(|e| {
                    let who = str_at(e, &["displayName"])
                        .or_else(|| str_at(e, &["participant", "subject"]))
                        .unwrap_or("someone");
                    let role = str_at(e, &["participant", "role"]);
                    let verb = match str_at(e, &["operation"]) {
                        Some(op) if op.eq_ignore_ascii_case("add") => "joined",
                        Some(op) if op.eq_ignore_ascii_case("remove") => "left",
                        Some(op) => op,
                        None => "changed",
                    };
                    match role {
                        Some(r) => format!("{who} ({r}) {verb}"),
                        None => format!("{who} {verb}"),
                    }
                })
                .collect();
            if changes.is_empty() {
                "Participants changed".to_owned()
            } else {
                changes.join("; ")
            }
        }
        "ROUTING_RESULT" | "ROUTING_WORK_RESULT" => {
            let what = if entry_type == "ROUTING_RESULT" {
                "Routing"
            } else {
                "Work routing"
            };
            let mut s = match str_at(p, &["routingType"]) {
                Some(t) => format!("{what} ({t})"),
                None => what.to_owned(),
            };
            let failure = str_at(p, &["failureType"]).filter(|f| !f.eq_ignore_ascii_case("None"));
            match (failure, str_at(p, &["failureReason"])) {
                (None, None) => s.push_str(" succeeded"),
                (f, r) => {
                    s.push_str(" failed");
                    for x in [f, r].into_iter().flatten() {
                        s.push_str(": ");
                        s.push_str(x);
                    }
                }
            }
            if let Some(w) = p
                .get("estimatedWaitTime")
                .and_then(|w| w.get("estimatedWaitTimeInSeconds"))
                .and_then(Value::as_i64)
            {
                s.push_str(&format!(", estimated wait {w}s"));
            }
            s
        }
        "NOTE" => {
            let mut parts = Vec::new();
            generic(p, &mut parts);
            format!("Note: {}", parts.join(" "))
        }
        "FLAG_RAISE" => with_details("Flag raised", p),
        "FLAG_LOWER" => with_details("Flag lowered", p),
        "END_USER_CONSENT_UPDATED" => with_details("End user consent updated", p),
        "SESSION_STATUS_CHANGED" => with_details("Session status changed", p),
        "SESSION_OWNER_CHANGED" => with_details("Session owner changed", p),
        "MESSAGE_DELIVERY_FAILED" => with_details("Message delivery failed", p),
        "CLIENT_MENU" => with_details("Client menu shown", p),
        "CONSULT_CONVERSATION_INFO" => with_details("Consult conversation", p),
        "SESSION_CONTEXT" => with_details("Session context", p),
        other => with_details(&format!("{} event", humanise(other)), p),
    };
    Some(truncate(s, MAX_EVENT_CHARS))
}

/// `head: key value, key value` from the payload's scalar fields.
fn with_details(head: &str, p: &Value) -> String {
    let mut details = Vec::new();
    scalar_fields(p, &mut details);
    if details.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {}", details.join(", "))
    }
}

fn scalar_fields(v: &Value, out: &mut Vec<String>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            // The type is already in the head, and the entry's own id is noise.
            if k == "entryType" || k == "id" {
                continue;
            }
            match child {
                Value::String(s) if !s.is_empty() => out.push(format!("{k} {s}")),
                Value::Number(n) => out.push(format!("{k} {n}")),
                Value::Bool(b) => out.push(format!("{k} {b}")),
                Value::Object(_) => scalar_fields(child, out),
                _ => {}
            }
        }
    }
}

fn humanise(entry_type: &str) -> String {
    let words = entry_type.replace('_', " ").to_lowercase();
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => "Unknown".to_owned(),
    }
}

fn truncate(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Decodes HTML character references (`&amp;`, `&#39;`, `&#x1F600;`, ...).
/// Unknown or malformed references are left as they are.
pub fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(m: Value) -> Option<String> {
        extract(
            "MESSAGE",
            Some(&json!({"entryType":"Message","abstractMessage": m})),
            None,
        )
        .text
    }

    #[test]
    fn static_text() {
        let t = msg(
            json!({"messageType":"StaticContentMessage","staticContent":{"formatType":"Text","text":"Hi there"}}),
        );
        assert_eq!(t.as_deref(), Some("Hi there"));
    }

    #[test]
    fn rich_link_and_attachments() {
        let t = msg(
            json!({"messageType":"StaticContentMessage","staticContent":{"formatType":"RichLink","linkItem":{"url":"https://x.example/a","title":"Returns policy"}}}),
        );
        assert_eq!(t.as_deref(), Some("Returns policy <https://x.example/a>"));
        let t = msg(
            json!({"messageType":"StaticContentMessage","staticContent":{"formatType":"Attachments","attachments":[{"name":"receipt.pdf","mimeType":"application/pdf","url":"u"}]}}),
        );
        assert_eq!(
            t.as_deref(),
            Some("[attachment: receipt.pdf (application/pdf)]")
        );
    }

    #[test]
    fn choices_and_responses() {
        let t = msg(
            json!({"messageType":"ChoicesMessage","choices":{"formatType":"Buttons","text":"Pick one","optionItems":[{"titleItem":{"title":"Billing"}},{"titleItem":{"title":"Shipping"}}]}}),
        );
        assert_eq!(t.as_deref(), Some("Pick one\n[Billing] [Shipping]"));
        let t = msg(
            json!({"messageType":"ChoicesResponseMessage","choicesResponse":{"selectedOptions":[{"optionIdentifier":"o1","title":"Billing"}]}}),
        );
        assert_eq!(t.as_deref(), Some("Selected: Billing"));
    }

    #[test]
    fn forms_and_unknown_messages_use_text_keys() {
        let t = msg(
            json!({"messageType":"FormResponseMessage","formResponse":{"fields":[{"label":"Order number","value":"A-1"}]}}),
        );
        assert_eq!(t.as_deref(), Some("Order number: A-1"));
        let t = msg(
            json!({"messageType":"FormMessage","form":{"title":"Refund","sections":[{"inputs":[{"label":"Order number","name":"order"}]}]}}),
        );
        assert_eq!(t.as_deref(), Some("Refund\nOrder number"));
        let t = msg(json!({"messageType":"HoloMessage","holo":{"title":"Beam"}}));
        assert_eq!(t.as_deref(), Some("Beam"));
    }

    #[test]
    fn message_text_is_unescaped() {
        let e = extract(
            "MESSAGE",
            None,
            Some("It&#39;s the card &amp; PIN &lt;4321&gt;"),
        );
        assert_eq!(e.text.as_deref(), Some("It's the card & PIN <4321>"));
        assert!(e.is_message);
    }

    #[test]
    fn events_are_described() {
        let p = json!({"entries":[{"operation":"add","displayName":"Ana","participant":{"role":"Agent"}},{"operation":"remove","displayName":"Bot","participant":{"role":"Chatbot"}}]});
        let e = extract("PARTICIPANT_CHANGED", Some(&p), None);
        assert_eq!(
            e.text.as_deref(),
            Some("Ana (Agent) joined; Bot (Chatbot) left")
        );
        assert!(!e.is_message);
        let p = json!({"routingType":"Transfer","failureType":"NoAgentsAvailable","failureReason":"Queue closed"});
        assert_eq!(
            extract("ROUTING_RESULT", Some(&p), None).text.as_deref(),
            Some("Routing (Transfer) failed: NoAgentsAvailable: Queue closed")
        );
        let p =
            json!({"routingType":"Initial","estimatedWaitTime":{"estimatedWaitTimeInSeconds":30}});
        assert_eq!(
            extract("ROUTING_RESULT", Some(&p), None).text.as_deref(),
            Some("Routing (Initial) succeeded, estimated wait 30s")
        );
        assert_eq!(
            extract("FLAG_LOWER", None, None).text.as_deref(),
            Some("Flag lowered")
        );
        assert_eq!(
            extract("HOLOGRAM_BEAMED", Some(&json!({"level": 3})), None)
                .text
                .as_deref(),
            Some("Hologram beamed event: level 3")
        );
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(unescape_html("a & b"), "a & b");
        assert_eq!(
            unescape_html("&bogus; &#xZZ; &#128512;"),
            "&bogus; &#xZZ; 😀"
        );
        assert_eq!(unescape_html("&amp;amp;"), "&amp;");
    }

    proptest::proptest! {
        #[test]
        fn unescape_never_panics(s in "\\PC*") {
            let _ = unescape_html(&s);
        }
    }
}
