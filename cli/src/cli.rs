//! Command-line definitions (clap). Every command takes `--db` (or `LMLANG_DB`).

use clap::{Parser, Subcommand};
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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Store a hand-written sample and a generated 10k-node program, reload and check both.
    #[command(after_help = "Example: lmstore demo\nRunning it again replaces the two demo programs.")]
    Demo,
    /// Store a synthetic program from the benchmark generator.
    #[command(after_help = "Example: lmstore generate --nodes 100000 --name big --seed 7 --gaps")]
    Generate {
        /// Number of compute nodes.
        #[arg(long, default_value_t = 10_000)]
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
    /// Print the program root hash and every function's root hash.
    #[command(after_help = "Example: lmstore hash sample --json")]
    Hash {
        /// Program name or id.
        program: String,
        #[arg(long)]
        json: bool,
    },
    /// List functions added, removed and changed between two programs, or the nodes and
    /// edges that differ inside them (matched by content, not by id).
    #[command(
        after_help = "Examples:\n  lmstore diff sample sample-copy\n  lmstore diff sample exported.json --nodes\n  lmstore diff sample edited.json --function main"
    )]
    Diff {
        /// A stored program (name or id) or an exported file.
        a: String,
        /// A stored program (name or id) or an exported file.
        b: String,
        /// Nodes and edges added, removed and changed in this function (name or qualified name).
        #[arg(long, conflicts_with = "nodes")]
        function: Option<String>,
        /// Nodes and edges added, removed and changed in every changed function.
        #[arg(long)]
        nodes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a program (or one function) as a Graphviz DOT picture, or render it with Graphviz.
    #[command(
        after_help = "Examples:\n  lmstore dot sample --function main --svg main.svg\n  lmstore dot sample -o sample.dot\n  lmstore dot sample | dot -Tpng -o sample.png\n\nData edges are solid and labelled `source port -> operand slot  type`; control edges\nare dashed, labelled with their branch index; the entry node has a double border."
    )]
    Dot {
        /// A stored program (name or id) or an exported file.
        program: String,
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
        #[arg(long)]
        json: bool,
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
    /// Repack the database file (VACUUM): pages filled completely, free pages returned.
    /// Worth it after importing or deleting large programs; it copies the whole file.
    #[command(after_help = "Example: lmstore vacuum")]
    Vacuum,
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
