//! A transcript as one self-contained HTML page: no scripts, no external
//! files, no links that a click would follow; it prints cleanly.
//!
//! Invariant: every piece of text from the archive (message text, names,
//! ids, URLs) goes through [`esc`] on its way into the page, after its
//! control characters and bidirectional overrides are made visible
//! ([`for_terminal`]); URLs are shown as text, never as `href`s, since an
//! export's URL may be `javascript:`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::{Line, Transcript};
use crate::sanitize::for_terminal;

/// How the page is made.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Times are shown in this zone (UTC always in their `datetime`).
    pub zone: Option<TimeZone>,
    /// Entries to mark as hits (entry ids).
    pub marked: Vec<String>,
    /// When the page was made and from which state of the archive, for
    /// its footer.
    pub made: Option<Made>,
}

/// What the footer says of the page's making: a page handed over must say
/// when it was made, from which archive state (the ledger's head: a later
/// checkpoint or record proves the archive then), and for a production,
/// which.
#[derive(Debug, Clone)]
pub struct Made {
    pub at: jiff::Timestamp,
    /// The hash of the ledger's newest record when the page was made.
    pub ledger_head: String,
    /// The production (`PROD-0003`) the page belongs to.
    pub production: Option<String>,
}

/// `s` safe as HTML text or an attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in for_terminal(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Multi-line text, escaped, its lines joined by `<br>`.
fn esc_lines(s: &str) -> String {
    s.lines().map(esc).collect::<Vec<_>>().join("<br>\n")
}

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; } h1 code { font-size: 1rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 1.5rem; font-size: .9rem; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; }
.notice { background: #fff4e5; border-left: 4px solid #e69500; padding: .5rem .75rem; margin: 0 0 1rem; }
ol.transcript { list-style: none; padding: 0; margin: 0; }
li.entry { margin: 0 0 .9rem; padding: .5rem .75rem; border-radius: 8px; background: #f2f2f5; }
li.entry.role-enduser { background: #e8f0fe; margin-right: 4rem; }
li.entry.role-agent, li.entry.role-chatbot { background: #eef7ee; margin-left: 4rem; }
li.entry.hit { outline: 3px solid #d93025; }
.who { font-weight: 600; } .who code.id { font-weight: 400; font-size: .75rem; color: #666; } .role { font-weight: 400; color: #555; font-size: .85rem; }
.when { color: #555; font-size: .8rem; float: right; }
.text { margin-top: .25rem; white-space: normal; overflow-wrap: anywhere; }
ul.carried { margin: .35rem 0 0; padding-left: 1.2rem; font-size: .85rem; } ul.carried code { overflow-wrap: anywhere; }
.versions { margin-top: .5rem; font-size: .85rem; border-top: 1px dashed #999; padding-top: .35rem; }
.versions .old { color: #444; margin: .2rem 0; }
.exports, .absent { font-size: .75rem; color: #666; margin-top: .25rem; }
li.event { text-align: center; color: #555; font-size: .8rem; margin: .9rem 2rem; padding: .25rem 0; border-top: 1px solid #ccc; border-bottom: 1px solid #ccc; }
li.event.hit { outline: 2px solid #d93025; }
footer { margin-top: 2rem; font-size: .75rem; color: #777; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; color: #000; }
  li.entry { break-inside: avoid; background: none !important; border: 1px solid #bbb; margin-left: 0; margin-right: 0; }
  li.entry.hit { outline: none; border: 2px solid #000; }
  .notice { background: none; border: 1px solid #000; }
}
";

/// The page for `t`.
pub fn render(t: &Transcript, opts: &Options) -> String {
    let mut s = String::new();
    let id = esc(&t.conversation);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"convault {}\">\n\
         <title>Conversation {id}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>Conversation <code>{id}</code></h1>\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(&header(t, opts));
    s.push_str("</header>\n<main>\n<ol class=\"transcript\">\n");
    for l in &t.entries {
        s.push_str(&entry(l, opts, &t.participants, t.absent.is_none()));
    }
    let _ = write!(
        s,
        "</ol>\n</main>\n<footer>\n<p>Transcript from a convault archive (convault {}). \
         Every entry's latest version is shown, earlier versions under it; senders are named as \
         the conversation's participant events name them, their ids beside. Times are {}.</p>\n",
        env!("CARGO_PKG_VERSION"),
        match &opts.zone {
            Some(z) => format!(
                "in {} (UTC in each time's title)",
                esc(z.iana_name().unwrap_or("the zone asked for"))
            ),
            None => "UTC".to_owned(),
        }
    );
    if let Some(m) = &opts.made {
        let _ = writeln!(
            s,
            "<p>{}Made {} from the archive whose ledger head was <code>{}</code>.</p>",
            m.production
                .as_deref()
                .map(|p| format!("Production <strong>{}</strong>. ", esc(p)))
                .unwrap_or_default(),
            esc(&crate::clock::rfc3339_ms(m.at)),
            esc(&m.ledger_head)
        );
    }
    s.push_str("</footer>\n</body>\n</html>\n");
    s
}

/// An entry type in words: `PARTICIPANT_CHANGED` as "Participant changed";
/// an unknown type, kept verbatim in the archive, likewise.
fn type_in_words(t: &str) -> String {
    let words = t.replace('_', " ").to_lowercase();
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// The conversation's description list: size, span, and what the Data
/// Export Service says of its channel, sessions, end users, participants
/// and calls.
fn header(t: &Transcript, opts: &Options) -> String {
    let mut s = String::from("<dl class=\"meta\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row("entries", t.entries.len().to_string());
    let first = t.entries.iter().find_map(|l| l.time_ms);
    let last = t.entries.iter().rev().find_map(|l| l.time_ms);
    if let (Some(a), Some(b)) = (first, last) {
        row("time", format!("{} to {}", when(a, opts), when(b, opts)));
    }
    for (kind, text) in t.context.lines(esc) {
        row(kind, text);
    }
    s.push_str("</dl>\n");
    if let Some(a) = t.absent {
        let _ = writeln!(
            s,
            "<p class=\"notice\">Deleted at the source: export {} (the latest of its kind) does not hold this conversation; export {} did. Every entry is kept here.</p>",
            a.absent_from_export, a.last_held_by_export
        );
    }
    s
}

/// A time as a person reads it, in the zone asked for (else UTC); the
/// exact UTC instant in its `datetime` and title.
fn when(ms: i64, opts: &Options) -> String {
    let utc = crate::timestamp::rfc3339(ms);
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return format!("<time>{}</time>", esc(&utc));
    };
    let zone = opts.zone.clone().unwrap_or(TimeZone::UTC);
    let shown = ts
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    format!(
        "<time datetime=\"{utc}\" title=\"{utc}\">{}</time>",
        esc(&shown)
    )
}

/// One entry: a message as a bubble, anything else as a separator.
#[allow(
    clippy::too_many_lines,
    reason = "one entry's HTML, escaped as it is written"
)]
fn entry(l: &Line, opts: &Options, names: &BTreeMap<String, String>, mark_absent: bool) -> String {
    let hit = opts.marked.contains(&l.entry);
    let role = l.role.as_deref().unwrap_or("");
    let class_role: String = role
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let hit_class = if hit { " hit" } else { "" };
    let anchor = esc(&l.entry);
    let time = l
        .time_ms
        .map_or_else(|| "(no time)".to_owned(), |ms| when(ms, opts));
    if !l.is_message {
        let text = l
            .text
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&l.entry_type);
        return format!(
            "<li class=\"event{hit_class}\" id=\"e-{anchor}\"><span>{} · {} · {time}</span></li>\n",
            esc(&type_in_words(&l.entry_type)),
            esc_lines(text),
        );
    }
    let mut s = format!("<li class=\"entry role-{class_role}{hit_class}\" id=\"e-{anchor}\">\n");
    let sender = match l.subject.as_deref() {
        None => "(unknown sender)".to_owned(),
        Some(id) => match names.get(id) {
            Some(name) => format!("{} <code class=\"id\">{}</code>", esc(name), esc(id)),
            None => esc(id),
        },
    };
    let _ = writeln!(
        s,
        "<div class=\"when\">{time}</div>\n<div class=\"who\">{sender} <span class=\"role\">{}{}</span></div>",
        esc(if role.is_empty() { "-" } else { role }),
        l.app_type
            .as_deref()
            .map(|a| format!(" · {}", esc(a)))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        s,
        "<div class=\"text\">{}</div>",
        esc_lines(l.text.as_deref().unwrap_or(""))
    );
    if !l.links.is_empty() || !l.attachments.is_empty() {
        s.push_str("<ul class=\"carried\">\n");
        for k in &l.links {
            let _ = writeln!(
                s,
                "<li>link: {}<code>{}</code></li>",
                k.title
                    .as_deref()
                    .map(|t| format!("{} — ", esc(t)))
                    .unwrap_or_default(),
                esc(&k.url)
            );
        }
        for a in &l.attachments {
            let _ = writeln!(
                s,
                "<li>attachment: {}{}{}</li>",
                esc(a.name.as_deref().unwrap_or("(no name)")),
                a.mime_type
                    .as_deref()
                    .map(|m| format!(" ({})", esc(m)))
                    .unwrap_or_default(),
                a.url
                    .as_deref()
                    .map(|u| format!(" <code>{}</code>", esc(u)))
                    .unwrap_or_default(),
            );
        }
        s.push_str("</ul>\n");
    }
    let _ = writeln!(
        s,
        "<div class=\"exports\">entry <code>{anchor}</code>, version {} of {}{}</div>",
        l.version,
        l.versions,
        exports(&l.exports)
    );
    if !l.earlier.is_empty() {
        s.push_str("<div class=\"versions\">Earlier versions:\n");
        for v in &l.earlier {
            let _ = writeln!(
                s,
                "<div class=\"old\">version {}{}: {}</div>",
                v.version,
                exports(&v.exports),
                esc_lines(v.text.as_deref().unwrap_or("(no text)"))
            );
        }
        s.push_str("</div>\n");
    }
    if let Some(a) = l.absent.filter(|_| mark_absent) {
        let _ = writeln!(
            s,
            "<div class=\"absent\">Deleted at the source: not in export {}, last in export {}.</div>",
            a.absent_from_export, a.last_held_by_export
        );
    }
    s.push_str("</li>\n");
    s
}

/// ", in exports 1, 2" (or nothing).
fn exports(ids: &[i64]) -> String {
    match ids {
        [] => String::new(),
        [one] => format!(", in export {one}"),
        many => format!(
            ", in exports {}",
            many.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_control_characters_shown() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(esc_lines("<b>\nx"), "&lt;b&gt;<br>\nx");
    }
}
