//! From the YAML model to the resolved types: defaults, relative paths,
//! and the checks that span the whole file (unique inbox ids). Inboxes are
//! resolved in [`super::inbox`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::load::Sections;
use super::model::{
    ApiModel, CallbackKind, CallbackModel, PolicyModel, StoreKind, StoreModel, SyncModel,
};
use super::{
    ApiConfig, CallbackConfig, Config, HttpCallback, Location, PolicyConfig, Problem, StoreConfig,
    SyncConfig, inbox,
};

/// Default `sync.max_message_bytes`: 10 MiB, the analysis core's own cap.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;
/// RFC 2177 §3: servers may log a client out after 30 minutes of
/// inactivity, so IDLE must be re-issued at least every 29 minutes.
const IDLE_RENEW_LIMIT: Duration = Duration::from_secs(29 * 60);

/// The problems found so far. Only the first problem at a path is kept: a
/// later one at the same field is a consequence (an unexpanded `${VAR}`
/// that then fails a format check, say).
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem at `path`.
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push_at(path, message, None);
    }

    /// Records a problem at `path` with its position in the file.
    pub(crate) fn push_at(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        location: Option<Location>,
    ) {
        let path = path.into();
        if self.0.iter().all(|p| p.path != path) {
            self.0.push(Problem {
                path,
                message: message.into(),
                location,
            });
        }
    }

    /// The problems grouped as the file is: the document, store, callback,
    /// sync, each inbox in turn, then unknown top-level fields; in the order
    /// found within a group.
    pub(crate) fn into_vec(mut self) -> Vec<Problem> {
        self.0.sort_by_key(|p| group(&p.path));
        self.0
    }
}

/// The sort key of [`Problems::into_vec`].
fn group(path: &str) -> (u8, usize) {
    let section = path.split(['.', '[']).next().unwrap_or("");
    let rank = match section {
        "" => 0,
        "store" => 1,
        "callback" => 2,
        "api" => 3,
        "sync" => 4,
        "policy" => 5,
        "retention" => 6,
        "inboxes" => 7,
        _ => 8,
    };
    let index = path
        .strip_prefix("inboxes[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (rank, index)
}

/// Resolves every section; problems are recorded and the returned value is
/// only meaningful when there are none.
pub(crate) fn config(sections: Sections, base_dir: &Path, problems: &mut Problems) -> Config {
    let store = store(sections.store, base_dir, problems);
    let callback = callback(sections.callback, base_dir, problems);
    let api = sections
        .api
        .as_ref()
        .and_then(|model| api(model, base_dir, problems));
    let sync = sync(&sections.sync, problems);
    let policy = policy(&sections.policy, problems);
    let retention = retention(&sections.retention, &sync, &policy, problems);
    let mut inboxes = Vec::with_capacity(sections.inboxes.len());
    let mut first_index_of_id: HashMap<String, usize> = HashMap::new();
    for (index, model) in sections.inboxes {
        // Checked on the model so that a duplicate is found even when the
        // inbox has other problems.
        if let Some(id) = model.id.as_deref().filter(|id| !id.is_empty()) {
            match first_index_of_id.get(id) {
                Some(first) => problems.push(
                    format!("inboxes[{index}].id"),
                    format!("duplicate id \"{id}\" (also inboxes[{first}])"),
                ),
                None => {
                    first_index_of_id.insert(id.to_owned(), index);
                }
            }
        }
        if let Some(inbox) = inbox::resolve(model, index, base_dir, problems) {
            inboxes.push(inbox);
        }
    }
    Config {
        store,
        sync,
        policy,
        retention,
        callback,
        api,
        inboxes,
    }
}

fn store(model: StoreModel, base_dir: &Path, problems: &mut Problems) -> StoreConfig {
    match model.kind {
        StoreKind::Sqlite => StoreConfig::Sqlite {
            path: file_path(model.path.as_deref(), "store.path", base_dir, problems)
                .unwrap_or_else(|| base_dir.join("rebound.db")),
        },
    }
}

fn callback(model: CallbackModel, base_dir: &Path, problems: &mut Problems) -> CallbackConfig {
    let kind = match model.kind {
        CallbackKind::Stdout => "stdout",
        CallbackKind::File => "file",
        CallbackKind::Http => "http",
    };
    let only = |field: &str, present: bool, takes: &str, problems: &mut Problems| {
        if present {
            problems.push(
                format!("callback.{field}"),
                format!("only kind {takes} takes {field} (kind is {kind})"),
            );
        }
    };
    if model.kind != CallbackKind::File {
        only("path", model.path.is_some(), "file", problems);
    }
    if model.kind != CallbackKind::Http {
        for (field, present) in [
            ("url", model.url.is_some()),
            (
                "secret",
                model.secret.is_some() || model.secret_file.is_some(),
            ),
            (
                "previous_secret",
                model.previous_secret.is_some() || model.previous_secret_file.is_some(),
            ),
            ("timeout", model.timeout.is_some()),
            ("retry_budget", model.retry_budget.is_some()),
            ("concurrency", model.concurrency.is_some()),
        ] {
            only(field, present, "http", problems);
        }
    }
    match model.kind {
        CallbackKind::Stdout => CallbackConfig::Stdout,
        CallbackKind::File => {
            match file_path(model.path.as_deref(), "callback.path", base_dir, problems) {
                Some(path) => CallbackConfig::File { path },
                None => {
                    if model.path.is_none() {
                        problems.push("callback.path", "missing: kind file needs a path");
                    }
                    CallbackConfig::Stdout
                }
            }
        }
        CallbackKind::Http => http_callback(&model, base_dir, problems)
            .map_or(CallbackConfig::Stdout, |http| {
                CallbackConfig::Http(Box::new(http))
            }),
    }
}

fn http_callback(
    model: &CallbackModel,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<HttpCallback> {
    let url = match model.url.as_deref() {
        None => {
            problems.push("callback.url", "missing: kind http needs a url");
            None
        }
        Some(url) => match super::auth::check_secure_url(url, "the callback") {
            Ok(()) => Some(url.to_string()),
            Err(message) => {
                problems.push("callback.url", message);
                None
            }
        },
    };
    let mut check_secret = |inline: Option<&str>, file: Option<&str>, field: &str| {
        let secret = super::secrets::secret(inline, file, base_dir, "callback", field, problems)?;
        match crate::config::signing_key(secret.expose()) {
            Ok(_) => Some(secret),
            Err(message) => {
                problems.push(format!("callback.{field}"), message);
                None
            }
        }
    };
    let secret = check_secret(
        model.secret.as_deref(),
        model.secret_file.as_deref(),
        "secret",
    );
    let previous_secret = check_secret(
        model.previous_secret.as_deref(),
        model.previous_secret_file.as_deref(),
        "previous_secret",
    );
    if secret.is_none() && model.secret.is_none() && model.secret_file.is_none() {
        problems.push(
            "callback.secret",
            "missing: kind http needs a signing secret (secret or secret_file, whsec_ + base64)",
        );
    }
    let timeout = model.timeout.map_or(Duration::from_secs(10), |d| d.0);
    if timeout.is_zero() {
        problems.push("callback.timeout", "must be greater than 0");
    }
    let retry_budget = model
        .retry_budget
        .map_or(Duration::from_secs(24 * 3600), |d| d.0);
    let concurrency = model.concurrency.unwrap_or(8);
    if concurrency == 0 {
        problems.push("callback.concurrency", "must be at least 1");
    }
    Some(HttpCallback {
        url: url?,
        secret: secret?,
        previous_secret,
        timeout,
        retry_budget,
        concurrency: usize::try_from(concurrency).unwrap_or(8),
    })
}

fn api(model: &ApiModel, base_dir: &Path, problems: &mut Problems) -> Option<ApiConfig> {
    let listen = model.listen.as_deref().unwrap_or("127.0.0.1:8025");
    let listen = match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(
                "api.listen",
                format!("\"{listen}\" is not an address:port such as 127.0.0.1:8025"),
            );
            None
        }
    };
    let token = super::secrets::secret(
        model.token.as_deref(),
        model.token_file.as_deref(),
        base_dir,
        "api",
        "token",
        problems,
    );
    match &token {
        Some(t) if t.expose().len() < 16 => {
            problems.push("api.token", "is too short: use at least 16 characters");
            return None;
        }
        None if model.token.is_none() && model.token_file.is_none() => {
            problems.push(
                "api.token",
                "missing: the API needs a bearer token (token or token_file)",
            );
        }
        _ => {}
    }
    Some(ApiConfig {
        listen: listen?,
        token: token?,
    })
}

fn sync(model: &SyncModel, problems: &mut Problems) -> SyncConfig {
    let max_message_bytes = model.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    if max_message_bytes == 0 {
        problems.push("sync.max_message_bytes", "must be greater than 0");
    }
    let max_message_bytes = usize::try_from(max_message_bytes).unwrap_or_else(|_| {
        problems.push("sync.max_message_bytes", "too large for this machine");
        usize::MAX
    });
    let get = |field: Option<super::duration::DurationValue>, default: u64| {
        field.map_or(Duration::from_secs(default), |d| d.0)
    };
    let config = SyncConfig {
        max_message_bytes,
        idle_renew: get(model.idle_renew, 20 * 60),
        backoff_initial: get(model.backoff_initial, 1),
        backoff_max: get(model.backoff_max, 5 * 60),
        login_interval: get(model.login_interval, 10),
        sent_backfill: get(model.sent_backfill, 30 * 86_400),
        shutdown_grace: get(model.shutdown_grace, 10),
    };
    if config.idle_renew.is_zero() {
        problems.push("sync.idle_renew", "must be greater than 0");
    } else if config.idle_renew >= IDLE_RENEW_LIMIT {
        problems.push(
            "sync.idle_renew",
            "must be under 29m: RFC 2177 asks clients to re-issue IDLE at least every 29 minutes",
        );
    }
    if config.backoff_initial.is_zero() {
        problems.push("sync.backoff_initial", "must be greater than 0");
    }
    if config.backoff_max < config.backoff_initial {
        problems.push(
            "sync.backoff_max",
            "must not be shorter than sync.backoff_initial",
        );
    }
    config
}

fn policy(model: &PolicyModel, problems: &mut Problems) -> PolicyConfig {
    let defaults = PolicyConfig::default();
    let get = |field: Option<super::duration::DurationValue>, default: Duration| {
        field.map_or(default, |d| d.0)
    };
    let config = PolicyConfig {
        soft_bounce_threshold: model
            .soft_bounce_threshold
            .unwrap_or(defaults.soft_bounce_threshold),
        soft_bounce_window: get(model.soft_bounce_window, defaults.soft_bounce_window),
        pending_expiry: get(model.pending_expiry, defaults.pending_expiry),
        global_accounts: model.global_accounts.unwrap_or(defaults.global_accounts),
        global_window: get(model.global_window, defaults.global_window),
        suppress_on_unconfirmed_match: model
            .suppress_on_unconfirmed_match
            .unwrap_or(defaults.suppress_on_unconfirmed_match),
        auto_reply_events: model
            .auto_reply_events
            .unwrap_or(defaults.auto_reply_events),
        match_window: get(model.match_window, defaults.match_window),
        delivered_after: get(model.delivered_after, defaults.delivered_after),
        due_interval: get(model.due_interval, defaults.due_interval),
    };
    if config.soft_bounce_threshold == 0 {
        problems.push("policy.soft_bounce_threshold", "must be at least 1");
    }
    if config.global_accounts < 2 {
        problems.push(
            "policy.global_accounts",
            "must be at least 2 (one account's hard bounce already suppresses there)",
        );
    }
    for (name, value) in [
        ("soft_bounce_window", config.soft_bounce_window),
        ("pending_expiry", config.pending_expiry),
        ("global_window", config.global_window),
        ("match_window", config.match_window),
        ("due_interval", config.due_interval),
    ] {
        if value.is_zero() {
            problems.push(format!("policy.{name}"), "must be greater than 0");
        }
    }
    config
}

fn retention(
    model: &super::model::RetentionModel,
    sync: &SyncConfig,
    policy: &PolicyConfig,
    problems: &mut Problems,
) -> super::RetentionConfig {
    let defaults = super::RetentionConfig::default();
    let get = |field: Option<super::duration::DurationValue>, default: Duration| {
        field.map_or(default, |d| d.0)
    };
    let config = super::RetentionConfig {
        delivered_events: get(model.delivered_events, defaults.delivered_events),
        tracked_messages: get(model.tracked_messages, defaults.tracked_messages),
        interval: get(model.interval, defaults.interval),
    };
    for (name, value) in [
        ("delivered_events", config.delivered_events),
        ("tracked_messages", config.tracked_messages),
        ("interval", config.interval),
    ] {
        if value.is_zero() {
            problems.push(format!("retention.{name}"), "must be greater than 0");
        }
    }
    // Matching and the policy look back at what was sent: a tracked message
    // must outlive every one of those windows, and the Sent folder's first
    // read must not bring back what retention forgot.
    let windows = [
        ("policy.soft_bounce_window", policy.soft_bounce_window),
        ("policy.global_window", policy.global_window),
        ("policy.match_window", policy.match_window),
        ("policy.delivered_after", policy.delivered_after),
        ("policy.pending_expiry", policy.pending_expiry),
        ("sync.sent_backfill", sync.sent_backfill),
    ];
    if let Some((name, longest)) = windows.iter().max_by_key(|(_, d)| *d)
        && config.tracked_messages <= *longest
    {
        problems.push(
            "retention.tracked_messages",
            format!(
                "must be longer than {name} ({}): matching and the policy look back that far",
                super::duration::format_duration(*longest)
            ),
        );
    }
    config
}

/// A path from the file: relative paths are taken from the configuration
/// file's directory, so the service does not depend on its working directory.
/// Whether the file exists is not checked here: that is the user's business
/// (the source or the store reports it when it starts).
pub(crate) fn file_path(
    value: Option<&str>,
    path: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PathBuf> {
    let value = value?;
    if value.trim().is_empty() {
        problems.push(path, "is empty");
        return None;
    }
    Some(base_dir.join(value))
}
