//! From a sync step's envelopes and findings to the policy's changes: the
//! glue between [`crate::matching`], [`crate::policy`] and the store, so the
//! sync loop neither matches nor decides (architecture.md, "Data flow").
//!
//! Every step runs under one lock: the policy reads the contact state, then
//! writes it back in the step's transaction, and two inbox tasks of one
//! account must not interleave there (a PostgreSQL store shared by several
//! processes will need row versions instead; docs/decisions.md).

use std::collections::{BTreeSet, HashSet};

use crate::bounce::{Kind, Report, Verdict};
use crate::matching::{self, Confidence, Match};
use crate::policy::{self, Changes, Ledger, Notice, contact_address};
use crate::sink::Sink;
use crate::source::{Envelope, Finding, FolderRole, sha256_hex};
use crate::store::{Error, PolicyStore};
use crate::track::{self, TrackedMessage, normalise_address};

/// The policy and matching settings of a running service, and the locks
/// that keep its steps from interleaving.
#[derive(Debug, Default)]
pub struct Pipeline {
    /// The contact policy.
    pub policy: policy::Settings,
    /// Matching.
    pub matching: matching::Settings,
    step: tokio::sync::Mutex<()>,
    drain: tokio::sync::Mutex<()>,
    /// Woken when events were written and an HTTP dispatcher delivers them.
    dispatcher: std::sync::OnceLock<std::sync::Arc<tokio::sync::Notify>>,
}

impl Pipeline {
    /// A pipeline with these settings.
    pub fn new(policy: policy::Settings, matching: matching::Settings) -> Pipeline {
        Pipeline {
            policy,
            matching,
            step: tokio::sync::Mutex::new(()),
            drain: tokio::sync::Mutex::new(()),
            dispatcher: std::sync::OnceLock::new(),
        }
    }

    /// Wakes `notify` whenever events were written (an HTTP dispatcher's
    /// [`crate::outbox::Dispatcher::notifier`]); the first call wins.
    pub fn notify_dispatcher(&self, notify: std::sync::Arc<tokio::sync::Notify>) {
        let _ = self.dispatcher.set(notify);
    }

    /// The dispatcher's wake-up, when one was set.
    pub fn dispatcher_notify(&self) -> Option<&std::sync::Arc<tokio::sync::Notify>> {
        self.dispatcher.get()
    }

    /// Holds the step lock: plan and commit one step while holding it.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.step.lock().await
    }
}

/// One finding prepared for the policy: the notice and, per address, its match.
struct Prepared<'a> {
    finding: &'a Finding,
    noticed_at: i64,
    raw_sha256: String,
    matches: Vec<Match>,
}

/// The changes one sync step causes: Sent-folder tracking, and for watched
/// folders the matched notices and the signs of life of ordinary mail, fed
/// to the policy in UID order. Reads the store; writes nothing.
pub async fn plan<S: PolicyStore>(
    store: &S,
    pipeline: &Pipeline,
    role: FolderRole,
    track_sent: bool,
    envelopes: &[Envelope],
    findings: &[Finding],
    now: i64,
) -> Result<Changes, Error> {
    let mut ledger = Ledger::new(pipeline.policy);
    if role == FolderRole::Sent {
        if track_sent {
            ledger.track(sent_messages(store, envelopes).await?);
        }
        return Ok(ledger.into_changes());
    }
    let Some(account) = envelopes
        .first()
        .map(|e| e.account.clone())
        .or_else(|| findings.first().map(|f| f.envelope.account.clone()))
    else {
        return Ok(ledger.into_changes());
    };

    // Which tracked messages the notices cite, in one lookup.
    let mut cited: Vec<String> = Vec::new();
    for f in findings {
        let (reply, embedded) = matching::cited_ids(&f.report);
        cited.extend(reply);
        cited.extend(embedded);
        if let Some(id) = f
            .report
            .complaint
            .as_ref()
            .and_then(|c| c.original_message_id.clone())
        {
            cited.push(id);
        }
    }
    let by_id = if cited.is_empty() {
        Vec::new()
    } else {
        store.tracked(&account, &cited).await?
    };

    // Match every address of every notice.
    let mut prepared = Vec::with_capacity(findings.len());
    let mut addresses: BTreeSet<String> = BTreeSet::new();
    for f in findings {
        let noticed_at =
            matching::notice_time(f.envelope.internal_date.as_deref(), &f.report).unwrap_or(now);
        let mut matches = Vec::new();
        for (address, final_address) in notice_addresses(&f.report) {
            let window = store
                .tracked_to(
                    &account,
                    &address,
                    noticed_at.saturating_sub(pipeline.matching.window_secs),
                    noticed_at.saturating_add(matching::CLOCK_SKEW_SECS),
                )
                .await?;
            let report = &f.report;
            matches.push(matching::match_address(
                report,
                &address,
                final_address.as_deref(),
                noticed_at,
                &by_id,
                &window,
                &pipeline.matching,
            ));
            if !address.trim().is_empty() {
                addresses.insert(contact_address(&address));
            }
        }
        if let Some(to) = complaint_fallback(&f.report, matches.first()) {
            addresses.insert(to);
        }
        prepared.push(Prepared {
            finding: f,
            noticed_at,
            raw_sha256: sha256_hex(&f.raw),
            matches,
        });
    }
    let notice_uids: HashSet<u32> = findings.iter().map(|f| f.envelope.uid).collect();
    for e in envelopes.iter().filter(|e| !notice_uids.contains(&e.uid)) {
        if let Some(from) = e.from.as_deref().and_then(normalise_address) {
            addresses.insert(from);
        }
    }

    // The stored state of every address involved.
    let addresses: Vec<String> = addresses.into_iter().collect();
    if !addresses.is_empty() {
        for state in store.contacts(&account, &addresses).await? {
            ledger.load_contact(state);
        }
        for pending in store.pending(&account, &addresses).await? {
            ledger.load_pending(pending);
        }
    }
    load_for_rules(store, pipeline, &mut ledger, &account, &prepared).await?;

    // Feed the policy in UID order: a reply before a bounce resets, after it
    // does not undo it.
    let mut order: Vec<(u32, Option<usize>)> = envelopes
        .iter()
        .filter(|e| !notice_uids.contains(&e.uid))
        .map(|e| (e.uid, None))
        .collect();
    order.extend(
        prepared
            .iter()
            .enumerate()
            .map(|(i, p)| (p.finding.envelope.uid, Some(i))),
    );
    order.sort();
    for (uid, index) in order {
        match index.and_then(|i| prepared.get(i)) {
            Some(p) => feed(&mut ledger, p),
            None => {
                if let Some(e) = envelopes.iter().find(|e| e.uid == uid)
                    && let Some(from) = e.from.as_deref().and_then(normalise_address)
                {
                    let at = matching::parse_utc(e.internal_date.as_deref().unwrap_or(""))
                        .or_else(|| e.date.as_deref().and_then(matching::parse_utc))
                        .unwrap_or(now);
                    ledger.sign_of_life(&account, &from, at);
                }
            }
        }
    }
    Ok(ledger.into_changes())
}

/// The tracked messages of a Sent folder step that are not tracked yet (a
/// message the CRM registered keeps its contact ids and metadata).
async fn sent_messages<S: PolicyStore>(
    store: &S,
    envelopes: &[Envelope],
) -> Result<Vec<TrackedMessage>, Error> {
    let candidates: Vec<TrackedMessage> = envelopes.iter().filter_map(track::from_sent).collect();
    let Some(account) = candidates.first().map(|m| m.account.clone()) else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = candidates.iter().map(|m| m.message_id.clone()).collect();
    let known: HashSet<String> = store
        .tracked(&account, &ids)
        .await?
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|m| !known.contains(&m.message_id))
        .collect())
}

/// The addresses a notice is about, with their final addresses: a bounce's
/// failed recipients, a complaint's complainant, an auto-reply's sender, a
/// delivery report's original recipients.
fn notice_addresses(report: &Report) -> Vec<(String, Option<String>)> {
    match report.verdict {
        Verdict::Bounce => report
            .recipients
            .iter()
            .map(|r| (r.address.clone(), r.final_address.clone()))
            .collect(),
        Verdict::Complaint => report
            .complaint
            .as_ref()
            .and_then(|c| c.recipient.clone())
            .map(|r| vec![(r, None)])
            .unwrap_or_else(|| vec![(String::new(), None)]),
        Verdict::AutoReply => report
            .message
            .from
            .clone()
            .map(|f| vec![(f, None)])
            .unwrap_or_default(),
        Verdict::DeliveryReport => report
            .original
            .to
            .iter()
            .map(|t| (t.clone(), None))
            .collect(),
        Verdict::NotBounce => Vec::new(),
    }
}

/// A redacted complaint about a message sent to one person names that person.
fn complaint_fallback(report: &Report, matched: Option<&Match>) -> Option<String> {
    if report.verdict != Verdict::Complaint {
        return None;
    }
    let message = matched?.message.as_ref()?;
    (message.recipients.len() == 1)
        .then(|| message.recipients.first().map(|r| r.address.clone()))
        .flatten()
}

/// What the soft-bounce reset and the global rule need beyond the contacts.
async fn load_for_rules<S: PolicyStore>(
    store: &S,
    pipeline: &Pipeline,
    ledger: &mut Ledger,
    account: &str,
    prepared: &[Prepared<'_>],
) -> Result<(), Error> {
    let settings = pipeline.policy;
    let mut soft: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut hard: BTreeSet<String> = BTreeSet::new();
    for p in prepared
        .iter()
        .filter(|p| p.finding.report.verdict == Verdict::Bounce)
    {
        for (r, m) in p.finding.report.recipients.iter().zip(&p.matches) {
            let address = contact_address(&r.address);
            match r.kind {
                Kind::Soft => {
                    let at = soft.entry(address).or_insert(p.noticed_at);
                    *at = (*at).max(p.noticed_at);
                }
                Kind::Hard if m.confidence == Some(Confidence::Certain) => {
                    hard.insert(address);
                }
                _ => {}
            }
        }
    }
    for (address, at) in soft {
        // Only a run in progress can be reset.
        if ledger
            .contact(account, &address)
            .is_none_or(|s| s.soft.is_empty())
        {
            continue;
        }
        let sends = store
            .tracked_to(
                account,
                &address,
                at.saturating_sub(settings.soft_bounce_window),
                at.saturating_sub(settings.delivered_after),
            )
            .await?;
        let bounced = store
            .recipient_findings(account, &address)
            .await?
            .into_iter()
            .filter_map(|f| f.message_id)
            .collect();
        ledger.load_sends(account, &address, sends, bounced);
    }
    for address in hard {
        for state in store.contacts_everywhere(&address).await? {
            ledger.load_contact(state);
        }
        let global = store.global_suppression(&address).await?;
        ledger.load_global(&address, global);
        ledger.load_trackers(&address, store.trackers(&address).await?);
    }
    Ok(())
}

/// Hands one prepared notice to the policy.
fn feed(ledger: &mut Ledger, p: &Prepared<'_>) {
    let f = p.finding;
    let notice = Notice {
        account: &f.envelope.account,
        inbox: &f.envelope.inbox,
        identity: &f.identity,
        report: &f.report,
        folder: &f.envelope.folder,
        uidvalidity: f.envelope.uidvalidity,
        uid: f.envelope.uid,
        raw_sha256: &p.raw_sha256,
        location: f.envelope.location.as_deref(),
        noticed_at: p.noticed_at,
    };
    let unmatched = Match {
        method: matching::Method::Unmatched,
        confidence: None,
        message: None,
        detection_limited: false,
        gateway: f.report.gateway.clone(),
        final_address: None,
    };
    match f.report.verdict {
        Verdict::Bounce => {
            for (recipient, matched) in f.report.recipients.iter().zip(&p.matches) {
                ledger.bounce(&notice, recipient, matched);
            }
        }
        Verdict::Complaint => {
            let matched = p.matches.first().unwrap_or(&unmatched);
            let address = f
                .report
                .complaint
                .as_ref()
                .and_then(|c| c.recipient.as_deref())
                .filter(|a| !a.trim().is_empty());
            ledger.complaint(&notice, address, matched);
        }
        Verdict::AutoReply => {
            if let (Some(from), Some(matched)) =
                (f.report.message.from.as_deref(), p.matches.first())
            {
                ledger.auto_reply(&notice, from, matched);
            }
        }
        Verdict::DeliveryReport => {
            let key = p
                .matches
                .iter()
                .find_map(|m| m.message.as_ref().map(|t| t.message_id.clone()))
                .or_else(|| f.report.original.message_id.clone())
                .unwrap_or_else(|| f.identity.clone());
            ledger.delivered(
                &f.envelope.account,
                &f.report.original.to,
                &key,
                p.noticed_at,
            );
        }
        Verdict::NotBounce => {}
    }
}

/// Turns due pending delays into soft bounces (`bounce.pending_expired`),
/// as of `now`; returns how many expired. The daemon calls it on a timer,
/// `run --once` before it exits, tests with a clock of their own.
pub async fn run_due<S: PolicyStore>(
    store: &S,
    pipeline: &Pipeline,
    sink: &Sink,
    now: i64,
) -> Result<usize, Error> {
    let mut expired = 0;
    loop {
        let _step = pipeline.lock().await;
        let due = store.due_pending(now, 500).await?;
        if due.is_empty() {
            break;
        }
        let mut ledger = Ledger::new(pipeline.policy);
        for p in &due {
            for state in store
                .contacts(&p.account, std::slice::from_ref(&p.address))
                .await?
            {
                ledger.load_contact(state);
            }
            ledger.load_pending(p.clone());
        }
        for p in &due {
            ledger.expire(p, now);
        }
        expired += due.len();
        store.apply(&ledger.into_changes(), now).await?;
    }
    drain(store, pipeline, sink).await;
    Ok(expired)
}

/// Why an unsuppress could not be done.
#[derive(Debug, thiserror::Error)]
pub enum UnsuppressError {
    /// The policy refused (not suppressed, no actor).
    #[error(transparent)]
    Policy(#[from] policy::UnsuppressError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Lifts an account's suppression of `address` (recorded with `actor` and
/// `reason`); returns the `contact.unsuppressed` event id.
pub async fn unsuppress<S: PolicyStore>(
    store: &S,
    pipeline: &Pipeline,
    account: &str,
    address: &str,
    actor: &str,
    reason: &str,
    now: i64,
) -> Result<String, UnsuppressError> {
    let address = contact_address(address);
    let _step = pipeline.lock().await;
    let mut ledger = Ledger::new(pipeline.policy);
    for state in store
        .contacts(account, std::slice::from_ref(&address))
        .await?
    {
        ledger.load_contact(state);
    }
    let id = ledger.unsuppress(account, &address, actor, reason, now)?;
    store.apply(&ledger.into_changes(), now).await?;
    Ok(id)
}

/// Lifts the global suppression of `address` and the account suppressions
/// it caused; returns the `contact.unsuppressed` event ids.
pub async fn lift_global<S: PolicyStore>(
    store: &S,
    pipeline: &Pipeline,
    address: &str,
    actor: &str,
    reason: &str,
    now: i64,
) -> Result<Vec<String>, UnsuppressError> {
    let address = contact_address(address);
    let _step = pipeline.lock().await;
    let mut ledger = Ledger::new(pipeline.policy);
    for state in store.contacts_everywhere(&address).await? {
        ledger.load_contact(state);
    }
    ledger.load_global(&address, store.global_suppression(&address).await?);
    let ids = ledger.lift_global(&address, actor, reason, now)?;
    store.apply(&ledger.into_changes(), now).await?;
    Ok(ids)
}

/// Hands undelivered outbox events to the sink in order and marks them
/// delivered (not for [`Sink::Dispatcher`]: the HTTP dispatcher delivers
/// those itself). A sink failure is logged and leaves them for the next call
/// (the outbox keeps them; nothing is lost). Returns how many went out.
pub async fn drain<S: PolicyStore>(store: &S, pipeline: &Pipeline, sink: &Sink) -> usize {
    if sink.is_dispatcher() {
        if let Some(notify) = pipeline.dispatcher.get() {
            notify.notify_one();
        }
        return 0;
    }
    let _drain = pipeline.drain.lock().await;
    let mut total = 0;
    loop {
        let entries = match store.undelivered(500).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the event outbox");
                return total;
            }
        };
        if entries.is_empty() {
            return total;
        }
        let events: Vec<_> = entries.into_iter().map(|e| e.event).collect();
        if let Err(err) = sink.deliver_events(&events) {
            tracing::warn!(error = %err, pending = events.len(), "cannot deliver events; they stay in the outbox");
            return total;
        }
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        if let Err(err) = store.mark_delivered(&ids, crate::sync::unix_now()).await {
            tracing::warn!(error = %err, "cannot mark events delivered; they will be delivered again");
            return total;
        }
        total += events.len();
    }
}
