//! `list`, `show`, `delete`, `migrate`, and resolving a PROGRAM argument.

use crate::db::Db;
use crate::output::{Progress, outln, print_json, print_table};
use crate::{CmdResult, Failure};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::FunctionId;
use lmlang_storage::store::{DatabaseErrorKind, ProgramId, ProgramSummary, StorageError};
use serde::Serialize;
use std::process::ExitCode;

/// A program named by name, or by id when no program has that name and it is a number.
/// Refuses a name for a new program that `lmstore` could not name back: `@` separates a
/// program from a revision (`PROGRAM@REV`), so `sample@2` would read as revision 2 of
/// `sample`. (The library itself takes any name.)
pub fn check_new_name(name: &str) -> Result<(), Failure> {
    if name.contains('@') {
        return Err(Failure::new(format!(
            "{name:?} contains '@', which lmstore reads as PROGRAM@REVISION; choose a name without it"
        )));
    }
    if name.strip_prefix('#').is_some_and(|rest| rest.parse::<i64>().is_ok()) {
        return Err(Failure::new(format!("{name:?} reads as a program id (#ID); choose another name")));
    }
    Ok(())
}

pub fn resolve(store: &Db, program: &str) -> Result<ProgramId, Failure> {
    resolve_as(store, program, true)
}

/// [`resolve`] for a command that changes the program: a bare number that names no
/// program is refused rather than taken as an id, so repeating `lmstore delete 1` after
/// it deleted the program named "1" does not delete program #1 as well. `#N` always
/// means the id.
pub fn resolve_to_change(store: &Db, program: &str) -> Result<ProgramId, Failure> {
    resolve_as(store, program, false)
}

fn resolve_as(store: &Db, program: &str, bare_ids: bool) -> Result<ProgramId, Failure> {
    // `#N` is the id, even where a program is named "#N" (another tool may have made
    // one): the command then says whether program N exists.
    if let Some(n) = program.strip_prefix('#').and_then(|rest| rest.parse::<i64>().ok()) {
        return Ok(ProgramId(n));
    }
    match store.find_program(program) {
        Ok(id) => Ok(id),
        Err(StorageError::ProgramNotFound(_)) => {
            if let Ok(n) = program.parse::<i64>()
                && may_exist(store, ProgramId(n))?
            {
                if bare_ids {
                    return Ok(ProgramId(n));
                }
                return Err(Failure::new(format!(
                    "no program named {program:?}; to change program #{n} by its id, write #{n}"
                )));
            }
            Err(Failure::new(format!("no program named {program:?}; `lmstore list` shows the stored programs")))
        }
        Err(e) => Err(e.into()),
    }
}

/// One program's row of the listing: `None` when it does not exist, or when its own row
/// is damaged (another program's damaged row does not hide it). Read from that
/// program's rows alone, so a command on one program costs the same in a database of
/// ten programs or of a hundred thousand.
pub fn listed(store: &Db, id: ProgramId) -> Result<Option<ProgramSummary>, Failure> {
    match store.program_summary(id) {
        Ok(summary) => Ok(Some(summary)),
        Err(StorageError::ProgramNotFound(_) | StorageError::Corrupt { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a program with this id exists, its row damaged or not: a damaged program
/// must not lock the user out of deleting it.
fn may_exist(store: &Db, id: ProgramId) -> Result<bool, Failure> {
    match store.program_summary(id) {
        Ok(_) | Err(StorageError::Corrupt { .. }) => Ok(true),
        Err(StorageError::ProgramNotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A program as `list` shows it. Name, counts and revision are `None` (JSON `null`)
/// when the program's own row is damaged: they come from that row.
#[derive(Serialize)]
struct ListedProgram {
    id: i64,
    name: Option<String>,
    functions: Option<u64>,
    nodes: Option<u64>,
    edges: Option<u64>,
    revision: Option<u64>,
    /// `None` when the program cannot be loaded (`damage` says why).
    root_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    damage: Option<String>,
}

/// Every program of the store as `list` shows it; a program whose rows are damaged is
/// listed as such, and the others still are.
fn listed_programs(store: &Db) -> Result<Vec<ListedProgram>, Failure> {
    let mut listed = Vec::new();
    for (id, summary) in store.list_programs_each()? {
        let summary = match summary {
            Err(e @ StorageError::Corrupt { .. }) => {
                listed.push(ListedProgram {
                    id: id.0,
                    name: None,
                    functions: None,
                    nodes: None,
                    edges: None,
                    revision: None,
                    root_hash: None,
                    damage: Some(e.to_string()),
                });
                continue;
            }
            summary => summary?,
        };
        let (root_hash, damage) = match store.load_program(id) {
            // Deleted by another process since it was listed.
            Err(StorageError::ProgramNotFound(_)) => continue,
            Err(e @ StorageError::Corrupt { .. }) => (None, Some(e.to_string())),
            loaded => (Some(loaded?.hashes().program().to_hex()), None),
        };
        listed.push(ListedProgram {
            id: id.0,
            name: Some(summary.name),
            functions: Some(summary.functions),
            nodes: Some(summary.nodes),
            edges: Some(summary.edges),
            revision: Some(summary.revision),
            root_hash,
            damage,
        });
    }
    Ok(listed)
}

/// `lmstore list`; `store` is `None` for an empty file, which holds no programs.
pub fn list(store: Option<&Db>, json: bool, db: &std::path::Path) -> CmdResult {
    let listed = match store {
        Some(store) => listed_programs(store)?,
        None => Vec::new(),
    };
    if json {
        print_json(&listed)?;
    } else if listed.is_empty() {
        outln!("no programs yet; `lmstore --db {} demo` stores two", db.display())?;
    } else {
        // What a damaged program row could not say is shown as `?`.
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "?".to_string());
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|p| {
                vec![
                    p.id.to_string(),
                    or_unknown(p.name.clone()),
                    or_unknown(p.functions.map(|n| n.to_string())),
                    or_unknown(p.nodes.map(|n| n.to_string())),
                    or_unknown(p.edges.map(|n| n.to_string())),
                    p.root_hash.as_ref().map_or_else(|| "(damaged)".to_string(), |h| h[..16].to_string()),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "FUNCTIONS", "NODES", "EDGES", "ROOT HASH"], &rows)?;
    }
    let damaged: Vec<&ListedProgram> = listed.iter().filter(|p| p.damage.is_some()).collect();
    for p in &damaged {
        let named = p.name.as_deref().map(|n| format!(" ({})", crate::output::escape_controls(n))).unwrap_or_default();
        crate::output::errln!(
            "lmstore: program #{}{named} is damaged: {}; `lmstore delete '#{}'` removes it",
            p.id,
            p.damage.as_deref().unwrap_or_default(),
            p.id
        );
    }
    Ok(if damaged.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A function by plain or qualified name (the first of several sharing a plain name:
/// for names the tool itself found, such as a diff's; see [`named_function`] for a
/// name the user gave).
pub fn find_function(g: &ProgramGraph, name: &str) -> Option<FunctionId> {
    by_qualified_name(g, name).or_else(|| g.functions().find(|f| f.name == name).map(|f| f.id))
}

fn by_qualified_name(g: &ProgramGraph, name: &str) -> Option<FunctionId> {
    g.functions().find(|f| g.qualified_name(f.id).as_deref() == Some(name)).map(|f| f.id)
}

/// The function a user named in `program`: by qualified name, or by a plain name that
/// one function alone has. A plain name several functions share is refused with their
/// qualified names, rather than answered with whichever comes first.
pub fn named_function(g: &ProgramGraph, name: &str, program: &str) -> Result<Option<FunctionId>, Failure> {
    if let Some(f) = by_qualified_name(g, name) {
        return Ok(Some(f));
    }
    let plain: Vec<FunctionId> = g.functions().filter(|f| f.name == name).map(|f| f.id).collect();
    match plain.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        several => {
            let names: Vec<String> = several.iter().map(|&f| g.notation().function_name(f)).collect();
            Err(Failure::new(format!(
                "{} functions of {program} are named {name:?} ({}); give the qualified name",
                several.len(),
                crate::output::escape_controls(&names.join(", "))
            )))
        }
    }
}

pub fn show(store: &Db, program: &str, function: Option<&str>, json: bool) -> CmdResult {
    let id = resolve(store, program)?;
    let g = store.load_program(id)?;
    match function {
        None => crate::show::show_program(&g, json),
        Some(name) => {
            let f = named_function(&g, name, program)?.ok_or_else(|| {
                Failure::new(format!("no function {name:?} in {program}; `lmstore show {program}` lists them"))
            })?;
            crate::show::show_function(&g, f, json)
        }
    }
}

pub fn delete(store: &Db, program: &str) -> CmdResult {
    let id = resolve_to_change(store, program)?;
    // The name is for the message only: a damaged listing leaves it out.
    let name = listed(store, id).ok().flatten().map(|p| p.name);
    match store.delete_program(id) {
        Ok(()) => {}
        // Our own rows cascade; a row of another application's table that refers to
        // the program (a service's foreign key) is what refuses.
        Err(StorageError::Database { kind: DatabaseErrorKind::ForeignKeyViolation, .. }) => {
            return Err(Failure::new(format!(
                "{} is still referred to by rows of another application's tables (a foreign key on \
                 lmlang_programs); nothing was deleted: delete or change those rows first",
                crate::output::escape_controls(program)
            )));
        }
        Err(e) => return Err(e.into()),
    }
    match name {
        Some(name) => outln!("deleted {} (#{})", crate::output::escape_controls(&name), id.0)?,
        None => outln!("deleted #{}", id.0)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn migrate(store: &Db) -> CmdResult {
    // Opening the store already applied pending migrations.
    outln!("schema version {}", store.schema_version()?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn partition(store: &Db, partitions: u32) -> CmdResult {
    let moved = store.partition_by_program(partitions)?;
    outln!("tables partitioned by program into {partitions} partitions each; {moved} rows moved")?;
    Ok(ExitCode::SUCCESS)
}

pub fn backup(store: &Db, dest: &std::path::Path) -> CmdResult {
    let progress = Progress::steps(1);
    progress.step(format!("copying to {}", dest.display()));
    store.backup_to(dest)?;
    progress.finish();
    let bytes = std::fs::metadata(dest).map(|m| m.len())?;
    outln!("{} written ({bytes} bytes): every program and its history as of one moment", dest.display())?;
    Ok(ExitCode::SUCCESS)
}

pub fn vacuum(store: &Db) -> CmdResult {
    let before = store.database_bytes()?;
    let progress = Progress::steps(1);
    progress.step(format!("repacking {before} bytes"));
    store.vacuum()?;
    progress.finish();
    let after = store.database_bytes()?;
    outln!("{before} bytes before, {after} after")?;
    Ok(ExitCode::SUCCESS)
}
