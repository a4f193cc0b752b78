//! What lmstore writes of text it did not write itself (names from a database, paths,
//! a file's contents quoted in a message): control characters and the invisible ones
//! that reorder or hide what follows (a bidirectional override such as U+202E, a
//! zero-width space) are written as escapes, so a hostile name can neither drive the
//! terminal nor read other than it is.

use std::borrow::Cow;

/// Whether a terminal would act on `c` or draw it as nothing: control characters;
/// Unicode's format characters (general category Cf: bidirectional marks, overrides
/// and isolates, zero-width space, word joiner, byte order mark, tags); the line and
/// paragraph separators; and the other default-ignorable characters that draw as
/// nothing (the combining grapheme joiner, Hangul fillers, variation selectors but
/// the two that choose text or emoji presentation).
///
/// The zero-width joiner and non-joiner are not among them: they join emoji
/// sequences and letters in Persian or Indic names, and show as what they join.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'
                | '\u{200e}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0d}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// `cell` with each [`is_hidden`] character written as its Rust escape (`\n`,
/// `\u{1b}`, `\u{202e}`).
pub fn escape_controls(cell: &str) -> String {
    escape_where(cell, is_text_candidate, is_hidden, push_rust_escape).into_owned()
}

/// [`escape_controls`] of text whose line breaks are its own (a message, a block
/// of output), which stay as they are.
pub fn escape_but_line_breaks(text: &str) -> Cow<'_, str> {
    escape_where(text, is_text_candidate, |c| c != '\n' && is_hidden(c), push_rust_escape)
}

/// A JSON document serde_json wrote with the [`is_hidden`] characters it leaves as
/// they are (it escapes only those below U+0020) written as JSON escapes (`\u202e`):
/// the same document to a program, nothing for a terminal to act on.
pub fn json_safe(text: &str) -> Cow<'_, str> {
    escape_where(
        text,
        |b| b >= 0x7f,
        |c| c != '\n' && is_hidden(c),
        |c, out| {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        },
    )
}

/// The bytes of text where an [`is_hidden`] character may begin: ASCII controls and
/// every byte past ASCII.
fn is_text_candidate(b: u8) -> bool {
    !(0x20..0x7f).contains(&b)
}

fn push_rust_escape(c: char, out: &mut String) {
    out.extend(c.escape_default());
}

/// `text` with each character `hidden` picks written by `escape`. Only characters
/// that begin at a byte `candidate` picks are decoded and tested, and the rest is
/// copied in runs: text with nothing to escape costs one pass over its bytes (an
/// export on standard output is hundreds of megabytes).
fn escape_where<'a>(
    text: &'a str,
    candidate: impl Fn(u8) -> bool,
    hidden: impl Fn(char) -> bool,
    escape: impl Fn(char, &mut String),
) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let (mut out, mut copied, mut at) = (None::<String>, 0, 0);
    // `at` is always where a character begins: a search starts there, or just past a
    // whole character, and a candidate byte is ASCII or a character's first byte.
    while let Some(found) = bytes[at..].iter().position(|&b| candidate(b)) {
        let start = at + found;
        let Some(c) = text[start..].chars().next() else { break };
        at = start + c.len_utf8();
        if hidden(c) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
            out.push_str(&text[copied..start]);
            escape(c, out);
            copied = at;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_but_line_breaks, escape_controls, json_safe};

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept_as_it_is() {
        let name = "a\u{1b}[2Jb\u{202e}c\u{200b}d\u{9b}e\u{34f}f\u{fe00}g\u{e0100}h";
        assert_eq!(escape_controls(name), "a\\u{1b}[2Jb\\u{202e}c\\u{200b}d\\u{9b}e\\u{34f}f\\u{fe00}g\\u{e0100}h");
        for ordinary in [
            "sample",
            "caf\u{e9}",
            "e\u{301}",
            "\u{6570}\u{636e}",
            "family\u{1f468}\u{200d}\u{1f469}",
            "\u{2764}\u{fe0f}",
            "\u{645}\u{6cc}\u{200c}\u{62e}",
        ] {
            assert_eq!(escape_controls(ordinary), ordinary);
        }
        assert_eq!(escape_but_line_breaks("one\ntwo\u{7}\n"), "one\ntwo\\u{7}\n");
    }

    #[test]
    fn json_keeps_its_layout_and_reads_back_as_the_same_text() {
        let name = "x\u{202e}y\u{9b}z\u{e0041}\u{7f}";
        let text = serde_json::to_string_pretty(&serde_json::json!({ "name": name, "n": [1, 2] })).unwrap();
        let safe = json_safe(&text);
        assert!(!safe.contains(['\u{202e}', '\u{9b}', '\u{e0041}', '\u{7f}']), "{safe}");
        assert_eq!(safe.lines().count(), text.lines().count());
        let read: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(read["name"], name);
    }
}
