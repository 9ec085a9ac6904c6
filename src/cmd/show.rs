//! `convault show`: prints one conversation as a transcript: text, JSON or
//! a self-contained HTML page; whole, or the entries around one entry.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::transcript::{self, Transcript, html};

/// The forms of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowFormat {
    /// One line per entry, for a terminal.
    #[default]
    Text,
    /// Every field, for programs.
    Json,
    /// One self-contained page to read, print or hand over.
    Html,
}

/// The arguments of `convault show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Text (default), json or html
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<ShowFormat>,
    /// The same as --format json
    #[arg(long)]
    pub json: bool,
    /// Write to this file instead of stdout (it must not exist)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also give times in this time zone (an IANA name, e.g.
    /// Europe/Paris); times are always given in UTC
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Only the entries around this one (an entry id): see --context
    #[arg(long, value_name = "ENTRY")]
    pub around: Option<String>,
    /// With --around, this many entries either side
    #[arg(long, value_name = "N", default_value_t = 5, requires = "around")]
    pub context: usize,
    /// The conversation identifier
    #[arg(value_name = "CONVERSATION")]
    pub conversation: String,
}

/// How `show` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: ShowFormat,
    /// `--out`: a new file instead of stdout.
    pub out: Option<PathBuf>,
    /// `--tz`: times in this zone too.
    pub tz: Option<String>,
    /// `--around ENTRY --context N`.
    pub around: Option<(String, usize)>,
}

/// Runs `convault show`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        format,
        json,
        out,
        tz,
        around,
        context,
        conversation,
    } = args;
    let opts = Options {
        format: if json {
            ShowFormat::Json
        } else {
            format.unwrap_or_default()
        },
        out,
        tz,
        around: around.map(|entry| (entry, context)),
    };
    show(archive, &conversation, opts)
}

/// Prints `conversation` as `opts` say.
fn show(archive: &Archive, conversation: &str, opts: Options) -> Result<ExitCode> {
    let zone = opts.tz.as_deref().map(super::search::zone).transpose()?;
    // Refused before any work: the file asked for must be new, and
    // outside the archive.
    if let Some(path) = &opts.out {
        archive.check_out(path)?;
    }
    let conn = archive
        .open_read_only()
        .with_context(|| format!("show {}", archive.root().display()))?;
    let mut t = transcript::read(&conn, conversation)?;
    let mut marked = Vec::new();
    if let Some((entry, n)) = &opts.around {
        t.entries = transcript::window(&t, entry, *n)?.to_vec();
        marked.push(entry.clone());
    }
    let text = match opts.format {
        ShowFormat::Json => {
            let mut s = serde_json::to_string_pretty(&t)?;
            s.push('\n');
            s
        }
        ShowFormat::Text => render(&t, zone.as_ref()),
        ShowFormat::Html => {
            // The page says when it was made, and from which archive state.
            let made = html::Made {
                at: crate::clock::now()?,
                ledger_head: crate::ledger::head_hash(&conn)?
                    .unwrap_or_else(|| crate::ledger::GENESIS.to_owned()),
                production: None,
            };
            html::render(
                &t,
                &html::Options {
                    zone,
                    marked,
                    made: Some(made),
                },
            )
        }
    };
    match &opts.out {
        None => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Some(path) => archive.write_out(path, text.as_bytes())?,
    }
    Ok(ExitCode::Ok)
}

/// The transcript as text: one line per entry, continuation lines indented;
/// times in UTC, or in `zone` with its offset.
pub fn render(t: &Transcript, zone: Option<&jiff::tz::TimeZone>) -> String {
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
        let local = zone.and_then(|z| {
            let ms = l.time_ms?;
            let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
            Some(
                ts.to_zoned_datetime(z.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string(),
            )
        });
        let time = local
            .as_deref()
            .or(l.time.as_deref())
            .unwrap_or("(no time)               ");
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
    c.lines(|x| for_terminal(x).into_owned())
        .into_iter()
        .map(|(label, text)| format!("{label:<13} {text}\n"))
        .collect()
}
