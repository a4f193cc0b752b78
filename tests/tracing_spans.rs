//! The store reports the operations a user waits for as `tracing` spans, with their
//! program, their counts and `duration_ms`, to whatever subscriber the application
//! installs (the library installs none).

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, ModuleId, TypeId, Visibility};
use lmlang_storage::sqlite::SqliteStore;
use lmlang_storage::store::GraphStore;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A closed span: its name and every field it was given, as text.
#[derive(Debug, Clone)]
struct Closed {
    name: &'static str,
    fields: BTreeMap<&'static str, String>,
}

impl Closed {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or_else(|| panic!("span {} has no field {name}: {self:?}", self.name))
    }

    fn number(&self, name: &str) -> f64 {
        self.field(name).parse().unwrap_or_else(|_| panic!("{name} of {} is not a number: {self:?}", self.name))
    }
}

#[derive(Default)]
struct Fields(BTreeMap<&'static str, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_string());
    }
}

/// An event: its level, the span it was in, and its fields.
#[derive(Debug, Clone)]
struct Event {
    level: tracing::Level,
    span: Option<&'static str>,
    fields: BTreeMap<&'static str, String>,
}

/// Collects every span when it closes, and every event, with the thread of each.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(ThreadId, Closed)>>>, Arc<Mutex<Vec<(ThreadId, Event)>>>);

/// The spans one thread closed, and the events it emitted, while [`captured`] ran.
struct Capture(Vec<Closed>, Vec<Event>);

impl Capture {
    fn spans(&self, name: &str) -> Vec<Closed> {
        self.0.iter().filter(|s| s.name == name).cloned().collect()
    }

    fn one(&self, name: &str) -> Closed {
        let spans = self.spans(name);
        assert_eq!(spans.len(), 1, "expected one {name} span, got {spans:?}");
        spans[0].clone()
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = ctx.event_span(event).map(|s| s.name());
        let event = Event { level: *event.metadata().level(), span, fields: fields.0 };
        self.1.lock().unwrap().push((std::thread::current().id(), event));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span.extensions_mut().remove::<Fields>().unwrap_or_default().0;
            self.0.lock().unwrap().push((std::thread::current().id(), Closed { name: span.name(), fields }));
        }
    }
}

/// Runs `work` and returns the spans this thread closed meanwhile.
///
/// The collecting subscriber is the global default, installed once: `tracing` caches
/// per call site whether any subscriber wants it, and a subscriber set for one thread
/// only (`with_default`) can miss call sites that another test's thread first reached
/// while none was set.
fn captured<T>(work: impl FnOnce() -> T) -> (T, Capture) {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    let collector = COLLECTOR.get_or_init(|| {
        let collector = Collector::default();
        subscriber::set_global_default(tracing_subscriber::registry().with(collector.clone())).unwrap();
        collector
    });
    let this = std::thread::current().id();
    collector.0.lock().unwrap().retain(|(thread, _)| *thread != this);
    collector.1.lock().unwrap().retain(|(thread, _)| *thread != this);
    let value = work();
    let mine =
        collector.0.lock().unwrap().iter().filter(|(thread, _)| *thread == this).map(|(_, s)| s.clone()).collect();
    let events =
        collector.1.lock().unwrap().iter().filter(|(thread, _)| *thread == this).map(|(_, e)| e.clone()).collect();
    (value, Capture(mine, events))
}

fn program() -> ProgramGraph {
    let mut g = ProgramGraph::new("root");
    let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).unwrap();
    g.add_core_op(main, ComputeOp::Print).unwrap();
    g
}

#[test]
fn opening_and_migrating_emit_timed_spans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traced.db");
    let (store, capture) = captured(|| SqliteStore::open(&path).unwrap());
    let open = capture.one("lmlang_open");
    assert_eq!(open.field("path"), path.display().to_string());
    assert_eq!(open.field("read_only"), "false");
    assert!(open.number("duration_ms") > 0.0);
    let migrate = capture.one("lmlang_migrate");
    assert!(migrate.number("pending") >= 1.0, "{migrate:?}");
    assert_eq!(migrate.number("applied"), migrate.number("pending"));
    assert!(migrate.number("duration_ms") <= open.number("duration_ms"));
    drop(store);

    // Opening again: nothing to migrate, which the span says too.
    let (_store, capture) = captured(|| SqliteStore::open(&path).unwrap());
    let migrate = capture.one("lmlang_migrate");
    assert_eq!((migrate.number("pending"), migrate.number("applied")), (0.0, 0.0));
}

#[test]
fn writes_and_loads_emit_spans_with_their_program_and_rows() {
    let store = SqliteStore::temporary().unwrap();
    let g = program();
    let ((id, saved), capture) = captured(|| {
        let id = store.insert_program("traced", &g).unwrap();
        let mut loaded = store.load_program(id).unwrap();
        let main = loaded.find_function(ModuleId::ROOT, "main").unwrap();
        loaded.add_core_op(main, ComputeOp::Print).unwrap();
        let saved = store.save_program(id, &loaded).unwrap();
        store.insert_node(id, main, ComputeOp::Print.into()).unwrap();
        store.delete_program(id).unwrap();
        (id, saved)
    });
    let program = id.to_string();

    let insert = capture.one("lmlang_insert_program");
    assert_eq!((insert.field("program_name"), insert.field("program")), ("traced", program.as_str()));
    assert_eq!(insert.number("nodes"), g.node_count() as f64);
    assert!(insert.number("rows_written") >= 3.0, "{insert:?}");

    let load = capture.one("lmlang_load");
    assert_eq!(load.field("program"), program);
    assert_eq!((load.number("nodes"), load.number("edges")), (g.node_count() as f64, g.edge_count() as f64));

    let save = capture.one("lmlang_save");
    assert_eq!(save.field("program"), program);
    assert_eq!(save.number("rows_written"), saved.rows_written as f64);
    assert!(saved.rows_written >= 1);
    assert_eq!(save.number("rows_deleted"), 0.0);

    // The single-mutation path has its own span (at debug level).
    let mutate = capture.one("lmlang_mutate");
    assert_eq!((mutate.field("operation"), mutate.field("program")), ("insert_node", program.as_str()));
    assert!(mutate.number("rows_written") >= 1.0);

    assert_eq!(capture.one("lmlang_delete_program").field("program"), program);
    for name in ["lmlang_insert_program", "lmlang_load", "lmlang_save", "lmlang_mutate", "lmlang_delete_program"] {
        assert!(capture.one(name).number("duration_ms") >= 0.0);
    }
}

/// Undo, redo and a checkout are timed like every other operation; one that failed says
/// why on its span; damaged data is a WARN event in the operation's span, while a
/// refusal the caller expects (a program that is not there) stays below WARN.
#[test]
fn failures_are_on_their_spans_and_damage_is_a_warning() {
    use lmlang_storage::store::{ProgramHistory, ProgramId};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failing.db");
    let store = SqliteStore::open(&path).unwrap();
    store.set_history(true);
    let g = program();
    let id = store.insert_program("failing", &g).unwrap();
    let main = g.find_function(ModuleId::ROOT, "main").unwrap();
    store.insert_node(id, main, ComputeOp::Print.into()).unwrap();
    let (_, capture) = captured(|| {
        store.undo(id, None).unwrap();
        store.load_at(id, 1).unwrap();
        assert!(store.load_program(ProgramId(987_654)).is_err());
        store.rename_program(id, "renamed").unwrap();
        store.prune_history(id, lmlang_storage::store::Retention::Newest(2)).unwrap();
    });
    assert!(capture.one("lmlang_rename_program").number("duration_ms") >= 0.0);
    // Revisions 1 to 4 recorded (create, insert, undo, rename): the two oldest go.
    assert_eq!(capture.one("lmlang_prune_history").number("removed"), 2.0);
    let undo = capture.one("lmlang_history_invert");
    assert_eq!((undo.field("action"), undo.number("revision")), ("undo", 3.0));
    assert!(undo.number("duration_ms") >= 0.0 && capture.one("lmlang_load_at").number("duration_ms") >= 0.0);
    let missing = capture.one("lmlang_load");
    assert!(missing.field("error").contains("987654"), "{missing:?}");
    let loud = |e: &&Event| e.level == tracing::Level::WARN || e.level == tracing::Level::ERROR;
    assert!(capture.1.iter().filter(loud).count() == 0, "{:?}", capture.1);
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE lmlang_compute_nodes SET op = 9999").unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let (_, capture) = captured(|| assert!(store.load_program(id).is_err()));
    let load = capture.one("lmlang_load");
    assert!(load.field("error").contains("corrupt"), "{load:?}");
    let warned: Vec<_> = capture.1.iter().filter(loud).collect();
    assert_eq!(warned.len(), 1, "{:?}", capture.1);
    assert_eq!(warned[0].span, Some("lmlang_load"));
    assert!(warned[0].fields.get("error").is_some_and(|e| e.contains("corrupt")), "{warned:?}");
}
