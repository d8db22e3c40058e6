//! One sync step of one folder, shared by every source: the messages' first
//! fetch step in, envelopes and findings out, handed to the sink and then
//! committed with the checkpoint in one store transaction.
//!
//! The steps are split so that the source fetches in between:
//! [`Plan::new`] (pure: envelopes, candidate UIDs) → the source fetches the
//! candidates' bodies → [`Plan::analyse`] (pure: findings) → [`deliver`].

use crate::bounce::{self, Verdict, prefilter};
use crate::ingest::{self, Pipeline};
use crate::sink::{Batch, Sink};
use crate::source::{self, Checkpoint, Envelope, Finding, FolderRole};
use crate::store::{FindingRecord, PolicyStore};

/// What the first fetch step returned for one message.
#[derive(Debug, Clone)]
pub struct Head {
    /// UID (Maildir: the mtime watermark, see `maildir`).
    pub uid: u32,
    /// INTERNALDATE (Maildir: mtime), RFC 3339 UTC.
    pub internal_date: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The raw header block.
    pub header: Vec<u8>,
    /// Every MIME part's `type/subtype` (BODYSTRUCTURE).
    pub content_types: Vec<String>,
    /// Where a local source keeps the message.
    pub location: Option<String>,
    /// The first step could not tell what the message is (its structure was
    /// unreadable): fetch it whole.
    pub force_candidate: bool,
}

/// The folder a step works on.
#[derive(Debug, Clone)]
pub struct FolderCtx {
    /// The inbox id.
    pub inbox: String,
    /// Its account.
    pub account: String,
    /// The folder's decoded name.
    pub folder: String,
    /// What the folder is for.
    pub role: FolderRole,
    /// Its UIDVALIDITY.
    pub uidvalidity: u32,
}

/// A step in progress.
#[derive(Debug)]
pub struct Plan {
    envelopes: Vec<Envelope>,
    /// The highest UID covered by this step.
    last_uid: u32,
    /// Messages whose headers could not decide and whose structure can:
    /// see [`Plan::structure_uids`].
    needs_structure: Vec<u32>,
}

impl Plan {
    /// Envelopes for every head; candidates are those the pre-filter keeps
    /// in watched folders (Sent mail is tracked, never analysed).
    pub fn new(ctx: &FolderCtx, heads: Vec<Head>) -> Plan {
        let mut last_uid = 0;
        let mut needs_structure = Vec::new();
        let envelopes = heads
            .into_iter()
            .map(|head| {
                last_uid = last_uid.max(head.uid);
                let inspected =
                    prefilter::inspect(&head.header, head.content_types.iter().map(String::as_str));
                if inspected.needs_structure && ctx.role.is_watched() && !head.force_candidate {
                    needs_structure.push(head.uid);
                }
                let info = inspected.info;
                Envelope {
                    inbox: ctx.inbox.clone(),
                    account: ctx.account.clone(),
                    folder: ctx.folder.clone(),
                    role: ctx.role,
                    uidvalidity: ctx.uidvalidity,
                    uid: head.uid,
                    internal_date: head.internal_date,
                    date: info.date,
                    from: info.from,
                    recipients: inspected.recipients,
                    subject: info.subject,
                    message_id: info.message_id,
                    in_reply_to: info.in_reply_to,
                    references: info.references,
                    size: head.size,
                    candidate: (inspected.candidate || head.force_candidate)
                        && ctx.role.is_watched(),
                    location: head.location,
                }
            })
            .collect();
        Plan {
            envelopes,
            last_uid,
            needs_structure,
        }
    }

    /// The UIDs whose MIME structure (BODYSTRUCTURE) the source should fetch
    /// and pass to [`Plan::add_structure`]: messages in watched folders that
    /// are no candidates by their headers, but whose top-level type can nest
    /// a report. A source that fetched structures with the heads has none.
    pub fn structure_uids(&self) -> &[u32] {
        &self.needs_structure
    }

    /// Decides again, with their content types, for messages of
    /// [`Plan::structure_uids`] (`(uid, content types)`).
    pub fn add_structure(&mut self, structures: Vec<(u32, Vec<String>)>) {
        for (uid, types) in structures {
            let Some(envelope) = self.envelopes.iter_mut().find(|e| e.uid == uid) else {
                continue;
            };
            if types
                .iter()
                .any(|t| crate::bounce::prefilter::is_report_type(t))
            {
                envelope.candidate = true;
            }
        }
        self.needs_structure.clear();
    }

    /// The UIDs whose whole body the source must fetch.
    pub fn candidate_uids(&self) -> Vec<u32> {
        self.envelopes
            .iter()
            .filter(|e| e.candidate)
            .map(|e| e.uid)
            .collect()
    }

    /// How many messages the step covers.
    pub fn len(&self) -> usize {
        self.envelopes.len()
    }

    /// Whether the step covers no message.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }

    /// Analyses the fetched bodies (`(uid, bytes)`, capped by the fetch) and
    /// returns the batch. A candidate whose body did not come back (expunged
    /// meanwhile) keeps its envelope and yields no finding.
    pub fn analyse(self, bodies: Vec<(u32, Vec<u8>)>, max_bytes: usize) -> (Batch, u32) {
        let options = bounce::Options { max_bytes };
        let mut findings = Vec::new();
        for (uid, raw) in bodies {
            let Some(envelope) = self.envelopes.iter().find(|e| e.uid == uid && e.candidate) else {
                continue;
            };
            if let Some(finding) = finding(envelope, raw, &options) {
                findings.push(finding);
            }
        }
        (
            Batch {
                envelopes: self.envelopes,
                findings,
                trigger: None,
                events: Vec::new(),
            },
            self.last_uid,
        )
    }
}

/// Analyses one message; a finding when it is a notice of any kind.
pub fn finding(envelope: &Envelope, raw: Vec<u8>, options: &bounce::Options) -> Option<Finding> {
    let mut report = bounce::analyse_with(&raw, options);
    if report.verdict == Verdict::NotBounce {
        return None;
    }
    // The fetch itself stops at the cap (`BODY.PEEK[]<0.cap>`), so the
    // analysis may not see that more was there: the server's size says so.
    if envelope.size > raw.len() as u64 {
        report.truncated = true;
    }
    let message_id = report
        .message
        .message_id
        .as_deref()
        .or(envelope.message_id.as_deref());
    Some(Finding {
        identity: source::identity(&envelope.account, message_id, &raw),
        envelope: envelope.clone(),
        report,
        raw,
    })
}

/// What [`deliver`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Messages covered.
    pub messages: usize,
    /// Findings handed on (new identities only).
    pub findings: usize,
    /// Findings skipped because their identity was already handed on.
    pub duplicates: usize,
    /// Events the step wrote to the outbox.
    pub events: usize,
    /// Sent messages it started tracking.
    pub tracked: usize,
}

/// Why a step could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] crate::sink::Error),
}

/// Drops findings already handed on (a rescan after a UIDVALIDITY change, the
/// same notice in two folders), lets the policy plan the step's changes
/// ([`crate::ingest::plan`]: Sent-folder tracking, matches, contact state,
/// events), commits them with the findings and the new checkpoint in one
/// transaction, then hands the batch and the new events to the sink. Events
/// the sink cannot take stay in the outbox for the next drain; nothing is
/// committed when planning or the store fails, so the step is repeated.
#[allow(clippy::too_many_arguments)]
pub async fn deliver<S: PolicyStore>(
    store: &S,
    sink: &Sink,
    pipeline: &Pipeline,
    ctx: &FolderCtx,
    track_sent: bool,
    mut batch: Batch,
    checkpoint: Checkpoint,
    now: i64,
) -> Result<Delivered, DeliverError> {
    let identities: Vec<String> = batch.findings.iter().map(|f| f.identity.clone()).collect();
    let fresh = if identities.is_empty() {
        Vec::new()
    } else {
        store.unseen(&ctx.inbox, &identities).await?
    };
    let before = batch.findings.len();
    let mut keep = fresh.into_iter();
    batch.findings.retain(|_| keep.next().unwrap_or(true));
    // The same notice twice in one batch counts once.
    let mut seen = std::collections::HashSet::new();
    batch.findings.retain(|f| seen.insert(f.identity.clone()));
    let records: Vec<FindingRecord> = batch
        .findings
        .iter()
        .map(|f| FindingRecord {
            identity: f.identity.clone(),
            folder: ctx.folder.clone(),
            uidvalidity: f.envelope.uidvalidity,
            uid: f.envelope.uid,
            verdict: verdict_name(f.report.verdict).to_string(),
            raw_sha256: source::sha256_hex(&f.raw),
            found_at: now,
        })
        .collect();
    let mut delivered = Delivered {
        messages: batch.envelopes.len(),
        findings: batch.findings.len(),
        duplicates: before - batch.findings.len(),
        events: 0,
        tracked: 0,
    };
    {
        let _step = pipeline.lock().await;
        let changes = ingest::plan(
            store,
            pipeline,
            ctx.role,
            track_sent,
            &batch.envelopes,
            &batch.findings,
            now,
        )
        .await?;
        delivered.events = changes.events.len();
        delivered.tracked = changes.tracked.len();
        record_metrics(&ctx.inbox, delivered.messages, &changes);
        store
            .commit_step(&ctx.inbox, &ctx.folder, checkpoint, &records, &changes, now)
            .await?;
    }
    if let Err(err) = sink.deliver(batch) {
        tracing::debug!(error = %err, "the findings receiver is gone");
    }
    ingest::drain(store, pipeline, sink).await;
    Ok(delivered)
}

/// Counts a step in the metrics (`/metrics`).
fn record_metrics(inbox: &str, messages: usize, changes: &crate::policy::Changes) {
    crate::telemetry::messages_scanned(inbox, u64::try_from(messages).unwrap_or(u64::MAX));
    for f in &changes.findings {
        if let (Some(kind), Some(reason)) = (&f.kind, &f.reason) {
            crate::telemetry::bounce(kind, reason);
        }
        crate::telemetry::matched(&f.method);
    }
    for e in &changes.events {
        crate::telemetry::events_written(e.kind.as_str(), 1);
    }
}

/// The verdict's stable name (as in the JSON output).
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Bounce => "bounce",
        Verdict::DeliveryReport => "delivery_report",
        Verdict::AutoReply => "auto_reply",
        Verdict::Complaint => "complaint",
        Verdict::NotBounce => "not_bounce",
    }
}
