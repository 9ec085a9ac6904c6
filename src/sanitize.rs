//! Making untrusted text safe to print on a terminal.
//!
//! Names and message text come from exports we do not control. Before they
//! reach a terminal, control characters (C0, DEL, C1) and the Unicode
//! bidirectional overrides that can disguise text are replaced by visible
//! escapes. Right-to-left letters themselves are left alone. JSON output is
//! not sanitised: it is data, and JSON escapes control characters itself.

use std::borrow::Cow;

/// `s` with every control character shown as `\u{XX}`.
///
/// Newlines are escaped too: callers that print multi-line text split it
/// first and sanitise each line.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            out.push(' ');
        } else if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
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
