//! Stopping Dovecot's process tree (the master and the services it forks).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ends the master and every process under it. Dovecot's children do not
/// reliably die with the master (an orphaned `imap` process would keep
/// serving an open session), so they get SIGTERM first, while the master is
/// alive to reap them (orphans would linger as zombies where init does not
/// reap), then the master; SIGKILL for whatever is left after `limit`.
pub(super) async fn terminate(mut child: Child, limit: Duration) {
    let master = child.id();
    let deadline = Instant::now() + limit;
    let processes = descendants(master);
    for pid in &processes {
        signal(*pid, "TERM");
    }
    while processes.iter().any(|p| exists(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Services the master restarted meanwhile go the same way.
    let respawned = descendants(master);
    signal(master, "TERM");
    for pid in &respawned {
        signal(*pid, "TERM");
    }
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) && !respawned.iter().any(|p| alive(*p)) {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    for pid in processes.iter().chain(&respawned) {
        signal(*pid, "KILL");
    }
    let _ = child.wait();
}

/// Whether `pid` is in the process table at all (zombies included).
pub(super) fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is still a live (non-zombie) process.
pub(super) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Every process below `pid`, children first found, recursively.
pub(super) fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in children_of(parent) {
            if !out.contains(&child) {
                out.push(child);
                queue.push(child);
            }
        }
    }
    out
}

pub(super) fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Pids whose parent is `pid`, from /proc/*/stat.
pub(super) fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) && state != Some("Z") {
            out.push(child);
        }
    }
    out
}
