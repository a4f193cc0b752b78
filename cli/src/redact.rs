//! Secrets kept out of what `lmstore` prints. A file of its own, loaded by the soak
//! module (which tests also compile on their own) and used by the rest of the tool
//! from there.

/// `--db` as it may be printed: the password of a `postgres://user:password@host/...`
/// URL (or a `password=` parameter) replaced by `***`, so it stays out of terminals,
/// agent transcripts and CI logs. Anything else is returned unchanged.
pub fn redacted(db: &str) -> String {
    if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
        return redacted_key_values(db);
    }
    let mut out = db.to_string();
    let scheme_end = out.find("://").map_or(0, |i| i + 3);
    // The user-info ends at the last '@' before the path: a password may contain '@'.
    let authority_end = out[scheme_end..].find(['/', '?']).map_or(out.len(), |i| scheme_end + i);
    if let Some(at) = out[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i)
        && let Some(colon) = out[scheme_end..at].find(':').map(|i| scheme_end + i)
    {
        out.replace_range(colon + 1..at, "***");
    }
    if let Some(query) = out.find('?') {
        let (head, params) = out.split_at(query + 1);
        let params: Vec<String> = params
            .split('&')
            .map(|p| if p.starts_with("password=") { "password=***".to_string() } else { p.to_string() })
            .collect();
        out = format!("{head}{}", params.join("&"));
    }
    out
}

/// A libpq `key=value` connection string (`host=db password=... dbname=app`), which
/// `lmstore` takes for a file's name, with its `password` value replaced by `***`: the
/// name is echoed in messages.
fn redacted_key_values(db: &str) -> String {
    db.split(' ')
        .map(|word| match word.split_once('=') {
            Some((key, value)) if key.trim() == "password" && !value.is_empty() => format!("{key}=***"),
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::redacted;

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
    }
}
