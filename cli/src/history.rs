//! `log`, `undo`, `redo`, `checkout`, `tag` and `prune`: a program's history, and
//! `PROGRAM@REVISION` / `PROGRAM@TAG` for the commands that read a program.

use crate::db::Db;
use crate::output::{Progress, escape_controls, outln, print_json, print_table};
use crate::programs::{resolve, resolve_to_change};
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::store::{CommitKind, HistoryEntry, LogPage, ProgramId, Retention, StorageError};
use std::path::Path;
use std::process::ExitCode;

/// A revision named by number or by tag.
pub fn revision(store: &Db, id: ProgramId, program: &str, what: &str) -> Result<u64, Failure> {
    let program = escape_controls(program);
    if !what.is_empty() && what.bytes().all(|b| b.is_ascii_digit()) {
        // Tag names are never numbers: digits that overflow are no tag either.
        return what
            .parse::<u64>()
            .map_err(|_| Failure::new(format!("{what} is no revision of {program}: revisions are below 2^64")));
    }
    match store.tagged(id, what) {
        Err(StorageError::TagNotFound { .. }) => Err(no_tag(&program, what)),
        found => Ok(found?),
    }
}

/// A tag the program lacks, named as the user named the program (the store's error
/// names it by id).
fn no_tag(program: &str, name: &str) -> Failure {
    let program = escape_controls(program);
    Failure::new(format!("{program} has no tag {name:?}; `lmstore tag {program}` lists its tags"))
}

/// A revision the program's history lacks, named as the user named the program.
fn no_revision(program: &str, revision: u64) -> Failure {
    let program = escape_controls(program);
    Failure::new(format!(
        "{program} has no revision {revision} in its history (pruned, written with recording off or \
         before a commit that was, or not made yet; `lmstore log {program}` lists what it holds)"
    ))
}

/// `PROGRAM@REVISION` or `PROGRAM@TAG` as it was then; `None` when `what` has no `@`
/// (tag names cannot contain one).
pub fn program_at(store: &Db, what: &str) -> Result<Option<ProgramGraph>, Failure> {
    let Some((program, at)) = what.rsplit_once('@') else { return Ok(None) };
    let id = resolve(store, program)?;
    load_at(store, id, program, revision(store, id, program, at)?).map(Some)
}

/// The program as it was at `revision`, a missing revision named as the user named the
/// program rather than by its id.
fn load_at(store: &Db, id: ProgramId, program: &str, revision: u64) -> Result<ProgramGraph, Failure> {
    match store.load_at(id, revision) {
        Err(StorageError::RevisionNotFound { .. }) => Err(no_revision(program, revision)),
        loaded => Ok(loaded?),
    }
}

fn kind(k: CommitKind) -> String {
    match k {
        CommitKind::Create => "create".into(),
        CommitKind::Edit => "edit".into(),
        CommitKind::Undo { of } => format!("undo {of}"),
        CommitKind::Redo { of } => format!("redo {of}"),
        CommitKind::Rename => "rename".into(),
    }
}

/// One entry of `log --json`: the library's entry with the tags on its revision, as
/// the table shows them.
#[derive(serde::Serialize)]
struct LogLine<'a> {
    #[serde(flatten)]
    entry: &'a HistoryEntry,
    tags: Vec<&'a str>,
}

pub fn log(store: &Db, program: &str, page: LogPage, json: bool) -> CmdResult {
    let id = resolve(store, program)?;
    let entries = store.log(id, page)?;
    let tags = store.tags(id)?;
    let named = |revision: u64| -> Vec<&str> {
        tags.iter().filter(|t| t.revision == revision).map(|t| t.name.as_str()).collect()
    };
    if json {
        let lines: Vec<LogLine> = entries.iter().map(|entry| LogLine { entry, tags: named(entry.revision) }).collect();
        print_json(&lines)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let named = named(e.revision);
            vec![
                e.revision.to_string(),
                utc(e.committed_at),
                kind(e.kind),
                e.root.to_hex()[..16].to_string(),
                named.join(","),
                e.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["REVISION", "TIME", "KIND", "ROOT HASH", "TAGS", "MESSAGE"], &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// A commit time for people (`2026-12-06 15:55:36 UTC`); a value no calendar date
/// holds (a damaged row) is shown as the number stored.
fn utc(seconds: i64) -> String {
    // 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
    const LAST: i64 = 253_402_300_799;
    match u64::try_from(seconds) {
        Ok(s) if seconds <= LAST => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
            humantime::format_rfc3339_seconds(at).to_string().replacen('T', " ", 1).replace('Z', " UTC")
        }
        _ => seconds.to_string(),
    }
}

pub fn undo(store: &Db, program: &str, redo: bool, message: Option<&str>) -> CmdResult {
    let id = resolve_to_change(store, program)?;
    let action = if redo { "redo" } else { "undo" };
    let made = match if redo { store.redo(id, message) } else { store.undo(id, message) } {
        Ok(made) => made,
        // Said with the name the user gave, and as what it means for the step asked for.
        Err(StorageError::NothingTo { .. }) => return Err(Failure::new(format!("nothing to {action} in {program}"))),
        Err(StorageError::RevisionNotFound { revision, .. }) => {
            return Err(Failure::new(format!(
                "nothing left to {action} in {program}: it needs the history entry of revision {revision}, \
                 which was pruned (or written with recording off)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let entry = store.log(id, LogPage { before: Some(made + 1), limit: 1 })?;
    let what = entry.first().map(|e| kind(e.kind)).unwrap_or_default();
    outln!("{what}: {program} is at revision {made}")?;
    Ok(ExitCode::SUCCESS)
}

pub fn checkout(store: &Db, program: &str, at: &str, output: Option<&Path>, new_name: Option<&str>) -> CmdResult {
    let id = resolve(store, program)?;
    let revision = revision(store, id, program, at)?;
    let progress = Progress::steps(if new_name.is_some() { 2 } else { 3 });
    progress.step(format!("loading {program} at revision {revision}"));
    let g = load_at(store, id, program, revision)?;
    match new_name {
        Some(name) => {
            progress.step(format!("storing it as {name}"));
            crate::programs::check_new_name(name)?;
            store.insert_program(name, &g)?;
            progress.finish();
            outln!("stored {}@{revision} as {}", escape_controls(program), escape_controls(name))?;
            Ok(ExitCode::SUCCESS)
        }
        // The name inside the file is one `import` can take and `lmstore` name back.
        None => {
            crate::transfer::write_export(&g, revision, format!("{program} r{revision}"), program, output, progress)
        }
    }
}

/// Lists, removes or sets a tag. A tag already on another revision moves only with
/// `force`: a name someone relies on (`release`) is not repointed by a slip.
pub fn tag(store: &Db, program: &str, name: Option<&str>, at: Option<&str>, delete: bool, force: bool) -> CmdResult {
    // Listing the tags only reads.
    let id = if name.is_some() { resolve_to_change(store, program)? } else { resolve(store, program)? };
    match (name, delete) {
        (None, _) => {
            let rows: Vec<Vec<String>> =
                store.tags(id)?.into_iter().map(|t| vec![t.name, t.revision.to_string()]).collect();
            print_table(&["TAG", "REVISION"], &rows)?;
        }
        (Some(name), true) => {
            match store.untag(id, name) {
                Err(StorageError::TagNotFound { .. }) => return Err(no_tag(program, name)),
                untagged => untagged?,
            }
            outln!("removed tag {}", escape_controls(name))?;
        }
        (Some(name), false) => {
            // Without --revision, the program's current revision (the newest history
            // entry can be older, when commits were made with recording off).
            // Unlisted (another program's damaged row), it is read by a load.
            let current = || -> Result<u64, Failure> {
                match crate::programs::listed(store, id)? {
                    Some(p) => Ok(p.revision),
                    None => Ok(store.load_program_with_revision(id)?.1),
                }
            };
            let revision = match at {
                Some(at) => revision(store, id, program, at)?,
                None => current()?,
            };
            // Checked and moved in one write: of two tags given at once, the second
            // sees the first (and is refused without --force, or says it moved it).
            let placed = if force {
                store.move_tag(id, name, revision)
            } else {
                store.add_tag(id, name, revision).map(|_| None)
            };
            let before = match placed {
                Err(StorageError::TagElsewhere { revision: old, .. }) => {
                    return Err(Failure::new(format!(
                        "{} already names revision {old} of {}; pass --force to move it to revision {revision}",
                        escape_controls(name),
                        escape_controls(program)
                    )));
                }
                Err(StorageError::RevisionNotFound { .. }) if at.is_none() => {
                    return Err(Failure::new(format!(
                        "{program} is at revision {revision}, which its history does not hold (written with \
                         recording off, or pruned); tag a recorded one with --revision (`lmstore log {program}`)"
                    )));
                }
                Err(StorageError::RevisionNotFound { .. }) => return Err(no_revision(program, revision)),
                placed => placed?,
            };
            let moved = match before {
                Some(old) if old != revision => format!(" (moved from revision {old})"),
                _ => String::new(),
            };
            outln!("{} names revision {revision} of {}{moved}", escape_controls(name), escape_controls(program))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prune(store: &Db, program: &str, before: Option<u64>, keep: Option<u64>) -> CmdResult {
    let id = resolve_to_change(store, program)?;
    let retention = match (before, keep) {
        (Some(r), None) => Retention::Before(r),
        (None, Some(n)) => Retention::Newest(n),
        // clap requires exactly one, and --keep at least 1.
        _ => return Err(Failure::new("give exactly one of --before REVISION and --keep COUNT")),
    };
    let gone = store.prune_history(id, retention)?;
    outln!("pruned {gone} history entries of {program}")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn commit_times_read_as_utc_dates_and_impossible_ones_as_stored() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_515_200), "2026-12-06 00:00:00 UTC");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
        assert_eq!(utc(253_402_300_800), "253402300800");
        assert_eq!(utc(-1), "-1");
        assert_eq!(utc(i64::MAX), i64::MAX.to_string());
    }
}
