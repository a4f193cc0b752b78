//! `hash`, `diff` and `verify`.

use crate::db::Db;
use crate::node_diff::{self, FunctionNodeDiff};
use crate::output::{Progress, outln, print_json, print_table};
use crate::programs::{find_function, resolve};
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::hash;
use lmlang_storage::store::{ProgramSummary, StorageError};
use serde::Serialize;
use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

#[derive(Serialize)]
struct HashView {
    program: String,
    functions: Vec<(String, String)>,
}

pub fn hash(store: &Db, program: &str, json: bool) -> CmdResult {
    let g = store.load_program(resolve(store, program)?)?;
    let mut functions: Vec<(String, String)> = g
        .functions()
        .map(|f| {
            (
                g.qualified_name(f.id).unwrap_or_default(),
                g.hashes().function(f.id).map(|h| h.to_hex()).unwrap_or_default(),
            )
        })
        .collect();
    functions.sort();
    let view = HashView { program: g.hashes().program().to_hex(), functions };
    if json {
        print_json(&view)?;
    } else {
        outln!("program  {}", view.program)?;
        let rows: Vec<Vec<String>> = view.functions.iter().map(|(n, h)| vec![n.clone(), h.clone()]).collect();
        print_table(&["FUNCTION", "ROOT HASH"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a command that reads programs or files can go without a database: no
/// SQLite database exists at `db` and every argument names a file, so comparing or
/// drawing two exports needs no store (and creates none).
pub fn files_without_database(db: &Path, postgres: bool, args: &[&OsStr]) -> bool {
    !postgres
        && std::fs::symlink_metadata(db).is_err()
        && args.iter().all(|a| crate::transfer::names_a_readable_file(Path::new(a)))
}

/// A stored program, `PROGRAM@REVISION` or `PROGRAM@TAG` as it was then, or an
/// exported file when a file exists at that path.
///
/// A name that is both is refused rather than guessed: a stale export or a note left
/// under a program's name must not be read in the program's place, nor hide it.
/// `./NAME` then picks the file and `#ID` the program.
///
/// Without a store (no database exists, and every argument of the command is a file:
/// see [`files_without_database`]) only files are read, and so is a path that is not
/// UTF-8, which no program's name can be.
pub fn program_or_file(store: Option<&Db>, what: &OsStr) -> Result<ProgramGraph, Failure> {
    let path = Path::new(what);
    let (Some(store), Some(what)) = (store, what.to_str()) else {
        return crate::transfer::read_export(path).map(|(_, g)| g);
    };
    if crate::transfer::names_a_readable_file(path) {
        let stored = match resolve(store, what) {
            Ok(id) => Some(format!("#{}", id.0)),
            Err(_) => what.rsplit_once('@').and_then(|(p, at)| Some(format!("#{}@{at}", resolve(store, p).ok()?.0))),
        };
        if let Some(stored) = stored {
            return Err(Failure::new(format!(
                "{what:?} is both a stored program and a file here; write {} for the file or {stored} for the \
                 program",
                Path::new(".").join(path).display()
            )));
        }
        return crate::transfer::read_export(path).map(|(_, g)| g);
    }
    match resolve(store, what) {
        Ok(id) => Ok(store.load_program(id)?),
        Err(not_found) => crate::history::program_at(store, what)?.ok_or(not_found),
    }
}

/// The function-level summary, and with `function` or `nodes` the node-level diff of
/// that function or of every changed one.
#[derive(Serialize)]
struct NodeLevelDiff {
    #[serde(flatten)]
    summary: hash::ProgramDiff,
    functions: Vec<FunctionNodeDiff>,
}

pub fn diff(store: Option<&Db>, a: &OsStr, b: &OsStr, function: Option<&str>, nodes: bool, json: bool) -> CmdResult {
    let (ga, gb) = (program_or_file(store, a)?, program_or_file(store, b)?);
    let (a, b) = (&*a.to_string_lossy(), &*b.to_string_lossy());
    let summary = hash::diff(&ga, &gb);
    let functions = match function {
        Some(name) => vec![diff_named_function(&ga, &gb, name, a, b)?],
        None if nodes => summary
            .changed
            .iter()
            .map(|name| {
                let (fa, fb) = (find_function(&ga, name), find_function(&gb, name));
                node_diff::diff_function(name, &ga, fa, &gb, fb)
            })
            .collect(),
        None => Vec::new(),
    };
    let detailed = function.is_some() || nodes;
    if json {
        if detailed {
            print_json(&NodeLevelDiff { summary, functions })?;
        } else {
            print_json(&summary)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match function {
        Some(_) => functions.iter().try_for_each(|f| print_function(if f.is_empty() { "=" } else { "~" }, f))?,
        None => print_summary(&ga, &summary, &functions)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `~ app::main` and, indented below it, what changed inside.
fn print_function(mark: &str, f: &FunctionNodeDiff) -> Result<(), Failure> {
    outln!("{mark} {}", f.name)?;
    if f.is_empty() {
        outln!("    same nodes and edges")?;
    }
    for line in f.lines() {
        outln!("    {line}")?;
    }
    Ok(())
}

fn print_summary(ga: &ProgramGraph, d: &hash::ProgramDiff, details: &[FunctionNodeDiff]) -> Result<(), Failure> {
    if d.is_empty() {
        return outln!("no differences (root hash {})", ga.hashes().program().to_hex());
    }
    for name in &d.added {
        outln!("+ {name}")?;
    }
    for name in &d.removed {
        outln!("- {name}")?;
    }
    for name in &d.changed {
        match details.iter().find(|f| &f.name == name) {
            Some(f) => print_function("~", f)?,
            None => outln!("~ {name}")?,
        }
    }
    if d.types_differ {
        outln!("~ named types differ")?;
    }
    if d.modules_differ {
        outln!("~ modules differ")?;
    }
    Ok(())
}

/// The node-level diff of the function called `name` (plain or qualified) in either
/// program, matched across the two by qualified name.
fn diff_named_function(
    ga: &ProgramGraph,
    gb: &ProgramGraph,
    name: &str,
    a: &str,
    b: &str,
) -> Result<FunctionNodeDiff, Failure> {
    let in_a = crate::programs::named_function(ga, name, a)?.map(|f| ga.notation().function_name(f));
    let qualified =
        match in_a {
            Some(q) => q,
            None => crate::programs::named_function(gb, name, b)?.map(|f| gb.notation().function_name(f)).ok_or_else(
                || Failure::new(format!("no function {name:?} in {a} or {b}; `lmstore show {a}` lists them")),
            )?,
        };
    let (fa, fb) = (find_function(ga, &qualified), find_function(gb, &qualified));
    Ok(node_diff::diff_function(&qualified, ga, fa, gb, fb))
}

#[derive(Serialize, Default)]
struct VerifyReport {
    integrity_check: Vec<String>,
    foreign_key_check: Vec<String>,
    /// The program rows that could not be read (damaged), one line each; the programs
    /// themselves are still checked, and so is the file. Always present (empty when
    /// every row reads), so a script finds the same keys in every report.
    listing: Vec<String>,
    programs: Vec<ProgramCheck>,
    ok: bool,
}

#[derive(Serialize)]
struct ProgramCheck {
    name: String,
    violations: Vec<String>,
    reload_equal: bool,
    hashes_consistent: bool,
    /// The program row's counts against the program as loaded; `None` when another
    /// process wrote to it while it was checked, or it did not load.
    stored_counts: Option<CountsCheck>,
    /// `None` (JSON `null`, as in `list --json`) when the program did not load.
    root_hash: Option<String>,
    /// Where the program's history disagrees with it (empty when it agrees, or the
    /// program has no history); see `history_problems`.
    history: Vec<String>,
}

/// The counts a listing shows (kept in the program's row by every write) against the
/// program as loaded.
#[derive(Serialize)]
struct CountsCheck {
    stored: [u64; 4],
    loaded: [u64; 4],
}

impl CountsCheck {
    fn matches(&self) -> bool {
        self.stored == self.loaded
    }
}

/// Modules, functions, nodes and edges.
fn counts_of_summary(p: &ProgramSummary) -> [u64; 4] {
    [p.modules, p.functions, p.nodes, p.edges]
}

fn counts_of_graph(g: &ProgramGraph) -> [u64; 4] {
    [g.modules().len() as u64, g.function_count() as u64, g.node_count() as u64, g.edge_count() as u64]
}

/// What a file check found, where a file too damaged for the check itself to run is
/// one finding (SQLite's own words for it), not the end of `verify`.
fn findings(checked: Result<Vec<String>, StorageError>) -> Result<Vec<String>, Failure> {
    match checked {
        Ok(found) => Ok(found),
        Err(e @ StorageError::Corrupt { .. }) => Ok(vec![e.to_string()]),
        Err(e) => Err(e.into()),
    }
}

impl ProgramCheck {
    /// A program that could not be loaded (or named), and why.
    fn unloaded(name: String, why: String) -> Self {
        ProgramCheck {
            name,
            violations: vec![why],
            reload_equal: false,
            hashes_consistent: false,
            stored_counts: None,
            root_hash: None,
            history: Vec::new(),
        }
    }

    fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.reload_equal
            && self.hashes_consistent
            && self.stored_counts.as_ref().is_none_or(CountsCheck::matches)
            && self.history.is_empty()
    }
}

/// Where the program's history disagrees with the program at `revision`. The newest
/// entry cannot be of a later revision, and when it records the program's own revision
/// its root must be the program's root; then the history is replayed back to the
/// oldest entry reachable without a gap, which decodes every delta on the way and
/// checks the root recorded at that end (roots recorded in between are not
/// recomputed: a checkout of such a revision checks its own). Commits made with
/// recording off have no entry, and pruned ones none left: the replay stops there.
fn history_problems(
    store: &Db,
    id: lmlang_storage::store::ProgramId,
    g: &lmlang_storage::graph::ProgramGraph,
    revision: Option<u64>,
) -> Result<Vec<String>, Failure> {
    let Some(revision) = revision else { return Ok(Vec::new()) };
    let newest = match store.log(id, lmlang_storage::store::LogPage { before: None, limit: 1 }) {
        Ok(entries) => entries,
        Err(StorageError::ProgramNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Ok(vec![format!("its history cannot be read: {e}")]),
    };
    let Some(newest) = newest.first() else { return Ok(Vec::new()) };
    let root = g.hashes().program();
    if newest.revision > revision {
        return Ok(vec![format!(
            "history records revision {}, past the program's revision {revision}",
            newest.revision
        )]);
    }
    if newest.revision < revision {
        // The latest commits were made with recording off: nothing to replay from here.
        return Ok(Vec::new());
    }
    if newest.root != root {
        return Ok(vec![format!(
            "history records root {} for revision {revision}; the program's root is {}",
            newest.root.to_hex(),
            root.to_hex()
        )]);
    }
    // Replaying back to the oldest entry that can be reached decodes and applies every
    // delta on the way, and checks the root recorded there (`load_at` does both): a
    // damaged delta shows here rather than at the next checkout or undo. It costs about
    // a load and a whole hash of the program, plus the deltas.
    let oldest = match oldest_reachable(store, id, revision) {
        Ok(oldest) if oldest == revision => return Ok(Vec::new()),
        Ok(oldest) => oldest,
        Err(e) => return Ok(vec![format!("its history cannot be read: {e}")]),
    };
    Ok(match store.load_at(id, oldest) {
        Ok(_) => Vec::new(),
        Err(StorageError::ProgramNotFound(_)) => Vec::new(),
        Err(e) => vec![format!("its history does not replay back to revision {oldest}: {e}")],
    })
}

/// The oldest revision the log holds without a gap down from `revision` (a commit made
/// with recording off, or pruned, ends the run: checkout cannot step back across it).
fn oldest_reachable(store: &Db, id: lmlang_storage::store::ProgramId, revision: u64) -> Result<u64, StorageError> {
    let mut oldest = revision;
    loop {
        let page = store.log(id, lmlang_storage::store::LogPage { before: Some(oldest), limit: 1000 })?;
        if page.is_empty() {
            return Ok(oldest);
        }
        for entry in &page {
            if entry.revision + 1 != oldest {
                return Ok(oldest);
            }
            oldest = entry.revision;
        }
    }
}

pub fn verify(store: &Db, program: Option<&str>, json: bool) -> CmdResult {
    // A program whose own row is damaged is still checked (its stored counts are not
    // compared), and the damage is reported under `listing`. Returns the ids listed,
    // the summaries the rows gave, and the damage of the others.
    // The damage of one program's row is `(Some(id), ..)`; a listing that cannot be
    // read at all (a torn copy of a file) is `(None, ..)`, and the file's own checks,
    // which say where it is damaged, still run.
    let listing = || -> Result<_, Failure> {
        let (mut ids, mut summaries, mut damage) = (Vec::new(), Vec::new(), Vec::new());
        let each = match store.list_programs_each() {
            Ok(each) => each,
            Err(e @ StorageError::Corrupt { .. }) => {
                damage.push((None, format!("the programs cannot be listed: {e}")));
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        for (id, summary) in each {
            ids.push(id);
            match summary {
                Ok(s) => summaries.push(s),
                Err(e @ StorageError::Corrupt { .. }) => damage.push((Some(id), e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        Ok((ids, summaries, damage))
    };
    let (all, programs, listing_damage) = listing()?;
    let mut unresolved = None;
    let ids = match program.map(|p| resolve(store, p)) {
        Some(Ok(id)) => vec![id],
        // Its name cannot be looked up in a damaged file: reported as its check.
        Some(Err(failure)) if listing_damage.iter().any(|(id, _)| id.is_none()) => {
            unresolved = Some(failure.message);
            Vec::new()
        }
        Some(Err(failure)) => return Err(failure),
        None => all,
    };
    // Asked for one program, only its own row's damage counts (and the listing's).
    let wanted: std::collections::HashSet<_> = ids.iter().copied().collect();
    let listing_damage =
        listing_damage.into_iter().filter(|(id, _)| id.is_none_or(|id| wanted.contains(&id))).map(|(_, d)| d).collect();
    let listed: std::collections::HashMap<_, _> = programs.into_iter().map(|p| (p.id, p)).collect();
    // Two steps for the database checks, one per program.
    let progress = Progress::items(ids.len() as u64 + 2);
    progress.step("integrity_check");
    let integrity_check = findings(store.integrity_check())?;
    progress.step("foreign_key_check");
    let mut report = VerifyReport {
        integrity_check,
        foreign_key_check: findings(store.foreign_key_check())?,
        listing: listing_damage,
        ..Default::default()
    };
    if let (Some(name), Some(why)) = (program, unresolved) {
        report.programs.push(ProgramCheck::unloaded(name.to_string(), why));
    }
    let mut checked = Vec::new();
    for id in ids {
        let name =
            listed.get(&id).map_or_else(|| program.map_or_else(|| id.to_string(), str::to_string), |p| p.name.clone());
        progress.step(format!("checking {name}"));
        let check = match store.load_program(id) {
            // Deleted by another process since it was listed: nothing left to check.
            Err(StorageError::ProgramNotFound(_)) if program.is_none() => continue,
            Err(e) => ProgramCheck::unloaded(name, e.to_string()),
            Ok(g) => {
                let again = match store.load_program(id) {
                    Err(StorageError::ProgramNotFound(_)) if program.is_none() => continue,
                    Err(e @ StorageError::Corrupt { .. }) => {
                        report.programs.push(ProgramCheck::unloaded(name, format!("a second load failed: {e}")));
                        checked.push(id);
                        continue;
                    }
                    again => again?,
                };
                let reload_equal = again == g && again.hashes().program() == g.hashes().program();
                // Freed before the history replay, which loads the program once more.
                drop(again);
                ProgramCheck {
                    name,
                    violations: g.validate().iter().map(|v| g.notation().violation(v)).collect(),
                    reload_equal,
                    hashes_consistent: hash::verify_index(&g),
                    stored_counts: listed
                        .get(&id)
                        .map(|p| CountsCheck { stored: counts_of_summary(p), loaded: counts_of_graph(&g) }),
                    root_hash: Some(g.hashes().program().to_hex()),
                    history: history_problems(store, id, &g, listed.get(&id).map(|p| p.revision))?,
                }
            }
        };
        report.programs.push(check);
        checked.push(id);
    }
    progress.finish();
    // The counts and the two loads compare only for programs no other process wrote
    // to meanwhile (the same revision before and after every load): a write in
    // between makes them differ with nothing wrong.
    let after: std::collections::HashMap<_, _> = listing()?.1.into_iter().map(|p| (p.id, p.revision)).collect();
    for (id, check) in checked.iter().zip(report.programs.iter_mut()) {
        if listed.get(id).map(|p| p.revision) != after.get(id).copied() {
            check.stored_counts = None;
            check.reload_equal |= check.root_hash.is_some();
            check.history.clear();
        }
    }
    report.ok = report.integrity_check.is_empty()
        && report.foreign_key_check.is_empty()
        && report.listing.is_empty()
        && report.programs.iter().all(ProgramCheck::passed);
    if json {
        print_json(&report)?;
    } else {
        let status = |ok: bool| if ok { "ok" } else { "FAILED" };
        if !store.checks_its_files() {
            outln!("integrity_check    n/a (the server checks its own pages)")?;
            outln!("foreign_key_check  n/a (the server enforces every key)")?;
        } else {
            outln!("integrity_check    {}", status(report.integrity_check.is_empty()))?;
            for p in &report.integrity_check {
                outln!("  {p}")?;
            }
            outln!("foreign_key_check  {}", status(report.foreign_key_check.is_empty()))?;
            for p in &report.foreign_key_check {
                outln!("  {p}")?;
            }
        }
        if !report.listing.is_empty() {
            outln!("program rows       FAILED")?;
            for p in &report.listing {
                outln!("  {}", crate::output::escape_controls(p))?;
            }
        }
        for p in &report.programs {
            outln!("program {:<20} {}", crate::output::escape_controls(&p.name), status(p.passed()))?;
            for v in &p.violations {
                outln!("  {v}")?;
            }
            // A program that did not load has no second load or hashes to compare.
            let loaded = p.root_hash.is_some();
            if loaded && !p.reload_equal {
                outln!("  a second load differs from the first")?;
            }
            if loaded && !p.hashes_consistent {
                outln!("  maintained hashes differ from a full recomputation")?;
            }
            for problem in &p.history {
                outln!("  {problem}")?;
            }
            if let Some(c) = p.stored_counts.as_ref().filter(|c| !c.matches()) {
                let [m, f, n, e] = c.stored;
                let [lm, lf, ln, le] = c.loaded;
                outln!(
                    "  the program row counts {m} modules, {f} functions, {n} nodes, {e} edges; \
                     the program has {lm}, {lf}, {ln}, {le}"
                )?;
            }
        }
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
