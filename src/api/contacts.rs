//! `GET /v1/contacts/{address}`: what rebound knows about an address, per
//! account; `POST /v1/contacts/{address}/unsuppress`: a person lifts a
//! suppression ([`crate::ingest::unsuppress`], [`crate::ingest::lift_global`]).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathParam, QueryParams};
use super::{AppState, time};
use crate::ingest::{self, UnsuppressError};
use crate::policy::{self, ContactState, HistoryEntry, RecipientFinding, contact_address};
use crate::store::{Error, PolicyStore};

/// The most recent per-recipient findings shown per account.
pub const RECENT_FINDINGS: usize = 50;

/// What rebound knows about an address.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ContactView {
    /// The normalised address.
    address: String,
    /// The address's global suppression, when active.
    global_suppression: Option<GlobalView>,
    /// Per account that knows the address, ordered by account.
    accounts: Vec<AccountView>,
}

/// A global suppression.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GlobalView {
    /// Since when (RFC 3339).
    since: String,
    /// The accounts whose certain hard bounces caused it.
    accounts: Vec<String>,
}

/// One account's view of the address.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AccountView {
    /// The account.
    account: String,
    /// The CRM's contact id last seen for the address.
    contact_id: Option<String>,
    /// Whether the address is suppressed in this account.
    suppressed: bool,
    /// The active suppression, when suppressed.
    suppression: Option<SuppressionView>,
    /// The current run of soft bounces (distinct messages, oldest first).
    soft_bounces: Vec<SoftBounceView>,
    /// The last hard bounce matched with certain confidence (RFC 3339).
    last_certain_hard_at: Option<String>,
    /// The last sign of life: a reply, an auto-reply, a delivery report (RFC 3339).
    alive_at: Option<String>,
    /// When the contact state last changed (RFC 3339); `null` when there
    /// is no state, only history or findings.
    updated_at: Option<String>,
    /// Suppressions and lifts, oldest first.
    history: Vec<HistoryView>,
    /// The most recent per-recipient findings (at most 50), newest first.
    findings: Vec<FindingView>,
}

/// An active suppression.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SuppressionView {
    /// `hard_bounce`, `soft_bounce_threshold`, `complaint` or `global_suppression`.
    reason: String,
    /// Since when (RFC 3339).
    since: String,
    /// The `contact.suppressed` event that announced it.
    event_id: String,
}

/// One soft bounce of the current run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SoftBounceView {
    /// The message it concerns (tracked Message-ID, else the original's, else the notice identity).
    message: String,
    /// When that message was sent, when tracked (RFC 3339).
    sent_at: Option<String>,
    /// When the bounce was noticed (RFC 3339).
    at: String,
}

/// One line of the suppression history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HistoryView {
    /// `suppressed` or `unsuppressed`.
    action: String,
    /// Why: the policy's reason, or the one a person gave.
    reason: String,
    /// Who: `rebound` for the policy, else the person or system named.
    actor: String,
    /// When (RFC 3339).
    at: String,
    /// The event that announced it.
    event_id: String,
}

/// One analysed notice about the address.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FindingView {
    /// The event written for it.
    event_id: String,
    /// The notice's identity (`msg_...`).
    identity: String,
    /// The inbox it was found in.
    inbox: String,
    /// The notice's verdict (`bounce`, `complaint`, `auto_reply`, ...).
    verdict: String,
    /// `hard`, `soft` or `pending` for bounces.
    kind: Option<String>,
    /// The taxonomy reason.
    reason: Option<String>,
    /// The enhanced status code.
    status: Option<String>,
    /// The tracked message it was matched to.
    message_id: Option<String>,
    /// `reply_headers`, `embedded_original`, `recipient_window` or `unmatched`.
    method: String,
    /// `certain`, `likely` or `possible`; `null` when unmatched.
    confidence: Option<String>,
    /// The folder the notice is in.
    folder: String,
    /// The folder's UIDVALIDITY.
    uidvalidity: u32,
    /// The notice's UID.
    uid: u32,
    /// SHA-256 of the notice's raw bytes, hex.
    raw_sha256: String,
    /// When it was noticed (RFC 3339).
    noticed_at: String,
}

/// `?account=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ContactQuery {
    /// Only this account.
    account: Option<String>,
}

/// The contact state of an address in every account that knows it (or in
/// `account`), with its suppression history, its recent findings and its
/// global suppression.
#[utoipa::path(
    get,
    path = "/v1/contacts/{address}",
    tag = "contacts",
    security(("bearer" = [])),
    params(
        ("address" = String, Path, description = "The address (normalised before the lookup)"),
        ContactQuery,
    ),
    responses(
        (status = 200, description = "What is known", body = ContactView),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "Nothing is known about the address (in that account)", body = ErrorBody),
    ),
)]
pub(super) async fn contact<S: PolicyStore>(
    State(state): State<AppState<S>>,
    PathParam(address): PathParam<String>,
    QueryParams(query): QueryParams<ContactQuery>,
) -> Result<Json<ContactView>, ApiError> {
    let address = contact_address(&address);
    let store = &*state.store;
    let global = store.global_suppression(&address).await?;
    let accounts = match &query.account {
        Some(account) => vec![account.clone()],
        None => candidate_accounts(store, &state, &address).await?,
    };
    let mut views = Vec::new();
    for account in accounts {
        let contact = store
            .contacts(&account, std::slice::from_ref(&address))
            .await?
            .into_iter()
            .next();
        let history = store.history(&account, &address).await?;
        let findings = store.recipient_findings(&account, &address).await?;
        if contact.is_none() && history.is_empty() && findings.is_empty() {
            continue;
        }
        views.push(account_view(account, contact, history, findings));
    }
    // A global suppression concerns every account, so it counts as known
    // unless the question was about one account.
    if views.is_empty() && (query.account.is_some() || global.is_none()) {
        let scope = query
            .account
            .as_deref()
            .map_or_else(String::new, |a| format!(" in account {a}"));
        return Err(ApiError::not_found(format!(
            "nothing is known about {address}{scope}"
        )));
    }
    Ok(Json(ContactView {
        address,
        global_suppression: global.map(|g| GlobalView {
            since: time(g.since),
            accounts: g.accounts,
        }),
        accounts: views,
    }))
}

/// COMPOSED QUERY (no store method lists every account that has history
/// or findings for an address): the accounts that may know `address`: those
/// with a contact state, those that tracked mail to it, and the configured
/// ones. The caller keeps those where something is stored.
async fn candidate_accounts<S: PolicyStore>(
    store: &S,
    state: &AppState<S>,
    address: &str,
) -> Result<Vec<String>, Error> {
    let mut accounts: BTreeSet<String> = store
        .contacts_everywhere(address)
        .await?
        .into_iter()
        .map(|c| c.account)
        .collect();
    accounts.extend(
        store
            .trackers(address)
            .await?
            .into_iter()
            .map(|t| t.account),
    );
    accounts.extend(state.config.inboxes.iter().map(|i| i.account.clone()));
    Ok(accounts.into_iter().collect())
}

fn account_view(
    account: String,
    contact: Option<ContactState>,
    history: Vec<HistoryEntry>,
    findings: Vec<RecipientFinding>,
) -> AccountView {
    let history = history
        .into_iter()
        .map(|h| HistoryView {
            action: h.action.as_str().to_string(),
            reason: h.reason,
            actor: h.actor,
            at: time(h.at),
            event_id: h.event_id,
        })
        .collect();
    let findings = findings
        .into_iter()
        .rev()
        .take(RECENT_FINDINGS)
        .map(|f| FindingView {
            event_id: f.event_id,
            identity: f.identity,
            inbox: f.inbox,
            verdict: f.verdict,
            kind: f.kind,
            reason: f.reason,
            status: f.status,
            message_id: f.message_id,
            method: f.method,
            confidence: f.confidence,
            folder: f.folder,
            uidvalidity: f.uidvalidity,
            uid: f.uid,
            raw_sha256: f.raw_sha256,
            noticed_at: time(f.noticed_at),
        })
        .collect();
    // No state (only history or findings) reads as a fresh one.
    let updated_at = contact.as_ref().map(|c| time(c.updated_at));
    let contact = contact.unwrap_or_else(|| ContactState::new(&account, ""));
    AccountView {
        account,
        contact_id: contact.contact_id,
        suppressed: contact.suppression.is_some(),
        suppression: contact.suppression.map(|s| SuppressionView {
            reason: s.reason.as_str().to_string(),
            since: time(s.since),
            event_id: s.event_id,
        }),
        soft_bounces: contact
            .soft
            .into_iter()
            .map(|s| SoftBounceView {
                message: s.message,
                sent_at: s.sent_at.map(time),
                at: time(s.at),
            })
            .collect(),
        last_certain_hard_at: contact.last_certain_hard_at.map(time),
        alive_at: contact.alive_at.map(time),
        updated_at,
        history,
        findings,
    }
}

/// The body of an unsuppress: `account` or `global: true`, and who and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnsuppressRequest {
    /// The account whose suppression is lifted (not with `global`).
    #[serde(default)]
    account: Option<String>,
    /// Lift the global suppression, and the account suppressions it
    /// caused, instead (default false).
    #[serde(default)]
    global: bool,
    /// Who decides (a person or a system), recorded in the history.
    actor: String,
    /// Why, recorded in the history.
    reason: String,
}

/// What an unsuppress did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UnsuppressResult {
    /// The normalised address.
    address: String,
    /// `account` or `global`.
    scope: &'static str,
    /// The account, for an account lift.
    account: Option<String>,
    /// The `contact.unsuppressed` events written (one per account lifted).
    event_ids: Vec<String>,
}

/// Lifts a suppression of the address: in one account, or (`global: true`)
/// its global suppression and the account suppressions it caused. Writes
/// `contact.unsuppressed` events to the outbox.
#[utoipa::path(
    post,
    path = "/v1/contacts/{address}/unsuppress",
    tag = "contacts",
    security(("bearer" = [])),
    params(("address" = String, Path, description = "The address (normalised)")),
    request_body(content = UnsuppressRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Lifted", body = UnsuppressResult),
        (status = 400, description = "Neither or both of account and global, or no actor or reason", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 409, description = "Not suppressed (in that account, or globally)", body = ErrorBody),
    ),
)]
pub(super) async fn unsuppress<S: PolicyStore>(
    State(state): State<AppState<S>>,
    PathParam(address): PathParam<String>,
    body: JsonBody,
) -> Result<Json<UnsuppressResult>, ApiError> {
    let request: UnsuppressRequest = body.into_typed()?;
    let address = contact_address(&address);
    let account = request.account.filter(|a| !a.trim().is_empty());
    if account.is_some() == request.global {
        return Err(ApiError::bad_request(
            "give either \"account\" or \"global\": true",
        ));
    }
    let store = &*state.store;
    let pipeline = state.pipeline.pipeline();
    let now = crate::sync::unix_now();
    let result = match &account {
        Some(account) => ingest::unsuppress(
            store,
            pipeline,
            account,
            &address,
            &request.actor,
            &request.reason,
            now,
        )
        .await
        .map(|id| vec![id]),
        None => {
            ingest::lift_global(
                store,
                pipeline,
                &address,
                &request.actor,
                &request.reason,
                now,
            )
            .await
        }
    };
    let event_ids = result.map_err(|err| match err {
        UnsuppressError::Policy(
            e @ (policy::UnsuppressError::NotSuppressed { .. }
            | policy::UnsuppressError::NotGloballySuppressed(_)),
        ) => ApiError::conflict(e.to_string()),
        UnsuppressError::Policy(e @ policy::UnsuppressError::MissingActor) => {
            ApiError::bad_request(e.to_string())
        }
        UnsuppressError::Store(e) => ApiError::from(e),
    })?;
    if !event_ids.is_empty() {
        state.events_written();
    }
    Ok(Json(UnsuppressResult {
        address,
        scope: if request.global { "global" } else { "account" },
        account,
        event_ids,
    }))
}
