//! `convault search`: prints hits (newest first by default), their number,
//! or the conversations they fall in, as a table, JSON, NDJSON or CSV.

use std::io::{self, Write};

use anyhow::{Context, Result};
use serde::Serialize;

use super::print_json;
use crate::archive::Archive;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::search::{self, ConversationHits, Hit, Page, Sort, Span, highlight};
use crate::transcript;

/// When the table highlights matches with colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Color {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether matches are coloured now.
    pub fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::IsTerminal::is_terminal(&std::io::stdout())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// The arguments of `convault search`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array on stdout
    #[arg(long, group = "format")]
    pub json: bool,
    /// Print one JSON object per line
    #[arg(long, group = "format")]
    pub ndjson: bool,
    /// Print CSV (RFC 4180, a header row, the fields of --json)
    #[arg(long, group = "format")]
    pub csv: bool,
    /// The order of hits: newest (default), oldest, or relevance (the
    /// best match of the words first)
    #[arg(long, value_enum, default_value_t = Sort::Newest, value_name = "ORDER")]
    pub sort: Sort,
    /// Show at most this many hits (or conversations)
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: u32,
    /// Skip this many hits (or conversations) first, for the next page
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: u64,
    /// Print only the number of matching entries (with
    /// --conversations, of conversations)
    #[arg(long, conflicts_with_all = ["ndjson", "csv", "offset", "limit", "show", "sort"])]
    pub count: bool,
    /// One line per conversation: its hits, first and last hit time,
    /// channel
    #[arg(long)]
    pub conversations: bool,
    /// Under each hit, the entries around it in its conversation
    /// (--context N either side)
    #[arg(long, conflicts_with_all = ["json", "ndjson", "csv", "conversations"])]
    pub show: bool,
    /// With --show, this many entries either side of each hit
    #[arg(long, value_name = "N", default_value_t = 2, requires = "show")]
    pub context: usize,
    /// Colour the matches: auto (on a terminal, unless NO_COLOR is
    /// set), always, never
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,
    /// Read dates in after: and before: as days in this time zone
    /// (an IANA name, e.g. Europe/Paris) instead of UTC
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Pass the query to SQLite's FTS5 as its own syntax (for experts:
    /// no fields, FTS5's operators and column filters)
    #[arg(long, conflicts_with = "tz")]
    pub raw: bool,
    /// With --csv: a cell starting with = + - @ (a formula to Excel)
    /// gets a leading ', so the file is safe to open in a spreadsheet.
    /// Off by default: the CSV holds every text exactly
    #[arg(long, requires = "csv")]
    pub excel_safe: bool,
    /// The query: words, operators and fields (key:value); a word may
    /// start with '-' (refund -card)
    #[arg(required = true, value_name = "QUERY")]
    pub words: Vec<String>,
}

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON array (an object for a count).
    Json,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180, a header row, every field of the JSON.
    Csv,
}

/// How `search` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub page: Page,
    pub format: Format,
    /// `--count`: only the number of hits (or of conversations).
    pub count: bool,
    /// `--conversations`: one line per conversation.
    pub conversations: bool,
    /// `--show --context N`: under each hit, N entries either side of it.
    pub show: Option<usize>,
    /// `--tz`: the zone dates are read in.
    pub tz: Option<String>,
    /// `--raw`: FTS5's own syntax.
    pub raw: bool,
    /// `--excel-safe`: CSV cells that a spreadsheet would take for a
    /// formula are prefixed with `'`.
    pub excel_safe: bool,
    pub color: Color,
}

/// Runs `convault search`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        json,
        ndjson,
        csv,
        sort,
        limit,
        offset,
        count,
        conversations,
        show,
        context,
        color,
        tz,
        raw,
        excel_safe,
        words,
    } = args;
    let opts = Options {
        page: crate::search::Page {
            sort,
            limit,
            offset,
        },
        format: match (json, ndjson, csv) {
            (true, _, _) => Format::Json,
            (_, true, _) => Format::Ndjson,
            (_, _, true) => Format::Csv,
            _ => Format::Table,
        },
        count,
        conversations,
        show: show.then_some(context),
        tz,
        raw,
        excel_safe,
        color,
    };
    search(archive, &words, opts)
}

/// Searches `words` as `opts` say.
fn search(archive: &Archive, words: &[String], opts: Options) -> Result<ExitCode> {
    // The query is checked before the archive is opened: a wrong query is
    // a usage error whether or not the archive exists.
    let query = if opts.raw {
        search::Query::raw(words)?
    } else {
        let mut clock = search::fields::Clock::default();
        if let Some(tz) = &opts.tz {
            clock.zone = zone(tz)?;
        }
        search::Query::parse_with(words, clock)?
    };
    if opts.page.sort == Sort::Relevance && query.fts.is_none() && !opts.conversations {
        return Err(search::hits::relevance_needs_words().into());
    }
    let conn = archive
        .open_read_only()
        .with_context(|| format!("search {}", archive.root().display()))?;
    // Buffered: stdout alone is line-buffered, a write per line.
    let mut out = io::BufWriter::new(io::stdout().lock());
    if opts.count {
        let (what, n) = if opts.conversations {
            ("conversations", search::count_conversations(&conn, &query))
        } else {
            ("entries", search::count(&conn, &query))
        };
        let n = n.context("search --count")?;
        if opts.format == Format::Json {
            drop(out);
            print_json(&serde_json::json!({ what: n }))?;
        } else {
            writeln!(out, "{n}")?;
        }
        return Ok(ExitCode::Ok);
    }
    let shown = if opts.conversations {
        let list = search::conversations(&conn, &query, opts.page).context("search")?;
        write_conversations(&mut out, &list, opts.format)?;
        list.len()
    } else {
        let hits = search::search(&conn, &query, opts.page).context("search")?;
        match opts.format {
            Format::Table => {
                if hits.is_empty() {
                    eprintln!("no entries match");
                }
                let colour = opts.color.enabled();
                let window = opts.show.map(|n| (n, &conn));
                write_table(&mut out, &hits, colour, window)?;
            }
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, &hits)?;
                writeln!(out)?;
            }
            Format::Ndjson => write_ndjson(&mut out, &hits)?,
            Format::Csv => write_csv(&mut out, &hits, opts.excel_safe)?,
        }
        hits.len()
    };
    out.flush()?;
    // A full page may not be all: say how many there are (counted only
    // then), so a page is never taken for the whole answer. The count is
    // bounded: at 15.7M versions a common word takes about 125 ms, a
    // `substr:` or field-only query scans; past the bound, "more than".
    if shown > 0 && shown as u64 == u64::from(opts.page.limit) {
        let through = opts.page.offset + shown as u64;
        let range = if opts.page.offset == 0 {
            shown.to_string()
        } else {
            format!("{}-{through}", opts.page.offset + 1)
        };
        match bounded(&conn, COUNT_BUDGET, || {
            if opts.conversations {
                search::count_conversations(&conn, &query)
            } else {
                search::count(&conn, &query)
            }
        })
        .context("search: count the hits")?
        {
            Some(total) if total > through => {
                eprintln!("{range} of {total} shown; --limit/--offset for more");
            }
            Some(_) => {}
            None => eprintln!(
                "{range} of more than {through} shown (too many to count in {} ms; --count counts them); --limit/--offset for more",
                COUNT_BUDGET.as_millis()
            ),
        }
    }
    Ok(ExitCode::Ok)
}

/// How long the count behind "N of M shown" may take.
const COUNT_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);

/// Runs `f` on `conn`, interrupting it after `budget`: `None` when it was
/// interrupted.
fn bounded<T>(
    conn: &rusqlite::Connection,
    budget: std::time::Duration,
    f: impl FnOnce() -> crate::Result<T>,
) -> crate::Result<Option<T>> {
    let handle = conn.get_interrupt_handle();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if wait.recv_timeout(budget).is_err() {
            handle.interrupt();
        }
    });
    let out = f();
    let _ = done.send(());
    let _ = timer.join();
    match out {
        Ok(v) => Ok(Some(v)),
        Err(Error::Db(e))
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The IANA zone `name`, or a usage error naming it.
pub fn zone(name: &str) -> Result<jiff::tz::TimeZone, Error> {
    jiff::tz::TimeZone::get(name).map_err(|e| {
        Error::Usage(format!(
            "--tz {}: not a known time zone ({e}); give an IANA name such as Europe/Paris or UTC",
            for_terminal(name)
        ))
    })
}

/// The terminal's colour for matches (bold red, as grep and ripgrep).
const MATCH_ON: &str = "\x1b[1;31m";
const MATCH_OFF: &str = "\x1b[0m";

/// Hits as aligned columns: time, conversation, role, version ("2 of 3"
/// when later versions exist), and the text around the first match, with
/// the matches coloured when `colour`. Without colour, the text is printed
/// as it is: no markup that could be read as part of it. With `window`,
/// each hit's conversation follows, `n` entries either side of it.
fn write_table(
    out: &mut impl Write,
    hits: &[Hit],
    colour: bool,
    window: Option<(usize, &rusqlite::Connection)>,
) -> Result<()> {
    if hits.is_empty() {
        return Ok(());
    }
    let roles: Vec<String> = hits
        .iter()
        .map(|h| for_terminal(h.role.as_deref().unwrap_or("-")).into_owned())
        .collect();
    let role_w = roles
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let conv_w = hits
        .iter()
        .map(|h| for_terminal(&h.conversation).chars().count())
        .max()
        .unwrap_or(12)
        .max(12);
    let time_w = hits
        .iter()
        .map(|h| h.time.as_deref().map_or(9, str::len))
        .max()
        .unwrap_or(20);
    writeln!(
        out,
        "{:<time_w$}  {:<conv_w$}  {:<role_w$}  {:<7}  TEXT",
        "TIME", "CONVERSATION", "ROLE", "VERSION"
    )?;
    let mut read: Option<transcript::Transcript> = None;
    for (h, role) in hits.iter().zip(&roles) {
        let version = if h.latest_version > h.version {
            format!("{} of {}", h.version, h.latest_version)
        } else {
            h.version.to_string()
        };
        let (snippet, spans) = highlight::snippet(&h.text, &h.matches, highlight::SNIPPET_CHARS);
        let text = if h.text.is_empty() {
            for_terminal(&h.entry_type).into_owned()
        } else {
            marked(&snippet, &spans, colour)
        };
        writeln!(
            out,
            "{:<time_w$}  {:<conv_w$}  {role:<role_w$}  {version:<7}  {text}",
            h.time.as_deref().unwrap_or("(no time)"),
            for_terminal(&h.conversation),
        )?;
        if let Some((n, conn)) = window {
            // Hits often share a conversation: each is read once.
            if read
                .as_ref()
                .is_none_or(|t| t.conversation != h.conversation)
            {
                read = Some(transcript::read(conn, &h.conversation)?);
            }
            if let Some(t) = &read {
                write_window(out, t, h, n)?;
            }
        }
    }
    Ok(())
}

/// `text` made safe for a terminal, its `spans` coloured when `colour`.
fn marked(text: &str, spans: &[Span], colour: bool) -> String {
    if !colour || spans.is_empty() {
        return for_terminal(text).into_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    for s in spans {
        let (start, end) = (s.start.max(at).min(chars.len()), s.end.min(chars.len()));
        if start >= end {
            continue;
        }
        let before: String = chars[at..start].iter().collect();
        let inside: String = chars[start..end].iter().collect();
        out.push_str(&for_terminal(&before));
        out.push_str(MATCH_ON);
        out.push_str(&for_terminal(&inside));
        out.push_str(MATCH_OFF);
        at = end;
    }
    let rest: String = chars[at..].iter().collect();
    out.push_str(&for_terminal(&rest));
    out
}

/// The hit's conversation, `n` entries either side of it, indented under
/// the hit; the hit's own entry marked `>`.
fn write_window(
    out: &mut impl Write,
    t: &transcript::Transcript,
    hit: &Hit,
    n: usize,
) -> Result<()> {
    let lines = transcript::window(t, &hit.entry, n)?;
    for l in lines {
        let mark = if l.entry == hit.entry { ">" } else { " " };
        let text = l.text.as_deref().unwrap_or(&l.entry_type);
        let first = text.lines().next().unwrap_or("");
        writeln!(
            out,
            "    {mark} {:<24}  {:<10}  {}",
            l.time.as_deref().unwrap_or("(no time)"),
            for_terminal(l.role.as_deref().unwrap_or("-")),
            for_terminal(first),
        )?;
    }
    writeln!(out)?;
    Ok(())
}

fn write_ndjson(out: &mut impl Write, items: &[impl Serialize]) -> Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        writeln!(out)?;
    }
    Ok(())
}

/// The CSV columns of a hit, the JSON's field names in its order.
pub const CSV_HEADER: [&str; 17] = [
    "conversation",
    "entry",
    "version",
    "latest_version",
    "superseded",
    "time",
    "time_ms",
    "role",
    "sender",
    "entry_type",
    "export",
    "member",
    "line",
    "content_hash",
    "text",
    "matches",
    "snippet",
];

/// Hits as RFC 4180 CSV. A missing value is an empty field; `matches` is
/// `start-end` pairs separated by spaces (`3-9 20-26`).
fn write_csv(out: &mut impl Write, hits: &[Hit], excel_safe: bool) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(CSV_HEADER)?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for h in hits {
        let matches = h
            .matches
            .iter()
            .map(|m| format!("{}-{}", m.start, m.end))
            .collect::<Vec<_>>()
            .join(" ");
        let row = [
            h.conversation.clone(),
            h.entry.clone(),
            h.version.to_string(),
            h.latest_version.to_string(),
            h.superseded.to_string(),
            opt(&h.time),
            num(h.time_ms),
            opt(&h.role),
            opt(&h.sender),
            h.entry_type.clone(),
            h.export.to_string(),
            opt(&h.member),
            num(h.line),
            h.content_hash.clone(),
            h.text.clone(),
            matches,
            h.snippet.clone(),
        ];
        if excel_safe {
            w.write_record(
                row.iter()
                    .map(|c| crate::sanitize::spreadsheet_safe(c).into_owned()),
            )?;
        } else {
            w.write_record(&row)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// `--conversations` in `format`.
fn write_conversations(
    out: &mut impl Write,
    list: &[ConversationHits],
    format: Format,
) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &list)?;
            writeln!(out)?;
        }
        Format::Ndjson => write_ndjson(out, list)?,
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out);
            w.write_record(["conversation", "hits", "first_hit", "last_hit", "channel"])?;
            for c in list {
                w.write_record([
                    c.conversation.clone(),
                    c.hits.to_string(),
                    c.first_hit.clone().unwrap_or_default(),
                    c.last_hit.clone().unwrap_or_default(),
                    c.channel.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            if list.is_empty() {
                eprintln!("no conversations match");
                return Ok(());
            }
            let w = list
                .iter()
                .map(|c| for_terminal(&c.conversation).chars().count())
                .max()
                .unwrap_or(12)
                .max(12);
            let t = list
                .iter()
                .flat_map(|c| [&c.first_hit, &c.last_hit])
                .map(|t| t.as_deref().map_or(9, str::len))
                .max()
                .unwrap_or(9);
            writeln!(
                out,
                "{:<w$}  {:>6}  {:<t$}  {:<t$}  CHANNEL",
                "CONVERSATION", "HITS", "FIRST HIT", "LAST HIT"
            )?;
            for c in list {
                writeln!(
                    out,
                    "{:<w$}  {:>6}  {:<t$}  {:<t$}  {}",
                    for_terminal(&c.conversation),
                    c.hits,
                    c.first_hit.as_deref().unwrap_or("(no time)"),
                    c.last_hit.as_deref().unwrap_or("(no time)"),
                    for_terminal(c.channel.as_deref().unwrap_or("-")),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_surrounds_matches_and_sanitises_inside_and_out() {
        let spans = [Span { start: 2, end: 8 }];
        assert_eq!(
            marked("a refund\u{7}", &spans, true),
            format!("a {MATCH_ON}refund{MATCH_OFF}\\u{{7}}")
        );
        assert_eq!(marked("a refund", &spans, false), "a refund");
        assert_eq!(
            marked("a \u{1b}efund", &spans, true),
            format!("a {MATCH_ON}\\u{{1b}}efund{MATCH_OFF}")
        );
    }
}
