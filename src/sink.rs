//! Where findings go until the outbox of a later issue takes over: one JSON
//! line per finding on standard output, appended to a file, or (for tests
//! and benchmarks in the same process) sent on a channel.
//!
//! A batch is handed to the sink *before* its checkpoint is committed, so a
//! crash in between hands it on again with the same identities
//! (at-least-once; receivers de-duplicate by `identity`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::bounce::Report;
use crate::source::{Envelope, Finding};

/// What one sync step hands on: every new message's envelope, and the
/// findings among them.
#[derive(Debug, Default)]
pub struct Batch {
    /// Every new message, candidates included.
    pub envelopes: Vec<Envelope>,
    /// The analysed candidates that are notices (verdict other than `not_bounce`).
    pub findings: Vec<Finding>,
    /// When the server's announcement that started this step arrived (IMAP
    /// IDLE: the EXISTS response), for latency telemetry; `None` for steps
    /// started by a timer or at startup.
    pub trigger: Option<std::time::Instant>,
}

/// A sink failed; the batch is not committed and is handed on again later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the file or standard output failed.
    #[error("cannot write findings to {target}: {source}")]
    Write {
        /// `stdout` or the file path.
        target: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The in-process receiver is gone.
    #[error("the findings channel is closed")]
    Closed,
}

/// The JSON line written per finding.
#[derive(Debug, Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    identity: &'a str,
    envelope: &'a Envelope,
    report: &'a Report,
}

/// Where findings are delivered.
#[derive(Debug)]
pub enum Sink {
    /// One JSON line per finding on standard output.
    Stdout,
    /// One JSON line per finding appended to a file (created when missing).
    File {
        /// The file.
        path: PathBuf,
        /// The open file, shared by every inbox task.
        file: Mutex<std::fs::File>,
    },
    /// Every batch sent to an in-process receiver.
    Channel(mpsc::UnboundedSender<Batch>),
}

impl Sink {
    /// A sink appending to `path`.
    pub fn file(path: &Path) -> Result<Sink, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Write {
                target: path.display().to_string(),
                source,
            })?;
        Ok(Sink::File {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// A sink sending batches to the returned receiver.
    pub fn channel() -> (Sink, mpsc::UnboundedReceiver<Batch>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Sink::Channel(tx), rx)
    }

    /// Hands a batch on. Lines are written whole and flushed before this
    /// returns, so a committed checkpoint never covers an unwritten finding.
    pub fn deliver(&self, batch: Batch) -> Result<(), Error> {
        match self {
            Sink::Channel(tx) => tx.send(batch).map_err(|_| Error::Closed),
            Sink::Stdout => {
                if batch.findings.is_empty() {
                    return Ok(());
                }
                let text = lines(&batch);
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|source| Error::Write {
                        target: "stdout".into(),
                        source,
                    })
            }
            Sink::File { path, file } => {
                if batch.findings.is_empty() {
                    return Ok(());
                }
                let text = lines(&batch);
                let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                file.write_all(text.as_bytes())
                    .and_then(|()| file.flush())
                    .map_err(|source| Error::Write {
                        target: path.display().to_string(),
                        source,
                    })
            }
        }
    }
}

/// One JSON line per finding.
fn lines(batch: &Batch) -> String {
    let mut text = String::new();
    for finding in &batch.findings {
        let line = Line {
            kind: "finding",
            identity: &finding.identity,
            envelope: &finding.envelope,
            report: &finding.report,
        };
        // Serialising plain data with string keys cannot fail.
        if let Ok(json) = serde_json::to_string(&line) {
            text.push_str(&json);
            text.push('\n');
        }
    }
    text
}
