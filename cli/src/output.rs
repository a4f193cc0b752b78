//! Output helpers: JSON for scripts, aligned tables for people, progress on terminals.

use crate::Failure;
pub use crate::escape::escape_controls;
use crate::escape::{escape_but_line_breaks, json_safe};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// `println!` that returns a [`Failure`] where `println!` panics: when standard output
/// cannot be written (a full disk, `> /dev/full`). A closed pipe does not get here:
/// `main` restores SIGPIPE's default action, which ends the process quietly first.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `eprintln!` for notes and warnings, escaped as [`outln!`] escapes: they quote
/// paths and stored names too.
macro_rules! errln {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::escape::escape_but_line_breaks(&format!($($arg)*)))
    };
}
pub(crate) use errln;

/// One line on standard output; [`outln!`] is the way to call it. Control and
/// invisible characters other than the line's own breaks are escaped
/// ([`escape_but_line_breaks`]), whatever the caller formatted: a name from a hostile
/// file that some message forgot to escape still cannot drive the terminal.
pub fn write_line(line: std::fmt::Arguments) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match line.as_str() {
        Some(text) => writeln!(out, "{text}"),
        None => writeln!(out, "{}", escape_but_line_breaks(&line.to_string())),
    }
    .map_err(stdout_failed)
}

/// A JSON document on standard output, as [`json_safe`] makes it: a program reads
/// the same document, a terminal gets nothing to act on.
pub fn write_json(text: &str) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{}", json_safe(text)).map_err(stdout_failed)
}

/// The failure of a write to standard output.
pub fn stdout_failed(e: std::io::Error) -> Failure {
    Failure::new(format!("cannot write to standard output: {e}"))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    write_json(&serde_json::to_string_pretty(value)?)
}

/// Columns are padded to at most this many characters: a longer cell (a name can be
/// any length) is printed whole and only its own row loses the alignment.
const WIDEST_COLUMN: usize = 60;

/// Prints rows as a table whose columns are as wide as their widest cell (up to
/// [`WIDEST_COLUMN`]), with control characters in cells escaped so that a name
/// holding a newline stays on its row.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let shown: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|c| escape_controls(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &shown {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(WIDEST_COLUMN));
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (k, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if k > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
        }
        outln!("{}", out.trim_end())
    };
    line(header.to_vec())?;
    for row in &shown {
        line(row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// Progress through the steps of one command, on stderr, drawn only when stderr is a
/// terminal: piped or redirected output gets no bar characters at all.
///
/// The library reports no progress inside a load or a save, so a step is a stage of
/// the command (`[2/3] storing 100000 nodes`) or one item of a list; the spinner and
/// the elapsed time show that a long stage is still alive.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A command of `steps` steps; call [`step`](Self::step) at the start of each.
    pub fn steps(steps: u64) -> Progress {
        Progress::with_template(steps, "{spinner} [{pos}/{len}] {msg} ({elapsed})")
    }

    /// A run over `items` items, drawn as a bar.
    pub fn items(items: u64) -> Progress {
        Progress::with_template(items, "{bar:30} {pos}/{len} {msg} ({elapsed})")
    }

    fn with_template(len: u64, template: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: ProgressBar::hidden() };
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress { bar }
    }

    /// Starts the next step (or item), described by `message`.
    pub fn step(&self, message: impl Into<String>) {
        self.bar.inc(1);
        // Steps name programs and files, drawn on a terminal.
        self.bar.set_message(escape_controls(&message.into()));
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    /// A command that fails half-way must not leave a bar on the line of its error.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it, then
/// renamed over it, so a full disk or a killed process never leaves a truncated file
/// where a good one was.
///
/// Only for a regular file or a new one: a device or pipe (`-o /dev/stdout`), or a
/// symbolic link of the user's own (or the system's), is written in place, as is a file
/// whose directory takes no new files. A link another user owns is refused rather than
/// followed: in a shared directory (`/tmp`) it could point at any file the user may
/// write. The new file keeps the old one's permissions when the user owns it, and
/// otherwise is made as a new file is (`rw-rw-rw-` less the umask).
///
/// The temporary file is named `.NAME.XXXXXX.partial` (at most 200 bytes of NAME, so
/// that a long name still leaves room) and locked while it is written. A
/// process killed while writing leaves it behind; the next write of the same file
/// removes every such file no process holds any more (see [`remove_abandoned`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let failed = |e: std::io::Error| Failure::new(format!("cannot write {}: {e}", path.display()));
    let existing = std::fs::symlink_metadata(path).ok();
    if let Some(m) = existing.as_ref().filter(|m| !m.file_type().is_file()) {
        return write_in_place(path, Some(m), bytes).map_err(failed);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return write_in_place(path, None, bytes).map_err(failed);
    };
    let prefix = partial_prefix(name);
    remove_abandoned(dir, &prefix);
    let kept = existing.filter(|m| m.uid() == effective_uid()).map(|m| m.permissions().mode() & 0o777);
    let Ok(mut file) = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(RANDOM)
        .suffix(PARTIAL)
        // Made with this mode, so the umask applies, as to any new file.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
    else {
        return write_in_place(path, None, bytes).map_err(failed);
    };
    // Held until the file is renamed or removed: the mark of a writer still at work.
    file.as_file().lock().map_err(failed)?;
    if let Some(mode) = kept {
        file.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(failed)?;
    }
    file.write_all(bytes).and_then(|()| file.as_file().sync_all()).map_err(failed)?;
    file.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// Writes `bytes` over what `path` names, as found (`existing`, not followed): a link
/// is followed only when the user or the system owns it, and nothing else is (a link
/// put there since is refused by the open itself).
fn write_in_place(path: &Path, existing: Option<&std::fs::Metadata>, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let link = existing.filter(|m| m.file_type().is_symlink());
    if link.is_some_and(|m| m.uid() != effective_uid() && m.uid() != 0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "it is a symbolic link another user owns, which could point at any file; remove it or write elsewhere",
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    // A link of the user's own may name a file still to be made.
    options.write(true).create(existing.is_none() || link.is_some()).truncate(true).mode(0o666);
    if link.is_none() {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)?.write_all(bytes)
}

/// The user this process acts as.
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The end of a temporary file's name (see [`write_atomically`]).
const PARTIAL: &str = ".partial";

/// The random letters and digits in a temporary file's name.
const RANDOM: usize = 6;

/// The most of the output file's name a temporary file's name repeats: with the dots,
/// the random part and `.partial` it stays within the 255 bytes a file name may have.
const NAME_KEPT: usize = 200;

/// How long a temporary file must have gone unwritten before another process may take
/// it for abandoned: a writer locks its file just after creating it, and this covers
/// that moment.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The start of the names of the temporary files written for a file called `name`
/// (its first [`NAME_KEPT`] bytes).
fn partial_prefix(name: &std::ffi::OsStr) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(std::ffi::OsStr::from_bytes(&bytes[..bytes.len().min(NAME_KEPT)]));
    prefix.push(".");
    prefix
}

/// Whether `name` is that of a temporary file [`write_atomically`] makes with `prefix`:
/// the prefix, exactly [`RANDOM`] letters or digits, `.partial`.
fn is_partial_of(name: &[u8], prefix: &[u8]) -> bool {
    name.len() == prefix.len() + RANDOM + PARTIAL.len()
        && name.starts_with(prefix)
        && name.ends_with(PARTIAL.as_bytes())
        && name[prefix.len()..prefix.len() + RANDOM].iter().all(u8::is_ascii_alphanumeric)
}

/// Removes the temporary files in `dir` left by writes of the same file that were
/// killed: named as [`is_partial_of`] says, unlocked (no process is writing them: a
/// lock ends with its process) and not written to for a while. Best effort: a file
/// that cannot be read or removed is left.
fn remove_abandoned(dir: &Path, prefix: &std::ffi::OsStr) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let bytes = name.as_bytes();
        if !is_partial_of(bytes, prefix.as_bytes()) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= ABANDONED_AFTER);
        if !stale {
            continue;
        }
        let path = entry.path();
        // Opened without following a link and without waiting (a FIFO put in its place
        // since would block a plain open for good), and checked again as opened: a
        // regular file of this user's. Locked here while it is removed, so no writer
        // can hold it meanwhile.
        let opened = {
            use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
                .ok()
                .filter(|f| f.metadata().is_ok_and(|m| m.is_file() && m.uid() == effective_uid()))
        };
        let held_here = opened.filter(|f| f.try_lock().is_ok());
        if held_here.is_some() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Refuses an output path that is the database itself or one of the files SQLite keeps
/// beside it: writing would destroy the database, or (`-journal`) SQLite would take the
/// output for a hot journal left by a crash and delete it.
pub fn refuse_database_files(output: &Path, db: &Path) -> Result<(), Failure> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let beside = |suffix: &str| {
        let mut file = db.as_os_str().to_owned();
        file.push(suffix);
        std::path::PathBuf::from(file)
    };
    if [db.to_path_buf(), beside("-wal"), beside("-shm"), beside("-journal")].iter().any(|f| same(output, f)) {
        return Err(Failure::new(format!(
            "{} is the database's own file; write the output somewhere else",
            output.display()
        )));
    }
    Ok(())
}
