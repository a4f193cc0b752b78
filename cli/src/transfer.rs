//! `export` and `import`: the versioned JSON document.
//!
//! The file wraps the library's `ProgramDocument` (which carries its own format
//! version, explicit ids and next ids) with the program's name, its root hash, and the
//! holes in the id space spelled out, so a reader sees deletions without computing them.
//! It also records the revision it was exported at, which is what `save` checks: any
//! commit since then moves the revision, even one that leaves the root hash unchanged.

use crate::db::Db;
use crate::output::{Progress, escape_controls, outln};
use crate::programs::resolve;
use crate::{CmdResult, Failure};
use lmlang_storage::graph::{ProgramDocument, ProgramGraph};
use lmlang_storage::hash::{ContentHash, HASH_ALGORITHM_VERSION};
use lmlang_storage::store::{LogPage, StorageError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;

/// Version of the export envelope.
pub const EXPORT_FORMAT_VERSION: u32 = 1;

/// Ids below the next ids that no live entity has.
#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
pub struct Holes {
    pub nodes: Vec<u32>,
    pub edges: Vec<u32>,
}

/// An exported program.
#[derive(Serialize, Deserialize)]
pub struct ExportFile {
    pub export_format_version: u32,
    pub name: String,
    /// Parsed, not kept as text: a hostile file's root must not reach messages (which
    /// print it) as anything but hex.
    pub root_hash: ContentHash,
    /// The content-hash algorithm `root_hash` was computed with; files written before
    /// the field existed used version 2.
    #[serde(default = "hash_algorithm_of_unversioned_exports")]
    pub hash_algorithm_version: u32,
    /// The program's revision the file was exported at (for `checkout`, the revision
    /// checked out). `save` refuses the file when the program is at another one.
    /// Files written before the field existed lack it; `save` then compares root
    /// hashes, which miss an edit that leaves the root unchanged (a type nothing uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub holes: Holes,
    pub program: ProgramDocument,
}

fn hash_algorithm_of_unversioned_exports() -> u32 {
    2
}

fn holes(doc: &ProgramDocument) -> Holes {
    let missing = |live: Vec<u32>, next: u32| {
        let mut out = Vec::new();
        let mut it = live.into_iter().peekable();
        for id in 0..next {
            if it.peek() == Some(&id) {
                it.next();
            } else {
                out.push(id);
            }
        }
        out
    };
    Holes {
        nodes: missing(doc.nodes.iter().map(|n| n.id.0).collect(), doc.next_ids.node),
        edges: missing(doc.edges.iter().map(|e| e.id.0).collect(), doc.next_ids.edge),
    }
}

pub fn export(store: &Db, program: &str, output: Option<&Path>) -> CmdResult {
    let id = resolve(store, program)?;
    // Unlisted (its own program row is damaged), the name is the one the user gave
    // (none for `#ID`).
    let name = crate::programs::listed(store, id)?
        .map(|p| p.name)
        .unwrap_or_else(|| if program.starts_with('#') { String::new() } else { program.to_string() });
    let progress = Progress::steps(3);
    progress.step(format!("loading {program}"));
    let (g, revision) = store.load_program_with_revision(id)?;
    write_export(&g, revision, name, program, output, progress)
}

/// Writes `g`, the program at `revision`, as an export file to `output` (stdout when
/// `None`), finishing the steps `progress` counts (the one loading `g` done).
pub fn write_export(
    g: &ProgramGraph,
    revision: u64,
    name: String,
    program: &str,
    output: Option<&Path>,
    progress: Progress,
) -> CmdResult {
    progress.step(format!("encoding {} nodes and {} edges", g.node_count(), g.edge_count()));
    let doc = g.to_document();
    let file = ExportFile {
        export_format_version: EXPORT_FORMAT_VERSION,
        name,
        root_hash: g.hashes().program(),
        hash_algorithm_version: HASH_ALGORITHM_VERSION,
        revision: Some(revision),
        holes: holes(&doc),
        program: doc,
    };
    let text = serde_json::to_string_pretty(&file)?;
    match output {
        Some(path) => {
            progress.step(format!("writing {} bytes to {}", text.len(), path.display()));
            crate::output::write_atomically(path, (text + "\n").as_bytes())?;
            progress.finish();
            crate::output::errln!("exported {program} to {}", path.display());
        }
        None => {
            // The bar goes first so that it never shares a terminal line with the document.
            progress.finish();
            crate::output::write_json(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How the holes a file lists differ from the ids it lacks, one problem per kind of
/// difference, each with its first few ids and what to change: a file edited by hand
/// (a node deleted, its edges with it) must say which ids it disagrees about.
///
/// Worked out from the sorted lists of live ids and listed holes alone, never from
/// every id below the next one: a small file may claim a next id of millions, and
/// its answer must cost what the file does.
fn hole_mismatches(listed: &Holes, doc: &ProgramDocument) -> Vec<String> {
    let live_nodes = sorted(doc.nodes.iter().map(|n| n.id.0));
    let live_edges = sorted(doc.edges.iter().map(|e| e.id.0));
    let mut problems = Vec::new();
    for (kind, field, listed, live, next) in [
        ("node", "nodes", &listed.nodes, &live_nodes, doc.next_ids.node),
        ("edge", "edges", &listed.edges, &live_edges, doc.next_ids.edge),
    ] {
        // Compared sorted and without repeats: a hand-edited list may be out of order.
        let listed = sorted(listed.iter().copied());
        let unlisted = uncovered(live, &listed, next);
        let present = FirstFew::of(listed.iter().copied().filter(|id| *id < next && live.binary_search(id).is_ok()));
        let beyond = FirstFew::of(listed.iter().copied().filter(|&id| id >= next));
        if unlisted.count > 0 {
            problems.push(format!(
                "{kind} ids missing from the file but not listed as holes: {unlisted}; to delete those {field}, \
                 list their ids under \"holes\", in \"{field}\""
            ));
        }
        if present.count > 0 {
            problems.push(format!(
                "{kind} ids listed as holes but present in the file: {present}; take them out of \"holes\", \
                 \"{field}\" (or delete those {field} from the file too)"
            ));
        }
        if beyond.count > 0 {
            problems.push(format!(
                "{kind} ids listed as holes at or past next_ids.{kind} ({next}): {beyond}; take them out of \
                 \"holes\", \"{field}\""
            ));
        }
    }
    problems
}

/// `ids` in ascending order, each once.
fn sorted(ids: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut ids: Vec<u32> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The ids below `next` in neither sorted list (neither live nor listed as a hole),
/// found from the gaps between the ids the lists do hold: time and memory follow the
/// lists' lengths, not `next`.
fn uncovered(live: &[u32], listed: &[u32], next: u32) -> FirstFew {
    let covered = sorted(live.iter().chain(listed).copied().filter(|&id| id < next));
    let mut few = FirstFew::default();
    let mut from = 0;
    for id in covered {
        few.add_range(from, u64::from(id));
        from = u64::from(id) + 1;
    }
    few.add_range(from, u64::from(next));
    few
}

/// The first few ids of a kind of problem, and how many there are in all.
#[derive(Default, Debug, PartialEq)]
struct FirstFew {
    shown: Vec<u32>,
    count: u64,
}

impl FirstFew {
    /// How many ids a message shows.
    const SHOWN: usize = 5;

    fn of(ids: impl Iterator<Item = u32>) -> Self {
        let mut few = FirstFew::default();
        for id in ids.map(u64::from) {
            few.add_range(id, id + 1);
        }
        few
    }

    /// Counts the ids `from..to` (ascending, after those already added), keeping the
    /// first few.
    fn add_range(&mut self, from: u64, to: u64) {
        let room = Self::SHOWN - self.shown.len();
        self.shown.extend((from..to).take(room).filter_map(|id| u32::try_from(id).ok()));
        self.count += to.saturating_sub(from);
    }
}

impl std::fmt::Display for FirstFew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.shown.iter().map(u32::to_string).collect();
        match self.count.saturating_sub(self.shown.len() as u64) {
            0 => write!(f, "{}", shown.join(", ")),
            more => write!(f, "{} and {more} more", shown.join(", ")),
        }
    }
}

/// Reads and checks an export file: the graph, or every problem found.
pub fn read_export(path: &Path) -> Result<(String, ProgramGraph), Failure> {
    read_export_with_origin(path).map(|(name, g, _)| (name, g))
}

/// What an export file recorded about the program it was exported from.
struct Origin {
    /// The root hash (`None` when recorded by another hash algorithm, which cannot be
    /// compared).
    root: Option<String>,
    /// The revision (`None` in files written before exports recorded it).
    revision: Option<u64>,
}

/// An export file parsed, with the path of every field in it that no part of the
/// format reads (`program.types.3.nmae`): serde skips such fields, so an agent's
/// misspelt `name` would make a named type anonymous without a word.
fn parse_export(text: &str) -> Result<(ExportFile, Vec<String>), serde_json::Error> {
    let mut unread = Vec::new();
    let mut parser = serde_json::Deserializer::from_str(text);
    let file = serde_ignored::deserialize(&mut parser, |path| unread.push(path.to_string()))?;
    parser.end()?;
    Ok((file, unread))
}

/// The first few field paths, each cut short and with control characters escaped (a
/// hostile file chooses them), and how many more there are.
fn listed_fields(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    const LONGEST: usize = 120;
    let mut out: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| {
            let cut: String = p.chars().take(LONGEST).collect();
            let more = if cut.len() < p.len() { "..." } else { "" };
            format!("`{}{more}`", escape_controls(&cut))
        })
        .collect();
    if paths.len() > SHOWN {
        out.push(format!("and {} more", paths.len() - SHOWN));
    }
    out.join(", ")
}

/// [`read_export`], with what the file recorded about its origin.
fn read_export_with_origin(path: &Path) -> Result<(String, ProgramGraph, Origin), Failure> {
    let text = read_text(path)?;
    let another_format = |version: u32| {
        Failure::new(format!(
            "{} has export format {version}, this lmstore reads {EXPORT_FORMAT_VERSION}",
            path.display()
        ))
    };
    let (file, unread) = match parse_export(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            // A file of another format is named as such, not met with the first field
            // this build does not find in it (read again only when the file is refused).
            #[derive(Deserialize)]
            struct FormatOnly {
                export_format_version: Option<u32>,
            }
            if let Ok(FormatOnly { export_format_version: Some(version) }) = serde_json::from_str(&text)
                && version != EXPORT_FORMAT_VERSION
            {
                return Err(another_format(version));
            }
            // serde's messages quote parts of the file, as the violations below quote
            // names from it: control characters in them are escaped, not sent to the
            // terminal.
            let why = escape_controls(&e.to_string());
            return Err(Failure::new(format!("{} is not an lmstore export: {why}", path.display())));
        }
    };
    if file.export_format_version != EXPORT_FORMAT_VERSION {
        return Err(another_format(file.export_format_version));
    }
    if !unread.is_empty() {
        return Err(Failure::new(format!(
            "{} has fields lmstore does not read, which would be lost: {}; correct their names or remove them",
            path.display(),
            listed_fields(&unread)
        )));
    }
    // The library's checks come first: they refuse ids implausibly far apart before
    // anything proportional to the id space is built, so any file is answered in
    // memory bounded by its own size. Only then are the listed holes compared.
    let g = ProgramGraph::assemble(file.program);
    let mut problems: Vec<String> = g.validate().iter().map(|v| escape_controls(&g.notation().violation(v))).collect();
    if problems.is_empty() {
        problems.extend(hole_mismatches(&file.holes, &g.to_document()));
    }
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(Failure::new(format!(
            "{} is invalid ({} problem(s)); nothing was written:\n{}",
            path.display(),
            problems.len(),
            list.join("\n")
        )));
    }
    let actual = g.hashes().program();
    // A root recorded by another hash algorithm says nothing about edits.
    if file.hash_algorithm_version == HASH_ALGORITHM_VERSION && actual != file.root_hash {
        // Not an error: agents may edit exports by hand. But say so.
        crate::output::errln!(
            "note: {} was edited since export (root hash {actual}, recorded {})",
            path.display(),
            file.root_hash
        );
    } else if file.hash_algorithm_version > HASH_ALGORITHM_VERSION {
        crate::output::errln!(
            "note: {} records its root under hash algorithm {}, newer than this build's {HASH_ALGORITHM_VERSION}; \
             the root was not compared",
            path.display(),
            file.hash_algorithm_version
        );
    }
    let root = (file.hash_algorithm_version == HASH_ALGORITHM_VERSION).then(|| file.root_hash.to_hex());
    Ok((file.name, g, Origin { root, revision: file.revision }))
}

/// Whether `path` is something [`read_text`] reads: a regular file or a pipe (a
/// shell's `<(lmstore export ...)`, `/dev/stdin` fed by a pipe), links followed.
pub fn names_a_readable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| readable_kind(m.file_type()))
}

/// A regular file or a pipe: what an export is read from (see [`read_text`]).
fn readable_kind(kind: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    kind.is_file() || kind.is_fifo()
}

/// The whole text of an export file (less a leading byte order mark), which must be a
/// regular file or a pipe (`<(...)`, `/dev/stdin` fed by a pipe). A device is refused
/// rather than read with a cap: one like /dev/zero never ends and would take all
/// memory, while a file's size, however large, is the export the user chose, and no
/// cap fits every program's export.
fn read_text(path: &Path) -> Result<String, Failure> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Failure::new(format!("cannot read {}: {e}", path.display()));
    // `-` is standard input, as for other Unix tools (`lmstore export p | lmstore import -`).
    let mut file = if path == Path::new("-") {
        use std::os::fd::AsFd as _;
        std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().map_err(cannot)?)
    } else {
        std::fs::File::open(path).map_err(cannot)?
    };
    if !readable_kind(file.metadata().map_err(cannot)?.file_type()) {
        return Err(Failure::new(format!(
            "{} is not an export file (a terminal, device or directory); give a file or a pipe",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    // Some editors on Windows begin a UTF-8 file with a byte order mark; JSON has none.
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let skipped = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    bytes.drain(..skipped);
    String::from_utf8(bytes).map_err(|e| {
        Failure::new(format!(
            "{} is not UTF-8 text (an export is JSON in UTF-8): invalid byte at offset {}",
            path.display(),
            skipped + e.utf8_error().valid_up_to()
        ))
    })
}

/// `lmstore save`: the file's program becomes the stored one's content in one write,
/// which history records as one edit (nothing is written when they already agree).
///
/// The file must come from the program as it is stored now: otherwise saving it would
/// silently undo what was stored since, another agent's edits say, and it is refused
/// unless `force`. A file that records its revision is held to that revision, checked
/// in the write's own transaction (`save_program_if_at`), so any commit since the
/// export counts, even one that leaves the root hash unchanged. An older file, without
/// the revision, falls back to comparing the root hash it recorded with the stored one,
/// and the save to the revision just compared.
pub fn save(store: &Db, program: &str, path: &Path, message: Option<&str>, force: bool) -> CmdResult {
    let id = crate::programs::resolve_to_change(store, program)?;
    let progress = Progress::steps(3);
    progress.step(format!("reading and validating {}", path.display()));
    let (exported_from, g, origin) = read_export_with_origin(path)?;
    progress.step(format!("comparing with {program} as stored"));
    // The revision now, when the save cannot say (see `after` below): the listing, or
    // where another program's damaged row stops it, the newest history entry.
    let revision_now = |store: &Db| {
        let listed = crate::programs::listed(store, id).ok().flatten().map(|p| p.revision);
        let logged = || Some(store.log(id, LogPage { before: None, limit: 1 }).ok()?.first()?.revision);
        listed.or_else(logged)
    };
    let (stored, before) = store.load_program_with_revision(id)?;
    let stored_root = stored.hashes().program().to_hex();
    drop(stored);
    let file_root = g.hashes().program().to_hex();
    // A file of the stored revision must also come from this program (revisions are
    // small numbers many programs share), which the root it recorded tells. A file of
    // another revision is refused by the save itself, unless the program already
    // holds what it holds (a save retried after its answer was lost, say).
    if !force && origin.revision.is_none_or(|at| at == before) {
        check_root_unchanged(program, path, &origin, &file_root, &stored_root).inspect_err(|_| progress.finish())?;
    }
    progress.step(format!("saving {} nodes and {} edges over {program}", g.node_count(), g.edge_count()));
    // Saved only over the revision the file was exported at (or, for an older file,
    // the one just compared), checked in the write itself: an edit committed since
    // makes this save fail instead of being undone. (A program that already equals
    // the file saves, writing nothing.) `--force` replaces whatever is stored.
    let expected = (!force).then_some(origin.revision.unwrap_or(before));
    let saved = match (message, expected) {
        (Some(m), Some(at)) => store.save_with_message_if_at(id, &g, at, m),
        (Some(m), None) => store.save_with_message(id, &g, m),
        (None, Some(at)) => store.save_program_if_at(id, &g, at),
        (None, None) => store.save_program(id, &g),
    };
    progress.finish();
    let report = match saved {
        Err(StorageError::RevisionMoved { .. }) => {
            return Err(moved(program, path, &exported_from, origin.revision, before));
        }
        saved => saved?,
    };
    // A save held to revision `at` that wrote rows committed `at + 1` in that same
    // transaction; otherwise (nothing written, or `--force`) the revision is read now.
    let after = match expected {
        Some(at) if report.rows_written + report.rows_deleted > 0 => Some(at + 1),
        _ => revision_now(store),
    };
    if report.rows_written + report.rows_deleted == 0 {
        if after == Some(before) {
            outln!("{program} already holds what {} holds; nothing saved", path.display())?;
        } else {
            // No row differs, but the file's next ids are ahead of the stored ones.
            outln!("saved {} over {program}: no rows differ; the next ids moved on", path.display())?;
        }
    } else {
        let revision = store.log(id, LogPage { before: None, limit: 1 })?;
        let revision = revision.first().map_or_else(String::new, |e| format!(" at revision {}", e.revision));
        outln!(
            "saved {} over {program}{revision}: {} rows written, {} deleted",
            path.display(),
            report.rows_written,
            report.rows_deleted
        )?;
    }
    record_saved(path, &origin, &file_root, after);
    Ok(ExitCode::SUCCESS)
}

/// Refuses a file whose recorded root differs from the stored root, or that recorded
/// none this build can compare. (A file the program already equals changes nothing,
/// whatever it recorded.) For a file without a revision (written before exports
/// recorded it) this is the whole check, which misses an edit that leaves the root
/// unchanged; for one with a revision it tells programs at the same revision apart.
fn check_root_unchanged(
    program: &str,
    path: &Path,
    origin: &Origin,
    file_root: &str,
    stored_root: &str,
) -> Result<(), Failure> {
    if file_root == stored_root {
        return Ok(());
    }
    match &origin.root {
        None => Err(Failure::new(format!(
            "{} records no root this lmstore can compare (another hash algorithm), so whether {program} \
             changed since it was exported is unknown: saving it could undo those changes. Export {program} \
             again and redo the edit, or pass --force to replace it all the same",
            path.display()
        ))),
        Some(recorded) if recorded != stored_root => Err(Failure::new(format!(
            "{program} has changed since {} was exported (stored root {stored_root}, exported from {recorded}): \
             saving it would undo those changes. Export {program} again and redo the edit, \
             or pass --force to replace it all the same",
            path.display()
        ))),
        Some(_) => Ok(()),
    }
}

/// Why a save held to a revision was refused: the program moved on since the export
/// (the file records another revision than the one stored when the save began), or
/// while the save ran.
fn moved(program: &str, path: &Path, exported_from: &str, exported_at: Option<u64>, before: u64) -> Failure {
    // A file of another program's (a checkout saved over its copy, say) records that
    // program's revision: said so, rather than that this one changed.
    if exported_from != program && !program.starts_with('#') {
        return Failure::new(format!(
            "{} was exported from {exported_from:?}, not {program:?}: its revision says nothing about {program}, \
             so saving it could undo changes; nothing was saved. Export {program} and redo the edit, or pass \
             --force to replace it all the same",
            path.display()
        ));
    }
    match exported_at {
        Some(at) if at != before => Failure::new(format!(
            "{program} has changed since {} was exported (exported at revision {at}, now at {before}): saving \
             it would undo those changes; nothing was saved. Export {program} again and redo the edit, or pass \
             --force to replace it all the same",
            path.display()
        )),
        _ => Failure::new(format!(
            "{program} changed while {} was being saved (another writer committed); nothing was saved. \
             Export {program} again and redo the edit, or pass --force to replace it all the same",
            path.display()
        )),
    }
}

/// Writes the root and revision just saved into the file in place of those it
/// recorded, so the file counts as coming from the program as now stored: edited
/// again, it can be saved again without `--force`. Only a note if the file cannot be
/// rewritten.
fn record_saved(path: &Path, origin: &Origin, saved_root: &str, saved_revision: Option<u64>) {
    let Some(recorded_root) = &origin.root else { return };
    let revision = origin.revision.zip(saved_revision);
    let revision_unknown = origin.revision.is_some() && saved_revision.is_none();
    if recorded_root == saved_root && revision.is_none_or(|(was, now)| was == now) && !revision_unknown {
        return;
    }
    // A pipe was read once already (a named one would wait here for another writer).
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let rewritten = regular
        .then(|| std::fs::read_to_string(path).ok())
        .flatten()
        .and_then(|text| with_origin_replaced(&text, (recorded_root, saved_root), revision));
    match rewritten.map(|text| crate::output::write_atomically(path, text.as_bytes())) {
        Some(Ok(())) if !revision_unknown => {}
        _ => crate::output::errln!(
            "note: could not record the saved root and revision in {}; saving it again after another edit \
             needs --force",
            path.display()
        ),
    }
}

/// `text` with the envelope's root hash and revision fields replaced (`None` when a
/// field is not found as lmstore writes it). Only the envelope, before `"program"`,
/// is searched: a struct field in the program may be called `revision` too.
fn with_origin_replaced(text: &str, root: (&str, &str), revision: Option<(u64, u64)>) -> Option<String> {
    let body = text.find("\"program\":").unwrap_or(text.len());
    let (envelope, program) = text.split_at(body);
    let replace = |envelope: String, field: String, by: String| {
        envelope.contains(&field).then(|| envelope.replacen(&field, &by, 1))
    };
    let mut envelope = replace(
        envelope.to_string(),
        format!("\"root_hash\": \"{}\"", root.0),
        format!("\"root_hash\": \"{}\"", root.1),
    )?;
    if let Some((was, now)) = revision {
        envelope = replace(envelope, format!("\"revision\": {was},"), format!("\"revision\": {now},"))?;
    }
    Some(envelope + program)
}

pub fn import(store: &Db, path: &Path, name: Option<&str>) -> CmdResult {
    let progress = Progress::steps(2);
    progress.step(format!("reading and validating {}", path.display()));
    let (file_name, g) = read_export(path)?;
    let name = name.unwrap_or(&file_name);
    progress.step(format!("storing {} nodes and {} edges", g.node_count(), g.edge_count()));
    crate::programs::check_new_name(name)?;
    let id = store.insert_program(name, &g)?;
    progress.finish();
    outln!("imported {} as {name:?} (id {}, {} nodes)", path.display(), id.0, g.node_count())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{Holes, hole_mismatches};
    use lmlang_storage::graph::ProgramGraph;

    /// A next id at the top of the id space with almost no ids listed is answered from
    /// the lists: building every id below it would take gigabytes and minutes.
    #[test]
    fn holes_are_compared_without_listing_the_id_space() {
        let mut doc = ProgramGraph::new("app").to_document();
        doc.next_ids.node = u32::MAX;
        doc.next_ids.edge = u32::MAX;
        let listed = Holes { nodes: vec![7, 3, 3, u32::MAX], edges: Vec::new() };
        let problems = hole_mismatches(&listed, &doc);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with(
                "node ids missing from the file but not listed as holes: 0, 1, 2, 4, 5 and 4294967288 more;"
            ),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("node ids listed as holes at or past next_ids.node (4294967295): 4294967295;"),
            "{problems:#?}"
        );
        assert!(
            problems[2].starts_with(
                "edge ids missing from the file but not listed as holes: 0, 1, 2, 3, 4 and 4294967290 more;"
            ),
            "{problems:#?}"
        );
    }
}
