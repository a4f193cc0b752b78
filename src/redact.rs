//! Passwords kept out of what is printed or logged: a PostgreSQL URL or libpq
//! connection string shown with its password as `***` (`lmstore`'s messages), and the
//! passwords themselves, so that what libpq or a pool says about a connection string
//! (which can echo it whole, or the password alone) is scrubbed before it reaches a
//! caller's error or a log.

/// `--db` as it may be printed: the password of a `postgres://user:password@host/...`
/// URL (or a `password=` parameter) replaced by `***`, so it stays out of terminals,
/// agent transcripts and CI logs. Anything else is returned unchanged.
pub fn redacted(db: &str) -> String {
    if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
        return redacted_key_values(db);
    }
    let found = url_secrets(db, db.find("://").map_or(0, |i| i + 3));
    let mut out = db.to_string();
    // From the end, so the ranges before stay where they were.
    for param in found.params.into_iter().rev() {
        out.replace_range(param, "password=***");
    }
    if let Some(password) = found.user_password {
        out.replace_range(password, "***");
    }
    out
}

/// Where a URL's passwords stand: the user-info's, and each `password=` parameter
/// (key and value).
struct UrlSecrets {
    user_password: Option<std::ops::Range<usize>>,
    params: Vec<std::ops::Range<usize>>,
}

/// The passwords of the URL whose authority begins at byte `authority` (just past
/// its `//`), read as libpq reads them.
fn url_secrets(db: &str, authority: usize) -> UrlSecrets {
    // The user-info ends at the last '@' before the path: a password may hold '@'
    // (and '?', which libpq takes as part of it: only '@' or '/' end the user-info).
    let authority_end = db[authority..].find('/').map_or(db.len(), |i| authority + i);
    let at = db[authority..authority_end].rfind('@').map(|i| authority + i);
    let user_password = at.and_then(|at| db[authority..at].find(':').map(|i| authority + i + 1..at));
    let host = at.map_or(authority, |at| at + 1);
    let mut params = Vec::new();
    if let Some(query) = db[host..].find('?').map(|i| host + i) {
        let mut start = query + 1;
        for param in db[query + 1..].split('&') {
            // libpq decodes %XX in a key as in a value: `pass%77ord` is `password`.
            if let Some((key, _)) = param.split_once('=')
                && percent_decoded(key).eq_ignore_ascii_case("password")
            {
                params.push(start..start + param.len());
            }
            start += param.len() + 1;
        }
    }
    UrlSecrets { user_password, params }
}

/// The passwords `db` carries, as written and as libpq decodes them, for [`scrubbed`]:
/// a URL's user-info password and `password=` parameters (read wherever `//` begins
/// an authority, so a mistyped scheme counts too), and a connection string's
/// `password` values, quoted and unquoted. Empty when it has none.
pub fn passwords(db: &str) -> Vec<String> {
    let mut raw = Vec::new();
    if let Some(slashes) = db.find("//") {
        let found = url_secrets(db, slashes + 2);
        raw.extend(found.user_password.map(|p| db[p].to_string()));
        raw.extend(found.params.into_iter().filter_map(|p| db[p].split_once('=').map(|(_, v)| v.to_string())));
    }
    for value in password_values(db) {
        let quoted = &db[value];
        raw.push(quoted.to_string());
        let inner = quoted.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(quoted);
        raw.push(inner.replace("\\'", "'").replace("\\\\", "\\"));
    }
    let mut all = Vec::new();
    for r in raw {
        let decoded = percent_decoded(&r);
        if decoded != r {
            all.push(decoded);
        }
        all.push(r);
    }
    all.retain(|p| !p.is_empty());
    all.sort();
    all.dedup();
    all
}

/// `text` with each of `passwords` replaced by `***`. One of one or two characters is
/// replaced only where it stands quoted or between `:` and `@`, so that it does not
/// mask every such letter of a message.
pub fn scrubbed(text: &str, passwords: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first: a password that holds another is masked whole.
    let mut ordered: Vec<&String> = passwords.iter().collect();
    ordered.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in ordered {
        if p.chars().count() >= 3 {
            out = out.replace(p.as_str(), "***");
        } else {
            for (open, close) in [("\"", "\""), ("'", "'"), (":", "@")] {
                out = out.replace(&format!("{open}{p}{close}"), &format!("{open}***{close}"));
            }
        }
    }
    out
}

/// `text` with each `%XX` turned into its byte (as libpq reads a URI's keys); a `%`
/// not followed by two hex digits stays as it is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A libpq `key=value` connection string (`host=db password=... dbname=app`), which
/// `lmstore` takes for a file's name, with every `password` value replaced by `***`:
/// the name is echoed in messages. Everything else is kept as written.
fn redacted_key_values(db: &str) -> String {
    let mut out = db.to_string();
    for value in password_values(db).into_iter().rev() {
        out.replace_range(value, "***");
    }
    out
}

/// The byte ranges of the `password` values in `text` (quotes included), read as
/// libpq's `conninfo_parse` reads a connection string: pairs separated by any
/// whitespace, whitespace allowed around `=`, a value bare (to the next whitespace)
/// or single-quoted, a backslash escaping the character after it in either. Text
/// that is no pair (a file name with spaces) is passed over a word at a time, so a
/// password after it is still found; an unterminated value runs to the end, as does
/// what is hidden. The key is matched in any case: hiding too much costs nothing.
fn password_values(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = skip_spaces(bytes, 0);
    while at < bytes.len() {
        let key_end = key_end(bytes, at);
        let equals = skip_spaces(bytes, key_end);
        if bytes.get(equals) != Some(&b'=') {
            // A bare word, not a key: the next word may be one.
            at = equals;
            continue;
        }
        let value = skip_spaces(bytes, equals + 1);
        let value_end = value_end(bytes, value);
        if text[at..key_end].eq_ignore_ascii_case("password") && value < value_end {
            found.push(value..value_end);
        }
        at = skip_spaces(bytes, value_end);
    }
    found
}

/// Whitespace as libpq's `isspace` sees it (in the C locale).
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The first byte from `at` that is not whitespace (or the end).
fn skip_spaces(bytes: &[u8], at: usize) -> usize {
    at + bytes[at.min(bytes.len())..].iter().take_while(|&&b| is_space(b)).count()
}

/// The end of a key starting at `at`: the next whitespace or `=`.
fn key_end(bytes: &[u8], at: usize) -> usize {
    at + bytes[at..].iter().take_while(|&&b| !is_space(b) && b != b'=').count()
}

/// The end of a value starting at `at`: after its closing quote when quoted, else the
/// next whitespace; an escaped quote or whitespace does not end it. Only ASCII bytes
/// end a value, so the end is a character boundary.
fn value_end(bytes: &[u8], at: usize) -> usize {
    let quoted = bytes.get(at) == Some(&b'\'');
    let mut i = if quoted { at + 1 } else { at };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' if quoted => return i + 1,
            b if !quoted && is_space(b) => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::redacted;
    use proptest::prelude::*;

    #[test]
    fn messages_that_echo_a_password_are_scrubbed() {
        use super::{passwords, scrubbed};
        let cases = [
            ("postgres://root:sec ret@127.0.0.1/test", "unexpected spaces found in \"sec ret\", use %20"),
            (
                "postgresql//root:secret@127.0.0.1/test",
                "missing \"=\" after \"postgresql//root:secret@127.0.0.1/test\"",
            ),
            ("postgres://root:se%zzcret@db/x", "invalid percent-encoded token: \"se%zzcret\""),
            ("postgres://root@db/x?password=hunter%32", "password authentication failed (hunter2)"),
            ("host=db password='it''s' dbname=x", "bad value 'it''s'"),
            ("host=db password=pw dbname=x", "FATAL: password \"pw\" rejected for user \"pwd\""),
        ];
        for (url, message) in cases {
            let found = passwords(url);
            assert!(!found.is_empty(), "{url}");
            let clean = scrubbed(message, &found);
            for p in &found {
                let quoted = format!("\"{p}\"");
                assert!(!clean.contains(&quoted) && (p.len() < 3 || !clean.contains(p.as_str())), "{url}: {clean}");
            }
            assert!(clean.contains("***"), "{url}: {clean}");
        }
        assert_eq!(passwords("postgres://root@127.0.0.1/test"), Vec::<String>::new());
        // A short password masks only where it stands as one, not every letter.
        assert_eq!(scrubbed("role \"pwd\" and \"pw\"", &["pw".to_string()]), "role \"pwd\" and \"***\"");
    }

    #[test]
    fn passwords_in_urls_are_not_printed() {
        assert_eq!(
            redacted("postgres://app:s3cr@t@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redacted("postgresql://app@db/app?password=hunter2&x=1"),
            "postgresql://app@db/app?password=***&x=1"
        );
        assert_eq!(redacted("postgres://root@127.0.0.1/test"), "postgres://root@127.0.0.1/test");
        assert_eq!(redacted("postgres://db/app"), "postgres://db/app");
        assert_eq!(redacted("lmlang.db"), "lmlang.db");
        assert_eq!(redacted("host=db password=s3cret dbname=app"), "host=db password=*** dbname=app");
        assert_eq!(redacted("dir with spaces/a.db"), "dir with spaces/a.db");
        // libpq ends the user-info only at '@' or '/', so a '?' there is the password's.
        assert_eq!(redacted("postgres://root:pa?ss@127.0.0.1:5432/x"), "postgres://root:***@127.0.0.1:5432/x");
        assert_eq!(redacted("postgres://root:pa?ss@db?sslmode=disable"), "postgres://root:***@db?sslmode=disable");
        // It decodes %XX in keys: `pass%77ord` is `password`.
        assert_eq!(redacted("postgres://root@db/x?pass%77ord=secret"), "postgres://root@db/x?password=***");
        assert_eq!(redacted("postgres://root@db/x?PASSWORD=secret&a=b"), "postgres://root@db/x?password=***&a=b");
    }

    /// Every form libpq accepts: whitespace around `=`, tabs and newlines between
    /// pairs, quoted values with spaces and escapes, and an unterminated quote.
    #[test]
    fn passwords_in_every_libpq_form_are_not_printed() {
        for (given, shown) in [
            ("host=db password = s3cret dbname=x", "host=db password = *** dbname=x"),
            ("host=db password='s3 cret' dbname=x", "host=db password=*** dbname=x"),
            ("host=db\tpassword=s3cret\tdbname=x", "host=db\tpassword=***\tdbname=x"),
            ("host=db\npassword\t=\t's3\\' cr\\\\et'\ndbname=x", "host=db\npassword\t=\t***\ndbname=x"),
            ("password=s3\\ cret dbname=x", "password=*** dbname=x"),
            ("password='s3 cret dbname=x", "password=***"),
            ("host=db password= dbname=x", "host=db password= ***"),
            ("a b.db password=s3cret", "a b.db password=***"),
            ("host=db password=", "host=db password="),
            ("user=password dbname=x", "user=password dbname=x"),
        ] {
            assert_eq!(redacted(given), shown, "{given:?}");
        }
    }

    /// One separator of libpq's: any run of whitespace.
    fn separator() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ \t\n\r\x0b\x0c]{1,3}").expect("a regex")
    }

    /// Optional whitespace around `=`.
    fn around_equals() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ \t]{0,2}").expect("a regex")
    }

    /// `value` as a connection string writes it: single-quoted with `\` before every
    /// quote and backslash, or bare when it needs no quoting and `bare` is chosen.
    fn written(value: &str, bare: bool) -> String {
        let plain = !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\');
        if bare && plain {
            return value.to_string();
        }
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    proptest! {
        /// Whatever the password and however the string is spaced or quoted, the
        /// redacted string is the same one with `***` for the password's value.
        #[test]
        fn any_password_in_any_layout_is_hidden(
            password in "\\PC{1,20}",
            host in "[a-z0-9.]{1,10}",
            bare in any::<bool>(),
            seps in proptest::collection::vec(separator(), 3),
            around in proptest::collection::vec(around_equals(), 2),
        ) {
            let layout = |value: &str| {
                format!(
                    "{}host={host}{}password{}={}{value}{}dbname=app",
                    seps[0], seps[1], around[0], around[1], seps[2]
                )
            };
            prop_assert_eq!(redacted(&layout(&written(&password, bare))), layout("***"));
        }
    }
}
