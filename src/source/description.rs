//! The short text file Salesforce ships beside an export's data
//! (`export-info.txt` in the transcript export): a title line, then
//! `Key: value` lines, no rows. Recognised by its content, like every
//! member, and kept as the export's description instead of being
//! quarantined as an unrecognised CSV.

/// The shape of such a member (`members.shape`).
pub const SHAPE: &str = "export-description";

/// The most bytes a description may take: it is a few lines.
pub const MAX_BYTES: usize = 16 * 1024;

/// At most this many lines.
const MAX_LINES: usize = 64;

/// Whether `bytes` (the whole member) is such a description: UTF-8 text
/// of at most [`MAX_BYTES`] and `MAX_LINES` lines, whose first line is a
/// title (no comma, tab or semicolon: not a CSV header) and whose every
/// other non-empty line is `Key: value`, the key a few words.
pub fn is_description(bytes: &[u8]) -> bool {
    if bytes.len() > MAX_BYTES {
        return false;
    }
    let Ok(text) = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)) else {
        return false;
    };
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(title) = lines.next() else {
        return false;
    };
    if title.contains([',', '\t', ';', '"']) || title.chars().any(char::is_control) {
        return false;
    }
    let mut n = 1;
    for line in lines {
        n += 1;
        let Some((key, _)) = line.split_once(": ") else {
            return false;
        };
        let key_ok = !key.is_empty()
            && key.len() <= 40
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
        if !key_ok || n > MAX_LINES || line.chars().any(char::is_control) {
            return false;
        }
    }
    // A title alone could be any one-line note: a description says
    // something about the export.
    n > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcript_exports_info_file_is_a_description() {
        assert!(is_description(
            b"Conversation Transcript Export\nOrg: 00DKj0000000001\nRequested by: compliance@example.com\n"
        ));
        assert!(is_description(
            b"\xef\xbb\xbfExport\r\nOrg: 00D\r\n\r\nRows: 12\r\n"
        ));
    }

    #[test]
    fn csv_headers_rows_and_prose_are_not() {
        // A CSV header (even of one column with a colon), a README, a
        // lone line, binary and very long files.
        assert!(!is_description(b"id,text\n1,hello\n"));
        assert!(!is_description(
            b"# convault\n\nconvault turns Salesforce's exports into an archive.\n"
        ));
        assert!(!is_description(b"Conversation Transcript Export\n"));
        assert!(!is_description(b"Title\nKey: v\0x\n"));
        let mut long = b"Title\n".to_vec();
        long.extend(std::iter::repeat_n(b"Key: value\n".as_slice(), 2000).flatten());
        assert!(!is_description(&long));
    }
}
