//! PostgreSQL servers of a test's own, in a temporary directory, started with `pg_ctl`
//! on a free port as the `postgres` user, stopped (`-m immediate`) and removed on drop:
//! a streaming replica of the test server (a base backup, `pg_basebackup -R`), or a
//! fresh cluster (`initdb`) that a test may restart without disturbing the shared
//! server. Every command runs under a timeout and is killed when it runs over.
//!
//! A replica needs the test server to allow replication connections from 127.0.0.1
//! (`host replication` in `pg_hba.conf`; `.ci/run` adds it). Without the binaries, the
//! `postgres` user or that permission the test prints one skip line, or fails under
//! `LMLANG_PG_REQUIRED=1`.

#![allow(dead_code)]

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server of the test's own; stopped and deleted on drop.
pub struct Server {
    dir: tempfile::TempDir,
    data: PathBuf,
    /// `postgres://user@127.0.0.1:PORT/db` of the server.
    pub url: String,
    port: u16,
    running: bool,
}

/// Runs `command` to completion within `limit`, killing it when it runs over.
fn run(mut command: Command, limit: Duration) -> Result<String, String> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} ran over {limit:?} and was killed"));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("{shown}: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(format!("{shown} failed ({}): {}", out.status, text.trim())) }
}

/// A command run as the `postgres` user (`initdb`, `pg_ctl` and the server refuse root).
fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", &format!("{BIN}/{program}")]);
    command
}

/// User and database of a `postgres://user@host[:port]/db` URL.
fn user_and_database(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (user, host) = rest.rsplit_once('@').map_or(("postgres", rest), |(u, h)| (u.split(':').next().unwrap_or(u), h));
    let database = host.split_once('/').map_or("postgres", |(_, d)| d.split('?').next().unwrap_or(d));
    (user.to_string(), database.to_string())
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// `Some(server)`, or `None` after the skip line (a failure under
/// `LMLANG_PG_REQUIRED=1`) when this machine cannot make one.
fn or_skip(made: Result<Server, String>) -> Option<Server> {
    let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
    match made {
        Ok(server) => Some(server),
        Err(why) => {
            assert!(!required, "LMLANG_PG_REQUIRED=1 but no server of the test's own could be made: {why}");
            eprintln!("skipped: PostgreSQL tests with a server of their own ({why})");
            None
        }
    }
}

/// The `postgres` user's uid, and a temporary directory it owns.
fn postgres_directory() -> Result<(u32, tempfile::TempDir), String> {
    if !Path::new(BIN).join("pg_ctl").exists() {
        return Err(format!("no {BIN}/pg_ctl"));
    }
    let mut id = Command::new("id");
    id.args(["-u", "postgres"]);
    let uid = run(id, Duration::from_secs(5))?;
    let uid: u32 = uid.trim().parse().map_err(|_| format!("no postgres user ({})", uid.trim()))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::os::unix::fs::chown(dir.path(), Some(uid), None).map_err(|e| format!("chown: {e}"))?;
    Ok((uid, dir))
}

impl Server {
    /// A replica of the server at `primary_url`, streaming and accepting reads.
    pub fn replica_of(primary_url: &str) -> Option<Server> {
        or_skip(Server::try_replica_of(primary_url))
    }

    /// A fresh, empty cluster whose superuser is `root` (trust authentication).
    pub fn fresh() -> Option<Server> {
        or_skip(Server::try_fresh())
    }

    fn try_fresh() -> Result<Server, String> {
        let (_, dir) = postgres_directory()?;
        let data = dir.path().join("data");
        let mut init = as_postgres("initdb");
        init.arg("-D").arg(&data).args(["-U", "root", "--auth=trust", "--no-sync"]);
        run(init, Duration::from_secs(120))?;
        Server::start(dir, data, "root", "postgres")
    }

    fn try_replica_of(primary_url: &str) -> Result<Server, String> {
        let (uid, dir) = postgres_directory()?;
        let data = dir.path().join("data");
        // Another test on the shared server may end the backup's connections: try again.
        let mut attempts = 0;
        loop {
            let mut backup = as_postgres("pg_basebackup");
            backup.arg("-d").arg(primary_url).arg("-D").arg(&data).args(["-R", "-X", "stream", "-c", "fast"]);
            match run(backup, Duration::from_secs(120)) {
                Ok(_) => break,
                Err(e) if attempts >= 2 => return Err(e),
                Err(e) => {
                    attempts += 1;
                    eprintln!("pg_basebackup failed, trying again: {e}");
                    let _ = std::fs::remove_dir_all(&data);
                }
            }
        }
        // Debian keeps the primary's configuration in /etc: the copy needs its own.
        for (file, text) in [
            ("postgresql.conf", ""),
            ("pg_ident.conf", ""),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
        ] {
            let path = data.join(file);
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&path, Some(uid), None).map_err(|e| e.to_string())?;
        }
        let (user, database) = user_and_database(primary_url);
        Server::start(dir, data, &user, &database)
    }

    fn start(dir: tempfile::TempDir, data: PathBuf, user: &str, database: &str) -> Result<Server, String> {
        let port = free_port()?;
        let mut server =
            Server { url: format!("postgres://{user}@127.0.0.1:{port}/{database}"), data, dir, port, running: false };
        server.pg_ctl_start()?;
        Ok(server)
    }

    fn pg_ctl_start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c shared_buffers=16MB \
             -c hot_standby_feedback=on",
            self.port,
            self.dir.path().display()
        );
        let mut start = as_postgres("pg_ctl");
        start.arg("-D").arg(&self.data).arg("-l").arg(self.dir.path().join("log"));
        start.args(["-w", "-t", "90", "-o", &options, "start"]);
        if let Err(e) = run(start, Duration::from_secs(100)) {
            let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
            return Err(format!("{e}\n{log}"));
        }
        self.running = true;
        Ok(())
    }

    /// Stops the server (`-m fast`: connections are ended, as in a restart by an
    /// administrator) and starts it again on the same port.
    pub fn restart(&mut self) {
        let mut stop = as_postgres("pg_ctl");
        stop.arg("-D").arg(&self.data).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(stop, Duration::from_secs(70)).expect("the server stops");
        self.running = false;
        self.pg_ctl_start().expect("the server starts again");
    }

    /// A connection to the server.
    pub fn connection(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("a connection to the server")
    }

    /// Stops replaying WAL: the replica keeps answering, from the state it has.
    pub fn pause_replay(&self) {
        diesel::sql_query("SELECT pg_wal_replay_pause()").execute(&mut self.connection()).expect("pause replay");
    }

    /// Replays again.
    pub fn resume_replay(&self) {
        diesel::sql_query("SELECT pg_wal_replay_resume()").execute(&mut self.connection()).expect("resume replay");
    }

    /// Waits (at most 60 s) until the replica has replayed everything the primary
    /// `primary` has written so far.
    pub fn catch_up(&self, primary: &mut PgConnection) {
        let target: String = diesel::select(diesel::dsl::sql::<Text>("pg_current_wal_flush_lsn()::text"))
            .get_result(primary)
            .expect("the primary's position");
        let mut conn = self.connection();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done: bool =
                diesel::select(diesel::dsl::sql::<Bool>(&format!("pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")))
                    .get_result(&mut conn)
                    .expect("the replica's position");
            if done {
                return;
            }
            if Instant::now() > deadline {
                let state: String = diesel::select(diesel::dsl::sql::<Text>(
                    "concat_ws(' ', 'received', pg_last_wal_receive_lsn(), 'replayed', pg_last_wal_replay_lsn(), \
                     'paused', pg_is_wal_replay_paused())",
                ))
                .get_result(&mut conn)
                .unwrap_or_default();
                let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
                panic!("the replica did not reach {target} within 60 s: {state}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (as a crash would), leaving its files.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let mut stop = as_postgres("pg_ctl");
        stop.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "-t", "30", "stop"]);
        if run(stop, Duration::from_secs(40)).is_err() {
            // Kill the postmaster by the pid in its lock file.
            let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
            if let Some(pid) = pid {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
