//! Making untrusted text safe to print on a terminal.
//!
//! Names and message text come from exports we do not control. Before they
//! reach a terminal (or an HTML page, `transcript::html::esc`), control
//! characters (C0, DEL, C1), the Unicode bidirectional controls that can
//! disguise text, and the invisible characters that can hide or split it
//! (zero-width spaces and joiners, the word joiner, the byte order mark,
//! the soft hyphen, tag characters, Hangul fillers, line and paragraph
//! separators) are replaced by visible escapes. A zero-width joiner
//! between two emoji is left alone: it makes one emoji of them (👩‍💻).
//! Right-to-left letters themselves are left alone. JSON output is
//! not sanitised: it is data, and JSON escapes control characters itself.

use std::borrow::Cow;

/// `s` with every control character shown as `\u{XX}`.
///
/// Newlines are escaped too: callers that print multi-line text split it
/// first and sanitise each line.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == ZWJ) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\t' {
            out.push(' ');
        } else if is_unsafe(c)
            || (c == ZWJ
                && !(prev.is_some_and(is_emoji) && chars.peek().is_some_and(|&n| is_emoji(n))))
        {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    Cow::Owned(out)
}

/// Whether `for_terminal` may escape `c` (a zero-width joiner is, unless
/// it joins two emoji): text holding none prints as itself.
pub fn is_hidden(c: char) -> bool {
    is_unsafe(c) || c == ZWJ || c == '\t'
}

/// The zero-width joiner: hidden, except inside an emoji sequence.
const ZWJ: char = '\u{200d}';

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional controls.
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                // Invisible: zero-width space and non-joiner, word joiner
                // and invisible operators, byte order mark, soft hyphen,
                // Mongolian vowel separator, combining grapheme joiner.
                | '\u{200b}'
                | '\u{200c}'
                | '\u{2060}'..='\u{2064}'
                | '\u{feff}'
                | '\u{00ad}'
                | '\u{180e}'
                | '\u{034f}'
                // Tag characters.
                | '\u{e0000}'..='\u{e007f}'
                // Hangul fillers, which render as blanks.
                | '\u{115f}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{ffa0}'
                // Line and paragraph separators.
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// A character an emoji sequence joins: pictographs, their variation
/// selector and skin tones.
fn is_emoji(c: char) -> bool {
    matches!(
        c,
        '\u{1f000}'..='\u{1faff}' | '\u{2600}'..='\u{27bf}' | '\u{2b00}'..='\u{2bff}' | '\u{fe0f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(for_terminal("héllo مرحبا 👋"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_are_made_visible() {
        assert_eq!(for_terminal("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(for_terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(for_terminal("a\nb\u{85}"), "a\\u{a}b\\u{85}");
        assert_eq!(for_terminal("a\tb"), "a b");
    }

    #[test]
    fn invisible_characters_are_made_visible_but_emoji_stay_whole() {
        for c in [
            '\u{061c}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{3164}',
            '\u{2028}',
            '\u{2029}',
        ] {
            let s = format!("pay{c}ment");
            assert_eq!(
                for_terminal(&s),
                format!("pay\\u{{{:x}}}ment", c as u32),
                "U+{:04X}",
                c as u32
            );
        }
        // Woman technologist, family, rainbow flag: joined emoji.
        for emoji in [
            "👩\u{200d}💻",
            "👨\u{200d}👩\u{200d}👧",
            "🏳\u{fe0f}\u{200d}🌈",
        ] {
            assert_eq!(for_terminal(emoji), emoji);
        }
        // A joiner at an edge, or beside a letter, is shown.
        assert_eq!(for_terminal("👩\u{200d}"), "👩\\u{200d}");
        assert_eq!(for_terminal("a\u{200d}💻"), "a\\u{200d}💻");
    }
}

/// `cell` made safe to open in a spreadsheet (`--excel-safe`): a cell that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
/// to Excel, LibreOffice and Google Sheets, which a hostile message could
/// use (CSV injection); such a cell gets a leading `'`, which the
/// spreadsheet shows as text. Off by default: the CSV then holds every
/// text exactly as archived.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod spreadsheet_tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_become_text_and_the_rest_is_untouched() {
        for (given, shown) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1 555", "'+1 555"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("refund = 2", "refund = 2"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(given), shown);
        }
    }
}
