//! Text from outside (a server's error record, a component's log line) made
//! safe for the operator's log and terminal.
//!
//! Such text may hold CR/LF (which would let it write whole forged log lines,
//! audit lines included), ESC and other control characters (terminal escape
//! sequences), Unicode bidirectional overrides (text that reads differently
//! than it is), or megabytes in one line. [`for_log`] keeps it to one visible
//! line of bounded size: every control or formatting character is written as
//! a visible escape (`\n`, `\r`, `\t`, `\u{1b}`), and anything past the cap is
//! cut with a note of how much was dropped. Printable text, non-ASCII letters
//! included, is kept as it is.

use std::fmt::Write as _;

/// The default cap for one untrusted text in a log line or an error: enough
/// for any real Exchange error message (they are a few hundred characters).
pub const DEFAULT_CAP: usize = 4096;

/// `text` as one log-safe line of at most `cap` characters of the original
/// (escapes count as the characters they replace), then `… [N more bytes]`.
pub fn for_log(text: &str, cap: usize) -> String {
    let mut out = String::with_capacity(text.len().min(cap) + 16);
    let mut kept_bytes = 0usize;
    for (count, c) in text.chars().enumerate() {
        if count >= cap {
            let dropped = text.len() - kept_bytes;
            let _ = write!(out, "… [{dropped} more bytes]");
            return out;
        }
        push_visible(&mut out, c);
        kept_bytes += c.len_utf8();
    }
    out
}

/// [`for_log`] with [`DEFAULT_CAP`].
pub fn line(text: &str) -> String {
    for_log(text, DEFAULT_CAP)
}

/// Whether `c` must not reach a log or a terminal as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Line and paragraph separators end a line in some viewers.
        || c == '\u{2028}'
        || c == '\u{2029}'
        // Bidirectional embeddings, overrides and isolates (Trojan Source).
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        // Zero-width and BOM: invisible text that changes what is matched.
        || ('\u{200b}'..='\u{200f}').contains(&c)
        || c == '\u{feff}'
        // Other invisible format characters: soft hyphen, Arabic letter
        // mark, Mongolian vowel separator, word joiner and invisible
        // operators, interlinear annotation marks, tags, and the Hangul
        // fillers that render as blanks.
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
                | '\u{3164}'
                | '\u{115f}'
        )
}

fn push_visible(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        // A backslash is doubled so that an escape in the output is always
        // ours: `\n` in the log never came from the text as two characters.
        '\\' => out.push_str("\\\\"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept() {
        assert_eq!(
            line("Mailbox 'Zoë Müller' not found."),
            "Mailbox 'Zoë Müller' not found."
        );
    }

    #[test]
    fn line_breaks_cannot_forge_a_line() {
        let forged = "x\r\n2026-12-02T00:00:00Z  INFO export done";
        let shown = line(forged);
        assert!(!shown.contains('\n') && !shown.contains('\r'));
        assert_eq!(shown, "x\\r\\n2026-12-02T00:00:00Z  INFO export done");
    }

    #[test]
    fn escape_sequences_and_bidi_are_visible() {
        assert_eq!(line("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(line("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(line("\u{0}\u{7f}\u{85}"), "\\u{0}\\u{7f}\\u{85}");
        for c in [
            '\u{ad}',
            '\u{61c}',
            '\u{180e}',
            '\u{2060}',
            '\u{2064}',
            '\u{fff9}',
            '\u{fffb}',
            '\u{e0000}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{3164}',
            '\u{115f}',
        ] {
            let shown = line(&format!("a{c}b"));
            assert_eq!(shown, format!("a\\u{{{:x}}}b", c as u32));
        }
        // Neighbours of those ranges stay as they are.
        assert_eq!(
            line("\u{2065}\u{fffc}\u{e0080}"),
            "\u{2065}\u{fffc}\u{e0080}"
        );
        // An escape in the output is always ours.
        assert_eq!(line("\\n"), "\\\\n");
    }

    #[test]
    fn long_text_is_cut_with_a_count() {
        let big = "é".repeat(10_000);
        let shown = for_log(&big, 100);
        assert!(shown.starts_with(&"é".repeat(100)));
        assert!(shown.ends_with("… [19800 more bytes]"), "{shown}");
        assert_eq!(for_log("abc", 3), "abc");
        assert_eq!(for_log("abcd", 3), "abc… [1 more bytes]");
    }
}
