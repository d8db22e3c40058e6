//! Where events go (the `callback:` of the config): one JSON line per event
//! on standard output, appended to a file, or (for tests and benchmarks in
//! the same process) sent on a channel together with each step's envelopes
//! and findings.
//!
//! Events reach the sink from the outbox ([`crate::ingest::drain`]) after
//! the step that wrote them committed; an event is marked delivered only
//! once the sink took it, so a failure or a crash delivers it again with the
//! same id (at-least-once; receivers de-duplicate by `id`). The HTTP
//! callback of the next issue is one more sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::event::Event;
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
    /// Events from the outbox (a batch of the drain carries only these).
    pub events: Vec<Event>,
}

/// A sink failed; the batch is not committed and is handed on again later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the file or standard output failed.
    #[error("cannot write events to {target}: {source}")]
    Write {
        /// `stdout` or the file path.
        target: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The in-process receiver is gone.
    #[error("the events channel is closed")]
    Closed,
}

/// Where events are delivered.
#[derive(Debug)]
pub enum Sink {
    /// One JSON line per event on standard output.
    Stdout,
    /// One JSON line per event appended to a file (created when missing).
    File {
        /// The file.
        path: PathBuf,
        /// The open file, shared by every inbox task.
        file: Mutex<std::fs::File>,
    },
    /// Every batch sent to an in-process receiver.
    Channel(mpsc::UnboundedSender<Batch>),
    /// Events stay in the outbox for the HTTP dispatcher
    /// ([`crate::outbox`]), which delivers, retries and dead-letters them.
    Dispatcher,
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

    /// Hands a step's envelopes and findings on: to the channel; the other
    /// sinks carry events only.
    pub fn deliver(&self, batch: Batch) -> Result<(), Error> {
        match self {
            Sink::Channel(tx) => tx.send(batch).map_err(|_| Error::Closed),
            Sink::Stdout | Sink::File { .. } | Sink::Dispatcher => Ok(()),
        }
    }

    /// Whether events are left in the outbox for the HTTP dispatcher.
    pub fn is_dispatcher(&self) -> bool {
        matches!(self, Sink::Dispatcher)
    }

    /// Hands events on, in order. Lines are written whole and flushed before
    /// this returns, so an event marked delivered is on disk or on stdout.
    pub fn deliver_events(&self, events: &[Event]) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Dispatcher => Err(Error::Closed),
            Sink::Channel(tx) => tx
                .send(Batch {
                    events: events.to_vec(),
                    ..Batch::default()
                })
                .map_err(|_| Error::Closed),
            Sink::Stdout => {
                let text = lines(events);
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|source| Error::Write {
                        target: "stdout".into(),
                        source,
                    })
            }
            Sink::File { path, file } => {
                let text = lines(events);
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

/// One JSON line per event.
fn lines(events: &[Event]) -> String {
    let mut text = String::new();
    for event in events {
        // Serialising plain data with string keys cannot fail.
        if let Ok(json) = serde_json::to_string(event) {
            text.push_str(&json);
            text.push('\n');
        }
    }
    text
}
