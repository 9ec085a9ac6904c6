//! `convault show`: prints one conversation as a transcript.

use std::io::{self, Write};

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::transcript::{self, Transcript};

pub fn run(archive: &Archive, conversation: &str, json: bool) -> Result<ExitCode> {
    let conn = archive
        .open_read_only()
        .with_context(|| format!("show {}", archive.root().display()))?;
    let t = transcript::read(&conn, conversation)?;
    if json {
        print_json(&t)?;
    } else {
        let mut out = io::stdout().lock();
        out.write_all(render(&t).as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::Ok)
}

/// The transcript as text: one line per entry, continuation lines indented.
pub fn render(t: &Transcript) -> String {
    let mut s = format!("conversation {}", for_terminal(&t.conversation));
    let first = t.entries.iter().find_map(|l| l.time.as_deref());
    let last = t.entries.iter().rev().find_map(|l| l.time.as_deref());
    s.push_str(&format!(" — {} entries", t.entries.len()));
    if let (Some(a), Some(b)) = (first, last) {
        s.push_str(&format!(", {a} to {b}"));
    }
    s.push('\n');
    if let Some(a) = t.absent {
        s.push_str(&format!(
            "deleted at the source: export {} (the latest of its kind) does not hold this conversation; export {} did. Every entry is kept here.\n",
            a.absent_from_export, a.last_held_by_export
        ));
    }
    s.push_str(&render_context(&t.context));
    let role_width = t
        .entries
        .iter()
        .map(|l| l.role.as_deref().map_or(1, |r| r.chars().count()))
        .max()
        .unwrap_or(1)
        .min(12);
    for l in &t.entries {
        let time = l.time.as_deref().unwrap_or("(no time)               ");
        let role = for_terminal(l.role.as_deref().unwrap_or("-")).into_owned();
        let text = l.text.as_deref().unwrap_or("");
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("");
        let marker = if l.is_message { "" } else { "* " };
        let mut edited = if l.versions > 1 {
            format!(
                "  [edited: version {} of {}, earlier versions archived]",
                l.version, l.versions
            )
        } else {
            String::new()
        };
        if let Some(a) = l.absent.filter(|_| t.absent.is_none()) {
            edited.push_str(&format!(
                "  [deleted at the source: not in export {}, last in export {}]",
                a.absent_from_export, a.last_held_by_export
            ));
        }
        let head = if l.is_message || !head.is_empty() {
            head.to_owned()
        } else {
            l.entry_type.clone()
        };
        s.push_str(&format!(
            "{time}  {role:<role_width$}  {marker}{}{edited}\n",
            for_terminal(&head)
        ));
        let indent = " ".repeat(time.chars().count() + role_width + 4 + marker.len());
        for more in lines {
            s.push_str(&format!("{indent}{}\n", for_terminal(more)));
        }
    }
    s
}

/// The Data Export Service's view of the conversation, above the
/// transcript: one line per record.
fn render_context(c: &transcript::Context) -> String {
    let field = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(|x| for_terminal(x).into_owned())
    };
    let join = |v: &serde_json::Value, parts: &[(&str, &str)]| {
        parts
            .iter()
            .filter_map(|(label, k)| field(v, k).map(|x| format!("{label}{x}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    let mut line = |label: &str, text: String| s.push_str(&format!("{label:<13} {text}\n"));
    for v in &c.channels {
        line(
            "channel",
            join(
                v,
                &[
                    ("", "MasterLabel"),
                    ("", "DeveloperName"),
                    ("type ", "MessageType"),
                    ("", "Id"),
                ],
            ),
        );
    }
    for v in &c.sessions {
        line(
            "session",
            join(
                v,
                &[
                    ("", "Id"),
                    ("status ", "Status"),
                    ("case ", "CaseId"),
                    ("owner ", "OwnerId"),
                    ("channel ", "ChannelName"),
                    ("from ", "StartTime"),
                    ("to ", "EndTime"),
                ],
            ),
        );
    }
    for v in &c.end_users {
        line(
            "end user",
            join(
                v,
                &[
                    ("", "Name"),
                    ("platform key ", "MessagingPlatformKey"),
                    ("contact ", "ContactId"),
                    ("", "Id"),
                ],
            ),
        );
    }
    for v in &c.participants {
        line(
            "participant",
            join(
                v,
                &[
                    ("", "Name"),
                    ("", "ParticipantRole"),
                    ("", "ParticipantEntityId"),
                    ("joined ", "JoinedTime"),
                    ("left ", "LeftTime"),
                ],
            ),
        );
    }
    for v in &c.voice_calls {
        line(
            "voice call",
            join(
                v,
                &[
                    ("", "Id"),
                    ("from ", "FromPhoneNumber"),
                    ("to ", "ToPhoneNumber"),
                    ("", "CallType"),
                    ("start ", "CallStartDateTime"),
                ],
            ),
        );
    }
    s
}
