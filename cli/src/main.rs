//! `lmstore`: the command-line tool over an embedded SQLite file.
//!
//! It is also the reference user of the library: it uses only public API. One file per
//! command group; errors end as one line on stderr and a non-zero exit status.

mod bench;
mod cli;
mod db;
mod demo;
mod dot;
mod escape;
mod history;
mod inspect;
mod node_diff;
mod output;
mod programs;
mod show;
mod soak;
mod transfer;

use clap::Parser;
use cli::{Cli, Command};
use db::Db;
use lmlang_storage::sqlite::{SqliteConfig, SqliteStore};
use lmlang_storage::store::{DatabaseErrorKind, StorageError};
use std::io::IsTerminal as _;
use std::process::ExitCode;

/// A failure to report. The exit status is 2 for usage problems (clap's, and an empty
/// option variable), [`RETRY_LATER`] when another writer held the database locked, and
/// 1 for everything else.
pub struct Failure {
    /// What went wrong and what to do, as one line (or a list of problems).
    pub message: String,
    /// The failure was [`StorageError::Busy`]: told by the error itself, never by its
    /// text, which may quote names and paths the user chose.
    pub locked: bool,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure { message: message.into(), locked: false }
    }

    /// Marked as locked when `cause`, which the message reports, is [`StorageError::Busy`].
    pub fn caused_by(mut self, cause: &StorageError) -> Self {
        self.locked = matches!(cause, StorageError::Busy);
        self
    }
}

/// The exit status of a command that found the database locked by another writer and
/// wrote nothing: sysexits' `EX_TEMPFAIL`, so a script can retry this failure, and
/// only this one, later.
const RETRY_LATER: u8 = 75;

impl<E: std::fmt::Display + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        let locked =
            (&e as &dyn std::any::Any).downcast_ref::<StorageError>().is_some_and(|e| matches!(e, StorageError::Busy));
        Failure { message: e.to_string(), locked }
    }
}

pub type CmdResult = Result<ExitCode, Failure>;

/// The library logs through `tracing` and installs nothing; the tool shows its events
/// on stderr when asked to.
fn install_logging(verbose: u8) {
    if verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let level = match verbose {
        0 | 1 => "lmlang_storage=info",
        2 => "lmlang_storage=debug",
        _ => "lmlang_storage=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal that shows them: a log piped to a file or a CI
        // job's output must not fill with escape codes.
        .with_ansi(std::io::stderr().is_terminal() && colours_wanted())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
}

/// Whether the environment allows colours: not with `NO_COLOR` set (no-color.org) or
/// on a `dumb` terminal.
fn colours_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`lmstore export p | head`)
/// fails, and the command would report the failure. A command-line tool should end
/// quietly instead, as other Unix tools do: restore the default action.
fn end_quietly_on_closed_pipes() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; setting a
    // signal's disposition to its default has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The environment variables that stand for options. One set empty (a script's
/// `LMLANG_DB=$DB` with `DB` unset) is refused by name: taken as unset it would send
/// the command to another database, and clap's own message names an option the user
/// never typed.
const OPTION_VARIABLES: [(&str, &str); 2] = [("LMLANG_DB", "--db"), ("LMLANG_BUSY_TIMEOUT", "--busy-timeout")];

/// Why an option's variable set empty is refused, if it is; one whose option is given
/// (or that `--help` and `--version` never read) is removed from the environment.
fn refused_empty_option_variable() -> Option<String> {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let given = |option: &str| args.iter().any(|a| a == option || a.starts_with(&format!("{option}=")));
    let asks_no_database = ["--help", "-h", "--version", "-V"].iter().any(|o| args.iter().any(|a| a == o));
    for (name, option) in OPTION_VARIABLES {
        if !std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            continue;
        }
        if !given(option) && !asks_no_database {
            return Some(format!("{name} is set but empty; give it a value, or unset it to use {option}'s default"));
        }
        // The option given wins over the variable (and `--help` reads neither), but
        // clap would still refuse the empty text: the variable is dropped.
        // SAFETY: called first thing in `main`, before any other thread exists, so
        // nothing reads the environment while it changes.
        unsafe { std::env::remove_var(name) };
    }
    None
}

fn main() -> ExitCode {
    end_quietly_on_closed_pipes();
    if let Some(message) = refused_empty_option_variable() {
        eprintln!("lmstore: error: {message}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    install_logging(cli.verbose);
    let db = cli.db.to_string_lossy().into_owned();
    let busy_timeout = cli.busy_timeout;
    let postgres = db::is_postgres_url(&cli.db);
    match run(cli) {
        Ok(code) => code,
        Err(Failure { mut message, locked }) => {
            // `--db` as given may be echoed by any message; its password never is.
            let shown = db::redacted(&db);
            if shown != db {
                message = message.replace(&db, &shown);
            }
            // The library's wording of `Busy` also speaks to a service's own
            // transaction, which lmstore never has.
            if locked {
                let busy = StorageError::Busy.to_string();
                message =
                    message.replace(&busy, "another writer held the database locked; nothing was written, retry later");
                message.push_str(&busy_hint(postgres, busy_timeout));
            }
            eprintln!("lmstore: error: {}", one_line(&message));
            if locked { ExitCode::from(RETRY_LATER) } else { ExitCode::FAILURE }
        }
    }
}

/// An error as one line: a driver's message over several lines (libpq's "Is the server
/// running...?" below its first, a blank line after) is joined with spaces. Only the
/// list of an invalid file's problems keeps a line each (`  - ` items). Whatever a
/// message quotes (a path, a driver's words about a file) reaches the terminal with
/// its control and invisible formatting characters escaped.
fn one_line(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines().filter(|l| !l.trim().is_empty()) {
        if out.is_empty() {
            out.push_str(&escape::escape_controls(line.trim_end()));
        } else if line.starts_with("  - ") {
            out.push('\n');
            out.push_str(&escape::escape_controls(line.trim_end()));
        } else {
            out.push(' ');
            out.push_str(&escape::escape_controls(line.trim()));
        }
    }
    out
}

/// What ended the wait of a write that found the database locked, and what to do.
/// `--busy-timeout` is the wait of a SQLite file only: on a PostgreSQL server the
/// server decides (its `lock_timeout`, deadlock detection, a conflicting commit), so
/// the hint names no wait of lmstore's there.
fn busy_hint(postgres: bool, busy_timeout: f64) -> String {
    if postgres {
        " [the PostgreSQL server ended the wait (its lock_timeout, a deadlock, or a conflicting commit); \
         --busy-timeout applies to SQLite files only]"
            .to_string()
    } else {
        format!(" [lmstore waited {busy_timeout} s: --busy-timeout SECONDS, or LMLANG_BUSY_TIMEOUT, waits longer]")
    }
}

fn run(mut cli: Cli) -> CmdResult {
    // `-o -` is standard output, as the commands write without `-o`.
    if let Command::Export { output, .. } | Command::Dot { output, .. } | Command::Checkout { output, .. } =
        &mut cli.command
        && output.as_deref() == Some(std::path::Path::new("-"))
    {
        *output = None;
    }
    let postgres = db::is_postgres_url(&cli.db);
    // The tool records history for every edit it makes (`undo`, `redo` and `checkout`
    // step through it); the library leaves recording to the caller.
    let writable = SqliteConfig::default().with_busy_timeout(std::time::Duration::from_secs_f64(cli.busy_timeout));
    let open = || {
        if postgres {
            return db::connect(&cli.db.to_string_lossy()).map(Db::recording);
        }
        SqliteStore::open_with(&cli.db, writable.clone()).map(|s| Db::Sqlite(Box::new(s)).recording()).map_err(|e| {
            match e {
                StorageError::Migration(_) => db::refused_upgrade(cli.db.display(), &e),
                e => Failure::new(format!("cannot open {}: {e}", cli.db.display())).caused_by(&e),
            }
        })
    };
    // Commands that only read open the file read-only when its schema is current, so
    // they work on a read-only file or mount; one that needs migrating is opened as the
    // writing commands open it, and a missing file is refused, not created.
    let read = || {
        if postgres {
            return db::connect_to_read(&cli.db.to_string_lossy());
        }
        let read_only = writable.clone().with_read_only(true);
        match SqliteStore::open_with(&cli.db, read_only) {
            Ok(store) => Ok(Db::Sqlite(Box::new(store))),
            // A reading command does not install the schema beside another
            // application's tables; `migrate` (or any writing command) does.
            Err(StorageError::ReadOnly) if db::holds_only_foreign_tables(&cli.db) => Err(Failure::new(format!(
                "{} holds another application's tables and no lmlang schema; \
                 `lmstore --db {} migrate` adds the schema beside them",
                cli.db.display(),
                cli.db.display()
            ))),
            // An empty file is a database with nothing in it to read; a reading command
            // does not write the schema into it.
            Err(StorageError::ReadOnly) if db::is_empty_file(&cli.db) => Err(Failure::new(format!(
                "{} is empty: it holds no programs yet; `lmstore --db {} demo` or `import` stores some",
                cli.db.display(),
                cli.db.display()
            ))),
            // A current schema was not found (an older one, or none yet): opened as a
            // writing command opens it, which migrates it; where that cannot write,
            // the user is told why a read needs to.
            Err(StorageError::ReadOnly) => match SqliteStore::open_with(&cli.db, writable.clone()) {
                Ok(store) => Ok(Db::Sqlite(Box::new(store)).recording()),
                // The file could be written; the upgrade itself refused (a service's
                // object in the way, say), and the message says what to do.
                Err(e @ StorageError::Migration(_)) => Err(db::refused_upgrade(cli.db.display(), &e)),
                Err(e) => Err(Failure::new(format!(
                    "{} cannot be read without writing to it (its schema needs upgrading to this lmstore's, \
                     or its WAL index creating), and it cannot be written here ({e}); run \
                     `lmstore --db {} migrate` where it can, or read a writable copy",
                    cli.db.display(),
                    cli.db.display()
                ))
                .caused_by(&e)),
            },
            // Writes left beside the file (a transaction cut off midway) are applied,
            // or rolled back, by a writable open before anything is read.
            Err(e @ StorageError::Database { kind: DatabaseErrorKind::CannotOpen, .. })
                if lmlang_storage::sqlite::writes_beside(&cli.db).is_some() =>
            {
                open().map_err(|_| Failure::new(format!("cannot open {}: {e}", cli.db.display())).caused_by(&e))
            }
            // A mistyped path reports itself instead of becoming a new, empty database;
            // a path that cannot be followed (a loop of symbolic links) says why.
            Err(StorageError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && !cli.db.exists() => {
                match std::fs::metadata(&cli.db) {
                    Err(why) if why.kind() != std::io::ErrorKind::NotFound => {
                        Err(Failure::new(format!("cannot open {}: {why}", cli.db.display())))
                    }
                    _ => Err(Failure::new(format!(
                        "no database at {}; `lmstore --db {} demo` or `import` creates one",
                        cli.db.display(),
                        cli.db.display()
                    ))),
                }
            }
            Err(StorageError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => open(),
            Err(e) => Err(Failure::new(format!("cannot open {}: {e}", cli.db.display())).caused_by(&e)),
        }
    };
    if let Command::Export { output: Some(out), .. }
    | Command::Dot { output: Some(out), .. }
    | Command::Dot { svg: Some(out), .. }
    | Command::Checkout { output: Some(out), .. } = &cli.command
    {
        output::refuse_database_files(out, &cli.db)?;
    }
    match cli.command {
        Command::Demo { force } => demo::demo(&open()?, &cli.db, force),
        Command::Generate { nodes, name, seed, gaps } => demo::generate(&open()?, nodes, &name, seed, gaps),
        // An empty file is an empty database: no programs, as a migrated one without any.
        Command::List { json } if !postgres && db::is_empty_file(&cli.db) => programs::list(None, json, &cli.db),
        Command::List { json } => programs::list(Some(&read()?), json, &cli.db),
        Command::Show { program, function, json } => programs::show(&read()?, &program, function.as_deref(), json),
        Command::Export { program, output } => transfer::export(&read()?, &program, output.as_deref()),
        Command::Import { file, name } => transfer::import(&open()?, &file, name.as_deref()),
        Command::Save { program, file, message, force } => {
            transfer::save(&open()?, &program, &file, message.as_deref(), force)
        }
        Command::Hash { program, json } => inspect::hash(&read()?, &program, json),
        Command::Diff { a, b, function, nodes, json } => {
            let files_only = inspect::files_without_database(&cli.db, postgres, &[a.as_os_str(), b.as_os_str()]);
            let store = if files_only { None } else { Some(read()?) };
            inspect::diff(store.as_ref(), &a, &b, function.as_deref(), nodes, json)
        }
        Command::Dot { program, function, output, svg } => {
            let files_only = inspect::files_without_database(&cli.db, postgres, &[program.as_os_str()]);
            let store = if files_only { None } else { Some(read()?) };
            dot::dot(store.as_ref(), &program, function.as_deref(), output.as_deref(), svg.as_deref())
        }
        Command::Verify { program, json } => inspect::verify(&read()?, program.as_deref(), json),
        Command::Log { program, limit, before, json } => {
            history::log(&read()?, &program, lmlang_storage::store::LogPage { before, limit }, json)
        }
        Command::Undo { program, message } => history::undo(&open()?, &program, false, message.as_deref()),
        Command::Redo { program, message } => history::undo(&open()?, &program, true, message.as_deref()),
        Command::Checkout { program, revision, output, new_name } => {
            let store = if new_name.is_some() { open()? } else { read()? };
            history::checkout(&store, &program, &revision, output.as_deref(), new_name.as_deref())
        }
        Command::Tag { program, name, revision, delete, force } => {
            let store = if name.is_some() { open()? } else { read()? };
            history::tag(&store, &program, name.as_deref(), revision.as_deref(), delete, force)
        }
        Command::Prune { program, before, keep } => history::prune(&open()?, &program, before, keep),
        Command::Delete { program } => programs::delete(&open()?, &program),
        Command::Migrate => programs::migrate(&open()?),
        Command::Vacuum => programs::vacuum(&open()?),
        Command::Backup { dest } => programs::backup(&read()?, &dest),
        Command::Partition { partitions } => programs::partition(&open()?, partitions),
        #[cfg(feature = "postgres")]
        Command::Bench(args) if postgres => bench::run_postgres(&cli.db.to_string_lossy(), &args),
        Command::Bench(_) if postgres => {
            Err(Failure::new("bench on a server needs lmstore built with --features postgres"))
        }
        Command::Bench(args) => bench::run(&args),
        Command::Soak(args) => soak::run(&cli.db, &args),
    }
}

#[cfg(test)]
mod tests {
    /// libpq's multi-line messages become one line; an invalid file's list of problems
    /// keeps a line each.
    #[test]
    fn errors_are_one_line_but_for_a_list_of_problems() {
        let libpq = "cannot connect to postgres://x: connection to server at \"127.0.0.1\", port 1 failed: \
                     Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n\n";
        assert_eq!(
            super::one_line(libpq),
            "cannot connect to postgres://x: connection to server at \"127.0.0.1\", port 1 failed: Connection \
             refused Is the server running on that host and accepting TCP/IP connections?"
        );
        let invalid = "f.json is invalid (2 problem(s)); nothing was written:\n  - node 1: a\n  - node 2: b";
        assert_eq!(super::one_line(invalid), invalid);
    }
}
