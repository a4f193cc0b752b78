//! The partitioned layout on PostgreSQL: `partition_by_program` rebuilds a populated
//! store's tables as hash partitions by program and loses nothing (rows, ids still to
//! hand out, keys, the service's own foreign keys); it refuses what it cannot do and
//! then changes nothing. The conformance suite runs on the layout too
//! (`conformance::postgres_partitioned`).
#![cfg(feature = "postgres")]

#[path = "pg_support/mod.rs"]
mod pg_support;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::{ComputeOp, FunctionId};
use lmlang_storage::postgres;
use lmlang_storage::store::{GraphStore, ProgramHistory, StorageError};
use lmlang_storage::synth::{SynthConfig, generate};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The store's tables that are partitioned, and how many partitions each has.
fn layout(conn: &mut PgConnection) -> Vec<(String, i64)> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
         WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1",
    )
    .load(conn)
    .expect("partitioned tables");
    names
        .into_iter()
        .map(|t| {
            let parts =
                count(conn, &format!("SELECT count(*) AS n FROM pg_inherits WHERE inhparent = '{}'::regclass", t.name));
            (t.name, parts)
        })
        .collect()
}

#[test]
fn a_populated_store_is_partitioned_without_loss() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    store.set_history(true);
    let programs: Vec<(String, ProgramGraph)> = (0..5)
        .map(|i| (format!("program {i}"), generate(&SynthConfig { nodes: 300, seed: i, gaps: i % 2 == 0 })))
        .collect();
    let mut ids = Vec::new();
    for (name, g) in &programs {
        let id = store.insert_program(name, g).expect("insert");
        store.insert_node(id, FunctionId(0), ComputeOp::Print.into()).expect("an edit recorded in history");
        ids.push(id);
    }
    // The last program is deleted: its id must not come back.
    store.delete_program(ids[4]).expect("delete");
    // The plain layout's size counts its tables (it used to read 0: a plain table has
    // no partition tree).
    assert!(store.database_bytes().expect("size") > 0, "the size counts the plain tables");
    let before: Vec<_> = ids[..4].iter().map(|&id| store.load_program(id).expect("load")).collect();
    let logs: Vec<_> = ids[..4].iter().map(|&id| store.log(id, Default::default()).expect("log")).collect();
    drop(store);

    // A table of the service's own that refers to the store's programs.
    let mut conn = schema.connection();
    conn.batch_execute(
        "CREATE TABLE service_owners (owner TEXT PRIMARY KEY, \
         program_id BIGINT NOT NULL CONSTRAINT service_owns REFERENCES lmlang_programs (id) ON DELETE CASCADE)",
    )
    .expect("service table");
    conn.batch_execute(&format!("INSERT INTO service_owners VALUES ('ada', {})", ids[0].0)).expect("service row");

    let moved = postgres::partition_by_program(&mut conn, 4).expect("partitioned");
    assert!(moved > 4 * 300, "{moved} rows moved");
    let tables = layout(&mut conn);
    assert_eq!(tables.len(), 10, "every program table but the name directory: {tables:?}");
    assert!(tables.iter().all(|(_, parts)| *parts == 4), "{tables:?}");
    assert!(!tables.iter().any(|(t, _)| t == "lmlang_program_names"));
    assert_eq!(postgres::partition_count(&mut conn).expect("count"), 4);

    // The service's foreign key is back, under its name, and still enforced.
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM pg_constraint WHERE conname = 'service_owns'"), 1);
    assert!(conn.batch_execute("INSERT INTO service_owners VALUES ('bob', 987654)").is_err());

    let store = schema.store();
    store.set_history(true);
    for (i, &id) in ids[..4].iter().enumerate() {
        let g = store.load_program(id).expect("load after partitioning");
        assert!(g == before[i], "program {i} changed");
        assert_eq!(g.hashes().program(), before[i].hashes().program());
        assert_eq!(store.find_program(&programs[i].0).expect("by name"), id);
        assert_eq!(store.log(id, Default::default()).expect("log"), logs[i], "history of program {i}");
    }
    let fresh = store.create_program("after").expect("create");
    assert!(fresh.0 > ids[4].0, "program ids continue past the deleted one: {fresh:?} after {:?}", ids[4]);
    store.undo(ids[1], None).expect("undo works on the partitioned history");
    store.delete_program(ids[0]).expect("delete");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM service_owners"), 0, "the service's cascade still runs");
    assert!(store.database_bytes().expect("size") > 0, "the size counts the partitions");
}

#[test]
fn partitioning_again_or_differently_changes_nothing() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("kept", &generate(&SynthConfig::new(200))).expect("insert");
    let g = store.load_program(id).expect("load");
    assert_eq!(store.partition_count().expect("count"), 0);
    assert_eq!(store.partition_by_program(3).expect("partitioned"), store_rows(&schema));

    assert_eq!(store.partition_by_program(3).expect("the same count again"), 0);
    for refused in [0, 5, postgres::MAX_PARTITIONS + 1] {
        match store.partition_by_program(refused) {
            Err(StorageError::Migration(why)) => assert!(why.contains("partition"), "{why}"),
            other => panic!("{refused} partitions: {other:?}"),
        }
    }
    assert_eq!(store.partition_count().expect("count"), 3);
    drop(store);
    let store = schema.store();
    assert!(store.load_program(id).expect("load") == g);
}

/// Rows the store holds in its schema, over every program table.
fn store_rows(schema: &pg_support::TestSchema) -> u64 {
    let mut conn = schema.connection();
    let total: i64 = lmlang_storage::rows::PROGRAM_TABLES
        .iter()
        .filter(|t| **t != "lmlang_program_names")
        .map(|t| count(&mut conn, &format!("SELECT count(*) AS n FROM {t}")))
        .sum();
    u64::try_from(total).expect("a count")
}

#[test]
fn an_unmigrated_schema_is_refused() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let mut conn = schema.connection();
    match postgres::partition_by_program(&mut conn, 2) {
        Err(StorageError::Migration(why)) => assert!(why.contains("migrations"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// A service's view on a store table blocks the rebuild: the error comes back and the
/// layout is as it was, rows and all.
#[test]
fn a_failed_rebuild_leaves_the_layout_as_it_was() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("kept", &generate(&SynthConfig::new(100))).expect("insert");
    let mut conn = schema.connection();
    conn.batch_execute("CREATE VIEW service_nodes AS SELECT program_id, node_id FROM lmlang_compute_nodes")
        .expect("view");
    assert!(postgres::partition_by_program(&mut conn, 2).is_err());
    assert_eq!(postgres::partition_count(&mut conn).expect("count"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM service_nodes"), 100);
    assert_eq!(store.load_program(id).expect("load").node_count(), 100);
}

#[test]
fn privileges_granted_on_the_tables_survive_partitioning() {
    // `CREATE TABLE ... (LIKE ...)` copies no privileges: a read-only role a service
    // had granted lost its access to every rebuilt table.
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("granted", &generate(&SynthConfig::new(100))).expect("insert");
    let mut conn = schema.connection();
    let reader = format!("{}_reader", schema.name);
    let writer = format!("{}_writer", schema.name);
    conn.batch_execute(&format!(
        "CREATE ROLE {reader} NOLOGIN; CREATE ROLE {writer} NOLOGIN; \
         GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {reader}; \
         GRANT INSERT, UPDATE ON lmlang_compute_nodes TO {writer} WITH GRANT OPTION; \
         GRANT USAGE ON SEQUENCE lmlang_programs_id_seq TO {writer};",
        s = schema.name
    ))
    .expect("grants");
    let privileges = |conn: &mut PgConnection| -> Vec<String> {
        #[derive(QueryableByName)]
        struct Privilege {
            #[diesel(sql_type = Text)]
            p: String,
        }
        diesel::sql_query(format!(
            "SELECT format('%s %s %s %s', c.relname, pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable) AS p \
             FROM pg_class c, aclexplode(c.relacl) a \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relname NOT LIKE '%\\_p%' \
               AND a.grantee IN ('{reader}'::regrole, '{writer}'::regrole) ORDER BY 1"
        ))
        .load::<Privilege>(conn)
        .expect("privileges")
        .into_iter()
        .map(|r| r.p.replace("lmlang_programs_id_seq1", "lmlang_programs_id_seq"))
        .collect()
    };
    let before = privileges(&mut conn);
    assert!(before.len() > 10, "{before:?}");
    store.partition_by_program(4).expect("partitioned");
    assert_eq!(privileges(&mut conn), before);
    assert!(store.load_program(id).is_ok());
    drop(store);
    conn.batch_execute(&format!("DROP OWNED BY {reader}, {writer}; DROP ROLE {reader}; DROP ROLE {writer};"))
        .expect("drop the roles");
}

/// Services keep writing while the layout is rebuilt: the rebuild takes its locks in
/// the order the writers do (or runs again after a deadlock), so it succeeds, and every
/// write a writer was told had committed is there afterwards.
#[test]
fn partitioning_while_services_write_succeeds_and_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    store.set_history(true);
    let writers = 4;
    let ids: Vec<_> = (0..writers)
        .map(|i| store.insert_program(&format!("edited {i}"), &generate(&SynthConfig::new(200))).expect("insert"))
        .collect();
    drop(store);

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(w, &id)| {
            let store = schema.store();
            let (stop, written, started) = (stop.clone(), written.clone(), started.clone());
            std::thread::spawn(move || {
                store.set_history(true);
                let mut nodes = Vec::new();
                let mut programs = Vec::new();
                let mut tags = Vec::new();
                let mut n = 0u32;
                started.wait();
                while !stop.load(Ordering::Relaxed) {
                    // Edits of the program (its row first), a new program (its name
                    // first) and a tag (history), as services do.
                    let node = store.insert_node(id, FunctionId(0), ComputeOp::Print.into());
                    nodes.push(node.unwrap_or_else(|e| panic!("writer {w}: insert_node: {e}")));
                    if n.is_multiple_of(4) {
                        let name = format!("new {w} {n}");
                        programs
                            .push(store.create_program(&name).unwrap_or_else(|e| panic!("writer {w}: create: {e}")));
                    }
                    if n.is_multiple_of(5) {
                        let revision = store.log(id, Default::default()).expect("log")[0].revision;
                        let tag = format!("t{n}");
                        store.tag(id, &tag, revision).unwrap_or_else(|e| panic!("writer {w}: tag: {e}"));
                        tags.push((tag, revision));
                    }
                    n += 1;
                    written.fetch_add(1, Ordering::Relaxed);
                }
                (nodes, programs, tags)
            })
        })
        .collect();
    started.wait();
    while written.load(Ordering::Relaxed) < 4 * writers {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let partitioned = schema.store().partition_by_program(4);
    let after = written.load(Ordering::Relaxed);
    while written.load(Ordering::Relaxed) < after + 4 * writers {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<_> = threads.into_iter().map(|t| t.join().expect("a writer failed")).collect();
    partitioned.expect("partitioned while services write");

    let store = schema.store();
    assert_eq!(store.partition_count().expect("count"), 4);
    for (w, (nodes, programs, tags)) in acknowledged.iter().enumerate() {
        let g = store.load_program(ids[w]).expect("load");
        for node in nodes {
            assert!(g.node(*node).is_some(), "writer {w}: node {node:?} was acknowledged and is gone");
        }
        for (k, program) in programs.iter().enumerate() {
            let name = format!("new {w} {}", k * 4);
            assert_eq!(store.find_program(&name).expect("a created program"), *program);
        }
        for (tag, revision) in tags {
            assert_eq!(store.tagged(ids[w], tag).expect("a tag"), *revision, "writer {w}: tag {tag}");
        }
    }
}

/// A bulk save on the partitioned layout (binary COPY) has the server check its
/// foreign keys on one generic plan, made once the rows they refer to are in, and
/// leaves the transaction's `plan_cache_mode` as it found it. The plan cache's default
/// made a custom plan for every row's check instead, planning each row again (a save
/// 2 to 4 times slower than on the plain layout). A generic plan covers every partition
/// of the table it reads, and locks them all: that is what the server shows of it
/// (a custom plan locks only the program's partition).
#[test]
fn a_bulk_save_on_partitions_checks_its_keys_on_one_generic_plan() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    store.partition_by_program(4).expect("partitioned");
    drop(store);
    let mut conn = schema.connection();
    conn.batch_execute("ANALYZE lmlang_programs, lmlang_functions, lmlang_compute_nodes, lmlang_flow_edges")
        .expect("statistics of the empty partitions");
    let g = generate(&SynthConfig::new(3000));
    let locked = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
            let id = postgres::PgConnectionStore::on_connection(conn).insert_program("bulk", &g).expect("bulk save");
            assert!(postgres::PgConnectionStore::on_connection(conn).load_program(id).expect("load") == g);
            assert_eq!(
                diesel::select(diesel::dsl::sql::<Text>("current_setting('plan_cache_mode')"))
                    .get_result::<String>(conn)?,
                "force_custom_plan",
                "the host's setting is back after the save"
            );
            Ok(count(
                conn,
                "SELECT count(DISTINCT l.relation) AS n FROM pg_locks l JOIN pg_inherits i ON i.inhrelid = l.relation \
                 WHERE l.pid = pg_backend_pid() AND i.inhparent = 'lmlang_compute_nodes'::regclass",
            ))
        })
        .expect("the host's transaction");
    assert_eq!(locked, 4, "the node look-ups of the edges' checks ran on a generic plan");
}

/// What a service may put on the store's tables that the rebuild cannot carry over
/// (PostgreSQL allows no exclusion constraint on a partitioned table; column grants,
/// statistics objects and triggers it does not copy) is refused, naming the object,
/// and nothing changes: these used to go with the old tables without a word.
#[test]
fn what_the_rebuild_cannot_carry_over_is_refused_and_nothing_changes() {
    let cases = [
        (
            "svc_one_tag_per_revision",
            "ALTER TABLE lmlang_history_tags ADD CONSTRAINT svc_one_tag_per_revision \
             EXCLUDE USING btree (program_id WITH =, revision WITH =)",
            "SELECT count(*) AS n FROM pg_constraint WHERE conname = 'svc_one_tag_per_revision'",
        ),
        (
            "privileges on column revision",
            "GRANT SELECT (id, revision) ON lmlang_programs TO PUBLIC",
            "SELECT count(*) AS n FROM pg_attribute WHERE attrelid = 'lmlang_programs'::regclass AND attacl IS NOT NULL",
        ),
        (
            "svc_node_stats",
            "CREATE STATISTICS svc_node_stats ON op, owner_id FROM lmlang_compute_nodes",
            "SELECT count(*) AS n FROM pg_statistic_ext WHERE stxname = 'svc_node_stats'",
        ),
        (
            "svc_touch",
            "CREATE FUNCTION svc_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; \
             CREATE TRIGGER svc_touch BEFORE UPDATE ON lmlang_programs FOR EACH ROW EXECUTE FUNCTION svc_touch()",
            "SELECT count(*) AS n FROM pg_trigger WHERE tgname = 'svc_touch'",
        ),
        (
            "storage parameters of lmlang_compute_nodes",
            "ALTER TABLE lmlang_compute_nodes SET (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 80)",
            "SELECT count(*) AS n FROM pg_class WHERE oid = 'lmlang_compute_nodes'::regclass AND reloptions IS NOT NULL",
        ),
        (
            "options of column source_id",
            "ALTER TABLE lmlang_flow_edges ALTER COLUMN source_id SET (n_distinct = 500)",
            "SELECT count(*) AS n FROM pg_attribute WHERE attrelid = 'lmlang_flow_edges'::regclass AND attname = 'source_id' AND array_to_string(attoptions, ',') LIKE '%n_distinct=500%'",
        ),
        (
            "rule keep_deleted",
            "CREATE TABLE deleted_log (id BIGINT); CREATE RULE keep_deleted AS ON DELETE TO lmlang_programs \
             DO ALSO INSERT INTO deleted_log VALUES (OLD.id)",
            "SELECT count(*) AS n FROM pg_rewrite WHERE rulename = 'keep_deleted'",
        ),
    ];
    for (named, service, present) in cases {
        let Some(schema) = pg_support::TestSchema::new() else { return };
        let store = schema.store();
        let id = store.insert_program("kept", &generate(&SynthConfig::new(100))).expect("insert");
        let mut conn = schema.connection();
        conn.batch_execute(service).expect("the service's object");
        match store.partition_by_program(4) {
            Err(StorageError::Migration(why)) => assert!(why.contains(named) && why.contains("nothing"), "{why}"),
            other => panic!("{named}: {other:?}"),
        }
        assert_eq!(postgres::partition_count(&mut conn).expect("count"), 0, "{named}");
        assert!(count(&mut conn, present) > 0, "{named} is still there");
        assert_eq!(store.load_program(id).expect("load").node_count(), 100);
    }
}

/// The rebuilt tables keep their owner (a rebuild run by a superuser or another role
/// used to leave them, their partitions and the id sequence owned by that role, which
/// locked the owner's services out), the comments on the tables and on the indexes
/// and keys made again from their definitions, and per-column statistics targets.
#[test]
fn owners_comments_and_statistics_targets_survive_partitioning() {
    let Some(schema) = pg_support::TestSchema::new() else { return };
    let store = schema.store();
    let id = store.insert_program("owned", &generate(&SynthConfig::new(100))).expect("insert");
    let mut conn = schema.connection();
    let owner = format!("{}_owner", schema.name);
    let tables = "SELECT c.relname::text AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace \
                  AND c.relkind IN ('r', 'p', 'S') AND c.relname LIKE 'lmlang%' ORDER BY 1";
    let mut setup = format!("CREATE ROLE {owner} NOLOGIN; GRANT USAGE ON SCHEMA {} TO {owner};", schema.name);
    for t in diesel::sql_query(tables).load::<Name>(&mut conn).expect("tables") {
        if !t.name.ends_with("_seq") {
            setup += &format!("ALTER TABLE {} OWNER TO {owner};", t.name);
        }
    }
    setup += "COMMENT ON TABLE lmlang_programs IS 'svc: the program catalog';
        CREATE INDEX svc_nodes_by_payload ON lmlang_compute_nodes (program_id, payload);
        COMMENT ON INDEX svc_nodes_by_payload IS 'svc: payload look-ups';
        CREATE TABLE svc_notes (program_id BIGINT NOT NULL, note TEXT,
            CONSTRAINT svc_notes_program_fk FOREIGN KEY (program_id) REFERENCES lmlang_programs (id) ON DELETE CASCADE);
        COMMENT ON CONSTRAINT svc_notes_program_fk ON svc_notes IS 'svc: notes go with their program';
        ALTER TABLE lmlang_compute_nodes ALTER COLUMN op SET STATISTICS 1000;";
    conn.batch_execute(&setup).expect("the service's setup");

    store.partition_by_program(4).expect("partitioned");
    assert_eq!(postgres::partition_count(&mut conn).expect("count"), 4);
    let not_owned = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace \
             AND c.relkind IN ('r', 'p', 'S') AND c.relname LIKE 'lmlang%' AND c.relowner <> '{owner}'::regrole"
        ),
    );
    assert_eq!(not_owned, 0, "every table, partition and the id sequence is the owner's");
    let kept = |conn: &mut PgConnection, sql: &str| count(conn, &format!("SELECT ({sql})::INT4::INT8 AS n"));
    assert_eq!(
        kept(&mut conn, "obj_description('lmlang_programs'::regclass, 'pg_class') = 'svc: the program catalog'"),
        1
    );
    assert_eq!(
        kept(&mut conn, "obj_description('svc_nodes_by_payload'::regclass, 'pg_class') = 'svc: payload look-ups'"),
        1
    );
    assert_eq!(
        kept(
            &mut conn,
            "SELECT obj_description(oid, 'pg_constraint') = 'svc: notes go with their program' \
             FROM pg_constraint WHERE conname = 'svc_notes_program_fk'"
        ),
        1
    );
    assert_eq!(
        kept(
            &mut conn,
            "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'lmlang_compute_nodes'::regclass AND attname = 'op'"
        ),
        1000
    );
    // The owner's services still work.
    conn.batch_execute(&format!("SET ROLE {owner}")).expect("set role");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM lmlang_compute_nodes"), 100);
    conn.batch_execute("RESET ROLE").expect("reset role");
    assert_eq!(store.load_program(id).expect("load").node_count(), 100);
    drop(store);
    conn.batch_execute(&format!(
        "REASSIGN OWNED BY {owner} TO CURRENT_USER; DROP OWNED BY {owner}; DROP ROLE {owner};"
    ))
    .expect("drop the role");
}
