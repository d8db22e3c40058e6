//! The sync loop of an IMAP inbox: one connection, every watched folder
//! synced on a timer, IDLE on INBOX in between (RFC 2177), reconnects with
//! jittered backoff and a login rate limit.
//!
//! Read-only throughout: folders are opened with EXAMINE and bodies fetched
//! with BODY.PEEK, so `\Seen` is never set and nothing is moved or deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::{self, Backoff, LoginLimiter};
use super::batch::{self, FolderCtx, Head, Plan};
use super::health::Reporter;
use super::{InboxOutcome, Mode, Shared, unix_now};
use crate::config::{Auth, FolderRef, ImapSettings, InboxConfig, Secret};
use crate::imap::{self, Credentials, FolderInfo, IdleEnd, Session};
use crate::oauth::{self, TokenSource};
use crate::source::{Checkpoint, FolderRole};
use crate::store::{HealthState, PolicyStore};

/// Messages per step: heads are fetched, candidates fetched whole, and the
/// checkpoint committed, for this many UIDs at a time.
const STEP: usize = 2000;

/// Failed sessions of a `--once` run before it gives up on an inbox.
const ONCE_ATTEMPTS: u32 = 5;

/// Why a session ended.
enum Failure {
    /// Credentials refused: needs a person (re-authorise, fix the password).
    Auth(String),
    /// Anything else: back off and reconnect.
    Transient(String),
}

impl From<imap::Error> for Failure {
    fn from(err: imap::Error) -> Failure {
        if err.is_auth() {
            Failure::Auth(err.to_string())
        } else {
            Failure::Transient(err.to_string())
        }
    }
}

impl From<crate::store::Error> for Failure {
    fn from(err: crate::store::Error) -> Failure {
        Failure::Transient(err.to_string())
    }
}

impl From<batch::DeliverError> for Failure {
    fn from(err: batch::DeliverError) -> Failure {
        Failure::Transient(err.to_string())
    }
}

/// A folder to sync and what it is for.
#[derive(Debug, Clone)]
struct Target {
    info: FolderInfo,
    role: FolderRole,
}

/// Everything one inbox task holds.
struct Inbox<S> {
    shared: Arc<Shared<S>>,
    config: InboxConfig,
    settings: ImapSettings,
    mode: Mode,
    stop: CancellationToken,
    tokens: Option<TokenSource>,
    health: Reporter<S>,
    outcome: InboxOutcome,
    /// Folder → first UID of a step whose fetch failed: the next attempt
    /// fetches that step one message at a time, to find a message the
    /// client cannot read instead of failing on it forever.
    careful: HashMap<String, u32>,
    /// (folder, UID) whose BODYSTRUCTURE could not be read: its first step
    /// is fetched without it, and the message fetched whole.
    unreadable_structure: HashSet<(String, u32)>,
    /// (folder, UID) whose body could not be read: handed on as an envelope
    /// without a finding (and logged), so the folder moves on.
    unreadable_body: HashSet<(String, u32)>,
}

/// Runs one IMAP inbox until it is caught up (`--once`) or stopped.
pub async fn run<S: PolicyStore>(
    shared: Arc<Shared<S>>,
    config: InboxConfig,
    settings: ImapSettings,
    mode: Mode,
    stop: CancellationToken,
) -> InboxOutcome {
    let sync = shared.config.sync.clone();
    let health = Reporter::new(shared.store.clone(), &config.id, &config.account);
    let outcome = InboxOutcome::new(&config.id);
    let mut inbox = Inbox {
        shared,
        config,
        settings,
        mode,
        stop,
        tokens: None,
        health,
        outcome,
        careful: HashMap::new(),
        unreadable_structure: HashSet::new(),
        unreadable_body: HashSet::new(),
    };
    if let Err(message) = inbox.init_tokens().await {
        inbox
            .health
            .set(HealthState::AuthFailed, Some(message.clone()))
            .await;
        inbox.outcome.error = Some(message);
        return inbox.finish();
    }
    let mut backoff = Backoff::new(sync.backoff_initial, sync.backoff_max);
    let mut limiter = LoginLimiter::new(sync.login_interval);
    let mut failures = 0u32;
    loop {
        if !backoff::sleep_or_stop(limiter.wait_time(), &inbox.stop).await {
            break;
        }
        inbox.health.set(HealthState::Connecting, None).await;
        limiter.record();
        match inbox.session(&mut backoff).await {
            Ok(()) => {
                inbox.outcome.error = None;
                break;
            }
            Err(Failure::Auth(message)) => {
                // No retry storm: the inbox waits for a person.
                inbox
                    .health
                    .set(HealthState::AuthFailed, Some(message.clone()))
                    .await;
                inbox.outcome.error = Some(message);
                if !inbox.mode.once {
                    inbox.stop.cancelled().await;
                }
                break;
            }
            Err(Failure::Transient(message)) => {
                crate::telemetry::imap_reconnect(&inbox.config.id);
                inbox
                    .health
                    .set(HealthState::BackingOff, Some(message.clone()))
                    .await;
                inbox.outcome.error = Some(message);
                failures += 1;
                if inbox.mode.once && failures >= ONCE_ATTEMPTS {
                    break;
                }
                if !backoff::sleep_or_stop(backoff.next_delay(), &inbox.stop).await {
                    break;
                }
            }
        }
    }
    inbox.finish()
}

impl<S: PolicyStore> Inbox<S> {
    fn finish(mut self) -> InboxOutcome {
        self.outcome.state = self.health.state();
        self.outcome
    }

    /// Builds the token source of an OAuth2 inbox (a rotated refresh token
    /// in the store wins over the config's).
    async fn init_tokens(&mut self) -> Result<(), String> {
        let Auth::OAuth2(settings) = &self.settings.auth else {
            return Ok(());
        };
        let stored = self
            .shared
            .store
            .refresh_token(&self.config.id, &token_origin(&settings.refresh_token))
            .await
            .map_err(|e| e.to_string())?
            .map(Secret::new);
        let source = TokenSource::new(settings.clone(), stored).map_err(|e| e.to_string())?;
        self.tokens = Some(source);
        Ok(())
    }

    /// The credentials for the next login.
    async fn credentials(&self) -> Result<Credentials, Failure> {
        let username = self.settings.username.clone();
        match (&self.settings.auth, &self.tokens) {
            (
                Auth::Password {
                    password,
                    mechanism,
                },
                _,
            ) => Ok(Credentials::Password {
                username,
                password: password.clone(),
                mechanism: *mechanism,
            }),
            (Auth::OAuth2(settings), Some(tokens)) => {
                let token = tokens.access_token().await.map_err(|err| match err {
                    oauth::Error::Refused { .. } => Failure::Auth(format!(
                        "OAuth2 refresh refused, needs re-authorisation: {err}"
                    )),
                    other => Failure::Transient(other.to_string()),
                })?;
                self.persist_rotated_token().await;
                Ok(Credentials::OAuth2 {
                    username,
                    access_token: token.token,
                    mechanism: settings.mechanism,
                })
            }
            (Auth::OAuth2(_), None) => Err(Failure::Auth("OAuth2 is not initialised".into())),
        }
    }

    async fn persist_rotated_token(&self) {
        let Some(rotated) = self
            .tokens
            .as_ref()
            .and_then(TokenSource::take_rotated_refresh_token)
        else {
            return;
        };
        let Auth::OAuth2(settings) = &self.settings.auth else {
            return;
        };
        let origin = token_origin(&settings.refresh_token);
        let store = &self.shared.store;
        if let Err(err) = store
            .set_refresh_token(&self.config.id, rotated.expose(), &origin, unix_now())
            .await
        {
            tracing::error!(error = %err, "cannot persist the rotated OAuth2 refresh token");
        }
    }

    /// Logs in; an OAuth2 token the server refuses is refreshed once.
    async fn login(&self) -> Result<Session, Failure> {
        // Closed only if the supervisor is gone; then log in unthrottled.
        let _permit = self.shared.logins.acquire().await.ok();
        let credentials = self.credentials().await?;
        match Session::connect(&self.settings, &credentials).await {
            Ok(session) => Ok(session),
            Err(err) if err.is_auth() => match &self.tokens {
                Some(tokens) => {
                    tracing::info!("access token refused by the server; refreshing it once");
                    tokens.invalidate();
                    let credentials = self.credentials().await?;
                    Ok(Session::connect(&self.settings, &credentials).await?)
                }
                None => Err(err.into()),
            },
            Err(err) => Err(err.into()),
        }
    }

    /// One connection's life: log in, sync everything, then IDLE / poll
    /// until stopped. Returns `Ok` when stopped or (once mode) caught up.
    async fn session(&mut self, backoff: &mut Backoff) -> Result<(), Failure> {
        let mut session = self.login().await?;
        self.health.set(HealthState::Connected, None).await;
        let targets = self.targets(&mut session).await?;
        backoff.reset();
        let inbox_target = targets
            .iter()
            .find(|t| t.role == FolderRole::Inbox)
            .cloned();
        let sent_target = targets.iter().find(|t| t.role == FolderRole::Sent).cloned();
        let idle_renew = self.shared.config.sync.idle_renew;
        loop {
            for target in &targets {
                self.sync_folder(&mut session, target).await?;
            }
            if self.mode.once {
                session.logout().await;
                self.health.set(HealthState::Idle, None).await;
                return Ok(());
            }
            self.health.set(HealthState::Idle, None).await;
            let next_round = Instant::now() + self.settings.poll_interval;
            loop {
                let remaining = next_round.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                let idle_target = inbox_target
                    .as_ref()
                    .filter(|_| self.settings.idle && session.capabilities().idle);
                let wait_token = self.shared.resync.wait_token(&self.config.id, &self.stop);
                let Some(target) = idle_target else {
                    if !backoff::sleep_or_stop(remaining, &wait_token).await
                        && self.stop.is_cancelled()
                    {
                        session.logout().await;
                        return Ok(());
                    }
                    break;
                };
                // Selects INBOX and catches up on what arrived meanwhile.
                self.sync_folder(&mut session, target).await?;
                let wait = remaining.min(idle_renew).max(Duration::from_secs(1));
                match session.idle(wait, &wait_token).await? {
                    IdleEnd::NewMail => {
                        let woke = std::time::Instant::now();
                        // A bounce often arrives seconds after its message
                        // was filed in Sent, before Sent's next poll: track
                        // first, so the notice finds what it concerns.
                        if let Some(sent) = &sent_target {
                            self.sync_folder(&mut session, sent).await?;
                        }
                        self.sync_folder_after(&mut session, target, Some(woke))
                            .await?;
                    }
                    IdleEnd::Timeout => {}
                    IdleEnd::Stopped if self.stop.is_cancelled() => {
                        session.logout().await;
                        return Ok(());
                    }
                    // A resync request: every folder now.
                    IdleEnd::Stopped => break,
                }
                if self.stop.is_cancelled() {
                    session.logout().await;
                    return Ok(());
                }
            }
        }
    }

    /// The folders to sync: the watched ones and (with tracking on) Sent,
    /// found by special-use attribute (RFC 6154) or by name.
    async fn targets(&self, session: &mut Session) -> Result<Vec<Target>, Failure> {
        let listed = session.folders().await?;
        let mut out: Vec<Target> = Vec::new();
        let folders = &self.settings.folders;
        let sent = folders
            .sent
            .iter()
            .filter(|_| self.config.track_sent_folder);
        // Sent first: a notice is matched against what was tracked before
        // it, so each round tracks its sends before it reads the notices.
        let wanted = sent
            .map(|f| (f, Some(FolderRole::Sent)))
            .chain(folders.watch.iter().map(|f| (f, None)));
        for (wanted, role) in wanted {
            let Some(info) = find_folder(&listed, wanted) else {
                tracing::info!(folder = ?wanted, "folder not found on the server; skipped");
                continue;
            };
            if !info.selectable || out.iter().any(|t| t.info.raw_name == info.raw_name) {
                continue;
            }
            let role = role.unwrap_or_else(|| role_of(info));
            out.push(Target {
                info: info.clone(),
                role,
            });
        }
        Ok(out)
    }

    /// Hands on every message of one folder above its checkpoint.
    async fn sync_folder(&mut self, session: &mut Session, target: &Target) -> Result<(), Failure> {
        self.sync_folder_after(session, target, None).await
    }

    /// [`Inbox::sync_folder`], for a step started by a server announcement
    /// received at `trigger`.
    async fn sync_folder_after(
        &mut self,
        session: &mut Session,
        target: &Target,
        trigger: Option<std::time::Instant>,
    ) -> Result<(), Failure> {
        let store = self.shared.store.clone();
        let inbox = self.config.id.clone();
        let folder = target.info.name.clone();
        let status = session.examine(&target.info.raw_name).await?;
        let checkpoint = store.checkpoint(&inbox, &folder).await?;
        let ctx = FolderCtx {
            inbox: inbox.clone(),
            account: self.config.account.clone(),
            folder: folder.clone(),
            role: target.role,
            uidvalidity: status.uidvalidity,
        };
        let uids = match checkpoint {
            Some(cp) if cp.uidvalidity == status.uidvalidity => {
                if status
                    .uidnext
                    .is_some_and(|next| next <= cp.last_uid.saturating_add(1))
                {
                    return Ok(());
                }
                session.uids_after(cp.last_uid).await?
            }
            Some(cp) => {
                tracing::warn!(
                    folder = %folder,
                    old = cp.uidvalidity,
                    new = status.uidvalidity,
                    "UIDVALIDITY changed: rescanning the folder (findings keep their identities)"
                );
                session.uids_after(0).await?
            }
            None => {
                let start = self.first_sync_start(target.role);
                let uids = match start {
                    Some(since) => session.uids_since(since).await?,
                    None => Vec::new(),
                };
                if uids.is_empty() {
                    // Start from "now", durably: what arrives after this
                    // point is new even across a restart.
                    let last_uid = match status.uidnext {
                        Some(next) => next.saturating_sub(1),
                        None => session.uids_after(0).await?.into_iter().max().unwrap_or(0),
                    };
                    let cp = Checkpoint {
                        uidvalidity: status.uidvalidity,
                        last_uid,
                    };
                    store.commit(&inbox, &folder, cp, &[]).await?;
                    return Ok(());
                }
                uids
            }
        };
        let progress = self.progress(&folder, uids.len());
        let chunks: Vec<&[u32]> = uids.chunks(STEP).collect();
        let mut prefetched: Option<Vec<Head>> = None;
        for (i, chunk) in chunks.iter().copied().enumerate() {
            let first = chunk.first().copied().unwrap_or(0);
            let careful = self.careful.get(&folder) == Some(&first);
            let max_bytes = self.shared.config.sync.max_message_bytes;
            let heads = match prefetched.take() {
                Some(heads) => heads,
                None if careful => self.heads_one_by_one(session, &folder, chunk).await?,
                None => match session.fetch_heads_without_structure(chunk).await {
                    Ok(heads) => heads.into_iter().map(head).collect(),
                    Err(err) => return Err(self.step_failed(&folder, first, err)),
                },
            };
            // The pre-filter of this step runs on a blocking thread while the
            // next step's heads come in (a backfill is bound by both).
            let next = chunks.get(i + 1).copied().filter(|next| {
                let next_first = next.first().copied().unwrap_or(0);
                self.careful.get(&folder) != Some(&next_first)
            });
            let plan_ctx = ctx.clone();
            let planning = tokio::task::spawn_blocking(move || Plan::new(&plan_ctx, heads));
            let (plan, fetched) = match next {
                Some(next) => {
                    let (plan, fetched) =
                        tokio::join!(planning, session.fetch_heads_without_structure(next));
                    (plan, Some((next, fetched)))
                }
                None => (planning.await, None),
            };
            let mut plan =
                plan.map_err(|err| Failure::Transient(format!("the pre-filter failed: {err}")))?;
            if let Some((next, fetched)) = fetched {
                match fetched {
                    Ok(heads) => prefetched = Some(heads.into_iter().map(head).collect()),
                    Err(err) => {
                        let next_first = next.first().copied().unwrap_or(0);
                        return Err(self.step_failed(&folder, next_first, err));
                    }
                }
            }
            // Step 1b: BODYSTRUCTURE only for the messages whose headers could
            // not decide but whose top-level type can nest a report (it costs
            // the server a MIME parse of the message).
            let structure_uids = plan.structure_uids().to_vec();
            if !structure_uids.is_empty() {
                match session.fetch_heads(&structure_uids).await {
                    Ok(heads) => plan.add_structure(
                        heads
                            .into_iter()
                            .map(|h| (h.uid, h.content_types))
                            .collect(),
                    ),
                    Err(err) => return Err(self.step_failed(&folder, first, err)),
                }
            }
            let candidates = plan.candidate_uids();
            let bodies = if candidates.is_empty() {
                Vec::new()
            } else if careful {
                self.bodies_one_by_one(session, &folder, &candidates, max_bytes)
                    .await?
            } else {
                match session.fetch_bodies(&candidates, max_bytes).await {
                    Ok(bodies) => bodies,
                    Err(err) => return Err(self.step_failed(&folder, first, err)),
                }
            };
            self.outcome.candidates += candidates.len();
            let (mut batch, _) = plan.analyse(bodies, max_bytes);
            batch.trigger = trigger;
            let last_uid = chunk.iter().copied().max().unwrap_or(0);
            let cp = Checkpoint {
                uidvalidity: status.uidvalidity,
                last_uid,
            };
            let done = batch::deliver(
                &*store,
                &self.shared.sink,
                &self.shared.pipeline,
                &ctx,
                self.config.track_sent_folder,
                batch,
                cp,
                unix_now(),
            )
            .await?;
            self.outcome.add(done);
            if let Some(bar) = &progress {
                bar.inc(chunk.len() as u64);
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        Ok(())
    }

    /// A step's fetch failed: the next attempt takes it one message at a
    /// time (see [`Inbox::careful`]).
    fn step_failed(&mut self, folder: &str, first: u32, err: imap::Error) -> Failure {
        if !err.is_auth() {
            self.careful.insert(folder.to_string(), first);
        }
        err.into()
    }

    /// The first fetch step one UID at a time; a UID that fails is marked
    /// unreadable and, on the next attempt, fetched without BODYSTRUCTURE.
    async fn heads_one_by_one(
        &mut self,
        session: &mut Session,
        folder: &str,
        uids: &[u32],
    ) -> Result<Vec<Head>, Failure> {
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            let key = (folder.to_string(), uid);
            if self.unreadable_structure.contains(&key) {
                let heads = session.fetch_heads_without_structure(&[uid]).await?;
                out.extend(heads.into_iter().map(|h| Head {
                    force_candidate: true,
                    ..head(h)
                }));
                continue;
            }
            match session.fetch_heads(&[uid]).await {
                Ok(heads) => out.extend(heads.into_iter().map(head)),
                Err(err) if !err.is_auth() => {
                    tracing::warn!(folder, uid, error = %err, "cannot read this message's structure; fetching it without");
                    self.unreadable_structure.insert(key);
                    return Err(err.into());
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(out)
    }

    /// Candidate bodies one UID at a time; a body that fails is skipped on
    /// the next attempt (its envelope is still handed on).
    async fn bodies_one_by_one(
        &mut self,
        session: &mut Session,
        folder: &str,
        uids: &[u32],
        max_bytes: usize,
    ) -> Result<Vec<(u32, Vec<u8>)>, Failure> {
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            let key = (folder.to_string(), uid);
            if self.unreadable_body.contains(&key) {
                continue;
            }
            match session.fetch_bodies(&[uid], max_bytes).await {
                Ok(bodies) => out.extend(bodies),
                Err(err) if !err.is_auth() => {
                    tracing::error!(folder, uid, error = %err, "cannot read this message; it is handed on without analysis");
                    self.unreadable_body.insert(key);
                    return Err(err.into());
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(out)
    }

    /// Where a folder's first sync starts: Sent `sent_backfill` back, the
    /// others at "now" unless a backfill was asked for. Unix seconds.
    fn first_sync_start(&self, role: FolderRole) -> Option<i64> {
        let back = match role {
            FolderRole::Sent => Some(self.shared.config.sync.sent_backfill),
            _ => self.mode.backfill.or(self.config.backfill),
        }?;
        Some(unix_now().saturating_sub(i64::try_from(back.as_secs()).unwrap_or(i64::MAX)))
    }

    fn progress(&self, folder: &str, total: usize) -> Option<indicatif::ProgressBar> {
        if !self.mode.progress || total < STEP {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} messages ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{}/{folder}", self.config.id));
        Some(bar)
    }
}

/// The fingerprint of the config's refresh token (SHA-256, hex), which ties
/// a stored rotation to it.
fn token_origin(token: &Secret) -> String {
    crate::source::sha256_hex(token.expose().as_bytes())
}

fn head(h: imap::Head) -> Head {
    Head {
        uid: h.uid,
        internal_date: h.internal_date,
        size: h.size,
        header: h.header,
        content_types: h.content_types,
        location: None,
        force_candidate: false,
    }
}

/// The listed folder a config entry names.
fn find_folder<'a>(listed: &'a [FolderInfo], wanted: &FolderRef) -> Option<&'a FolderInfo> {
    match wanted {
        FolderRef::Name(name) => listed.iter().find(|f| {
            f.name == *name
                || (name.eq_ignore_ascii_case("INBOX") && f.name.eq_ignore_ascii_case("INBOX"))
        }),
        FolderRef::SpecialUse(attr) => listed
            .iter()
            .find(|f| f.special_use.iter().any(|a| a.eq_ignore_ascii_case(attr))),
    }
}

/// A folder's role from its name and attributes.
fn role_of(info: &FolderInfo) -> FolderRole {
    let has = |attr: &str| {
        info.special_use
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
    };
    if info.name.eq_ignore_ascii_case("INBOX") {
        FolderRole::Inbox
    } else if has("\\Junk") {
        FolderRole::Junk
    } else if has("\\Sent") {
        FolderRole::Sent
    } else {
        FolderRole::Other
    }
}
