//! A streaming replica of the test server, for the replica tests: a base backup
//! (`pg_basebackup -R`) in a temporary directory, started with `pg_ctl` on a free port
//! as the `postgres` user, stopped (`-m immediate`) and removed on drop. Every command
//! runs under a timeout and is killed when it runs over.
//!
//! The server must allow replication connections from 127.0.0.1 (`host replication`
//! in `pg_hba.conf`; `.ci/run` adds it). Without the binaries, the `postgres` user or
//! that permission the test prints one skip line, or fails under `LMLANG_PG_REQUIRED=1`.

#![allow(dead_code)]

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running replica; stopped and deleted on drop.
pub struct Replica {
    dir: tempfile::TempDir,
    data: PathBuf,
    /// `postgres://user@127.0.0.1:PORT/db` of the replica.
    pub url: String,
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

impl Replica {
    /// A replica of the server at `primary_url`, streaming and accepting reads; `None`
    /// (after the skip line) when this machine cannot make one.
    pub fn start(primary_url: &str) -> Option<Replica> {
        let required = std::env::var("LMLANG_PG_REQUIRED").is_ok_and(|v| v == "1");
        match Replica::try_start(primary_url) {
            Ok(replica) => Some(replica),
            Err(why) => {
                assert!(!required, "LMLANG_PG_REQUIRED=1 but no replica could be made: {why}");
                eprintln!("skipped: PostgreSQL replica tests ({why})");
                None
            }
        }
    }

    fn try_start(primary_url: &str) -> Result<Replica, String> {
        if !Path::new(BIN).join("pg_basebackup").exists() {
            return Err(format!("no {BIN}/pg_basebackup"));
        }
        let uid = run(
            {
                let mut c = Command::new("id");
                c.args(["-u", "postgres"]);
                c
            },
            Duration::from_secs(5),
        )?;
        let uid: u32 = uid.trim().parse().map_err(|_| format!("no postgres user ({})", uid.trim()))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(dir.path(), Some(uid), None).map_err(|e| format!("chown: {e}"))?;
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
        let port = free_port()?;
        let (user, database) = user_and_database(primary_url);
        let replica =
            Replica { url: format!("postgres://{user}@127.0.0.1:{port}/{database}"), data, dir, running: true };
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c shared_buffers=16MB \
             -c hot_standby_feedback=on",
            replica.dir.path().display()
        );
        let mut start = as_postgres("pg_ctl");
        start.arg("-D").arg(&replica.data).arg("-l").arg(replica.dir.path().join("log"));
        start.args(["-w", "-t", "90", "-o", &options, "start"]);
        if let Err(e) = run(start, Duration::from_secs(100)) {
            let log = std::fs::read_to_string(replica.dir.path().join("log")).unwrap_or_default();
            return Err(format!("{e}\n{log}"));
        }
        Ok(replica)
    }

    /// A connection to the replica.
    pub fn connection(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("a connection to the replica")
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

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}
