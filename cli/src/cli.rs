//! Command-line definitions (clap). Every command takes `--db` (or `LMLANG_DB`).

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// lmstore: store, inspect and verify lmlang program graphs in an embedded SQLite file.
#[derive(Parser, Debug)]
#[command(name = "lmstore", version, about, long_about = None)]
#[command(after_help = "Start with `lmstore demo`, then `lmstore list` and `lmstore show sample`.")]
pub struct Cli {
    /// The database file; created on first use.
    #[arg(long, global = true, env = "LMLANG_DB", default_value = "lmlang.db")]
    pub db: PathBuf,
    /// Log what the store does to stderr: -v for opens, migrations, loads and saves
    /// with their sizes and durations, -vv for every commit (`RUST_LOG` overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Seconds a command waits for another process's write to a SQLite file before it
    /// gives up (a bulk import of a big program holds the lock throughout). On
    /// PostgreSQL the server's `lock_timeout` decides instead.
    #[arg(long, global = true, env = "LMLANG_BUSY_TIMEOUT", default_value_t = 5.0,
          value_parser = busy_seconds)]
    pub busy_timeout: f64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Store a hand-written sample and a generated 10k-node program, reload and check both.
    #[command(
        after_help = "Example: lmstore demo\nRunning it again keeps the two demo programs when they are as the demo stores \
                            them; a program named sample or generated-10k that holds anything else (edited since, or \
                            yours) is left as it is and the demo stops, unless --force."
    )]
    Demo {
        /// Replace a program named `sample` or `generated-10k` that holds anything else
        /// than the demo's (its history goes with it).
        #[arg(long)]
        force: bool,
    },
    /// Store a synthetic program from the benchmark generator.
    #[command(after_help = "Example: lmstore generate --nodes 100000 --name big --seed 7 --gaps")]
    Generate {
        /// Number of compute nodes (1 to 100 million: ids are 32-bit, and memory ends
        /// long before that).
        #[arg(long, default_value_t = 10_000,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
        nodes: usize,
        /// Name of the new program.
        #[arg(long)]
        name: String,
        /// Seed of the generator; the same seed gives the same program.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Delete 5 % of the nodes afterwards, leaving holes in the id space.
        #[arg(long)]
        gaps: bool,
    },
    /// List stored programs with their sizes and root hashes.
    #[command(after_help = "Example: lmstore list --json")]
    List {
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// Show a program's modules, types and functions, or one function's nodes and edges.
    #[command(after_help = "Examples:\n  lmstore show sample\n  lmstore show sample --function main")]
    Show {
        /// Program name or id.
        program: String,
        /// Show this function (its name or qualified name) in detail.
        #[arg(long)]
        function: Option<String>,
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// Write a program as a versioned JSON document.
    #[command(after_help = "Example: lmstore export sample -o sample.json")]
    Export {
        /// Program name or id.
        program: String,
        /// Output file; standard output when absent.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Read a JSON document, validate it, and store it as a new program.
    #[command(after_help = "Example: lmstore import sample.json --name sample-copy")]
    Import {
        /// The file written by `export`.
        file: PathBuf,
        /// Name of the new program; defaults to the name in the file.
        #[arg(long)]
        name: Option<String>,
    },
    /// Save an export file over a stored program, as one edit in its history (what
    /// `undo` steps back): export, edit the file, save it back.
    #[command(
        after_help = "Example: lmstore export sample -o s.json && (edit s.json) && lmstore save sample s.json -m \"new constant\""
    )]
    Save {
        /// Program name or id.
        program: String,
        /// A file written by `export` of this program (any other needs --force).
        file: PathBuf,
        /// A message for the log.
        #[arg(short, long)]
        message: Option<String>,
        /// Save even when the program changed since the file was exported (or the file
        /// came from another program): whatever was stored since is replaced.
        #[arg(long)]
        force: bool,
    },
    /// Print the program root hash and every function's root hash.
    #[command(after_help = "Example: lmstore hash sample --json")]
    Hash {
        /// Program name or id.
        program: String,
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// List functions added, removed and changed between two programs, or the nodes and
    /// edges that differ inside them (matched by content, not by id).
    #[command(
        after_help = "Examples:\n  lmstore diff sample sample-copy\n  lmstore diff sample exported.json --nodes\n  lmstore diff sample edited.json --function main"
    )]
    Diff {
        /// A stored program (name, #ID, PROGRAM@REVISION) or an exported file; a name that is both
        /// is refused: ./NAME is the file, #ID the program.
        a: OsString,
        /// A stored program (name, #ID, PROGRAM@REVISION) or an exported file; a name that is both
        /// is refused: ./NAME is the file, #ID the program.
        b: OsString,
        /// Nodes and edges added, removed and changed in this function (name or qualified name).
        #[arg(long, conflicts_with = "nodes")]
        function: Option<String>,
        /// Nodes and edges added, removed and changed in every changed function.
        #[arg(long)]
        nodes: bool,
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// Write a program (or one function) as a Graphviz DOT picture, or render it with Graphviz.
    #[command(
        after_help = "Examples:\n  lmstore dot sample --function main --svg main.svg\n  lmstore dot sample -o sample.dot\n  lmstore dot sample | dot -Tpng -o sample.png\n\nData edges are solid and labelled `source port -> operand slot  type`; control edges\nare dashed, labelled with their branch index; the entry node has a double border."
    )]
    Dot {
        /// A stored program (name, #ID, PROGRAM@REVISION) or an exported file; a name that is both
        /// is refused: ./NAME is the file, #ID the program.
        program: OsString,
        /// Only this function (name or qualified name); every function when absent.
        #[arg(long)]
        function: Option<String>,
        /// Output file: DOT text, or a picture rendered by Graphviz when it ends in .svg,
        /// .png or .pdf. Standard output when absent.
        #[arg(short, long, conflicts_with = "svg")]
        output: Option<PathBuf>,
        /// Render an SVG picture to this file with Graphviz (`dot`).
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Check the database and every program (or one); exit status 0 only if all pass.
    #[command(after_help = "Example: lmstore verify && echo healthy")]
    Verify {
        /// Only this program (name or id).
        program: Option<String>,
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// A program's history, newest first: revision, time, kind, root hash, tags, message.
    #[command(after_help = "Examples:\n  lmstore log sample\n  lmstore log sample --limit 5 --before 40 --json")]
    Log {
        /// Program name or id.
        program: String,
        /// At most this many entries.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Only entries older than this revision (the next page).
        #[arg(long)]
        before: Option<u64>,
        /// Print JSON for scripts instead of text for people.
        #[arg(long)]
        json: bool,
    },
    /// Undo the newest commit not yet undone, as a new commit (ids are not given back).
    #[command(after_help = "Example: lmstore undo sample -m \"back to the working version\"")]
    Undo {
        /// Program name or id.
        program: String,
        /// A message for the log.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Redo the newest undo, as a new commit; any other commit after an undo clears it.
    #[command(after_help = "Example: lmstore redo sample")]
    Redo {
        /// Program name or id.
        program: String,
        /// A message for the log.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// The program as it was at a revision (or tag): an export file, or a new program.
    #[command(
        after_help = "Examples:\n  lmstore checkout sample --revision 3 -o sample-3.json\n  lmstore checkout sample --revision good --as sample-good"
    )]
    Checkout {
        /// Program name or id.
        program: String,
        /// Revision number or tag name.
        #[arg(long)]
        revision: String,
        /// Write the export file here (standard output without it or --as).
        #[arg(short, long, conflicts_with = "new_name")]
        output: Option<PathBuf>,
        /// Store it as a new program of this name.
        #[arg(long = "as")]
        new_name: Option<String>,
    },
    /// Name a revision (the program's current one without --revision), list the tags, or delete one.
    #[command(
        after_help = "Examples:\n  lmstore tag sample good\n  lmstore tag sample v1 --revision 3\n  lmstore tag sample v1 --revision 5 --force\n  lmstore tag sample\n  lmstore tag sample v1 --delete\n  lmstore diff sample@v1 sample@good"
    )]
    Tag {
        /// Program name or id.
        program: String,
        /// The tag; without it, the tags are listed.
        name: Option<String>,
        /// Revision number or another tag.
        #[arg(long, requires = "name")]
        revision: Option<String>,
        /// Remove the tag.
        #[arg(long, conflicts_with = "revision", requires = "name")]
        delete: bool,
        /// Move the tag when it already names another revision.
        #[arg(long, conflicts_with = "delete", requires = "name")]
        force: bool,
    },
    /// Drop old history: entries older than a revision, or all but the newest COUNT.
    #[command(after_help = "Examples:\n  lmstore prune sample --keep 1000\n  lmstore prune sample --before 250")]
    Prune {
        /// Program name or id.
        program: String,
        /// Drop entries older than this revision.
        #[arg(long, conflicts_with = "keep", required_unless_present = "keep")]
        before: Option<u64>,
        /// Keep only this many newest entries (at least 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        keep: Option<u64>,
    },
    /// Delete a program and everything it owns.
    #[command(after_help = "Example: lmstore delete sample-copy")]
    Delete {
        /// Program name or id.
        program: String,
    },
    /// Apply pending schema migrations and print the schema version.
    #[command(after_help = "Example: lmstore migrate")]
    Migrate,
    /// Rebuild a PostgreSQL store's tables as hash partitions by program id (the layout
    /// a distributed PostgreSQL needs), keeping every row; in one transaction.
    #[command(after_help = "Example: lmstore --db postgres://app@db/app partition --partitions 8\n\
        Running it again with the same count does nothing.")]
    Partition {
        /// Partitions per table (1 to 256).
        #[arg(long)]
        partitions: u32,
    },
    /// Repack the database file (VACUUM): pages filled completely, free pages returned.
    /// Worth it after importing or deleting large programs; it copies the whole file.
    #[command(after_help = "Example: lmstore vacuum")]
    Vacuum,
    /// Write a consistent copy of the database file while others keep writing (SQLite
    /// `VACUUM INTO`): how to back up a live store. A copy of the file itself can miss
    /// the commits still in its WAL (and hand their ids out again), or be torn.
    #[command(after_help = "Example: lmstore backup /backups/lmlang-2026-12-07.db
        To restore: stop every process using the file, delete its -wal and -shm files,
        then put the copy in its place.")]
    Backup {
        /// Where the copy goes; it must not exist.
        dest: PathBuf,
    },
    /// Measure the figures of the design document beside the raw SQLite floor.
    #[command(after_help = "Example: lmstore bench --nodes 1000,10000,100000 --reps 5 --json bench.json")]
    Bench(crate::bench::BenchArgs),
    /// Long reliability runs: random kills of a writing process, readers against a writer.
    /// They use a temporary file, or with `--db postgres://...` a scratch schema on that
    /// server (dropped after), never the programs already there.
    #[command(
        after_help = "Examples:\n  lmstore soak crash --kills 200\n  lmstore soak concurrency --readers 4 --seconds 30\n  \
                      lmstore --db postgres://root@127.0.0.1/test soak crash --kills 50"
    )]
    Soak(crate::soak::SoakArgs),
}

/// A wait in seconds: finite, not negative, at most a day.
fn busy_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 86400 (given by --busy-timeout or LMLANG_BUSY_TIMEOUT)"
        )),
    }
}
