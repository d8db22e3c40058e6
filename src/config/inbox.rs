//! One inbox: identity, provider-specific fields, the IMAP connection with
//! its preset and TLS rule, or the Maildir source.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::duration::DurationValue;
use super::folders::{self, FolderStyle};
use super::model::{InboxModel, ProviderModel, TlsModel};
use super::presets::{self, DEFAULT_TENANT};
use super::resolve::{Problems, file_path};
use super::{
    FolderRef, ImapSettings, InboxConfig, MaildirSettings, Provider, Source, TlsMode, auth,
};

/// Longest id or account name: they appear in events, logs and metrics.
const MAX_IDENTIFIER_LEN: usize = 64;

/// Resolves one inbox; `None` when it has a problem (recorded).
pub(crate) fn resolve(
    model: InboxModel,
    index: usize,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<InboxConfig> {
    let at = format!("inboxes[{index}]");
    let id = identifier(model.id.as_deref(), &format!("{at}.id"), problems);
    let account = identifier(model.account.as_deref(), &format!("{at}.account"), problems);
    let Some(provider) = model.provider.map(provider_of) else {
        problems.push(
            format!("{at}.provider"),
            "missing: give one of gmail, office365, imap, maildir",
        );
        return None;
    };
    let address = address(&model, &at, problems);
    let enabled = model.enabled.unwrap_or(true);
    let track_sent_folder = model.track_sent_folder.unwrap_or(true);
    let backfill = model.backfill.map(|d| d.0);
    let source = match provider {
        Provider::Maildir => maildir(&model, &at, base_dir, problems).map(Source::Maildir),
        _ => imap(&model, provider, &at, base_dir, problems).map(Source::Imap),
    };
    Some(InboxConfig {
        id: id?,
        account: account?,
        provider,
        address,
        enabled,
        backfill,
        track_sent_folder,
        source: source?,
    })
}

fn provider_of(model: ProviderModel) -> Provider {
    match model {
        ProviderModel::Gmail => Provider::Gmail,
        ProviderModel::Office365 => Provider::Office365,
        ProviderModel::Imap => Provider::Imap,
        ProviderModel::Maildir => Provider::Maildir,
    }
}

/// An id or account: letters, digits, `.`, `_`, `-`, starting with a letter
/// or digit, so that it can go into event payloads, log fields, metric
/// labels and file names as it is.
fn identifier(value: Option<&str>, path: &str, problems: &mut Problems) -> Option<String> {
    let Some(value) = value else {
        problems.push(path, "missing (required)");
        return None;
    };
    let mut chars = value.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && value.len() <= MAX_IDENTIFIER_LEN;
    if valid {
        Some(value.to_owned())
    } else {
        problems.push(
            path,
            format!(
                "\"{value}\" is not a valid name: use letters, digits, `.`, `_` and `-`, \
                 starting with a letter or digit, at most {MAX_IDENTIFIER_LEN} characters"
            ),
        );
        None
    }
}

/// `address`, or the username when it looks like an address.
fn address(model: &InboxModel, at: &str, problems: &mut Problems) -> Option<String> {
    match model.address.as_deref() {
        Some(address) if looks_like_address(address) => Some(address.to_owned()),
        Some(address) => {
            problems.push(
                format!("{at}.address"),
                format!("\"{address}\" is not an email address"),
            );
            None
        }
        None => model
            .username
            .as_deref()
            .filter(|u| looks_like_address(u))
            .map(str::to_owned),
    }
}

fn looks_like_address(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Reports each field that `provider` does not take.
fn not_used(at: &str, provider: Provider, fields: &[(&str, bool)], problems: &mut Problems) {
    for (field, present) in fields {
        if *present {
            problems.push(
                format!("{at}.{field}"),
                format!("not used by provider {}", provider.as_str()),
            );
        }
    }
}

fn imap(
    model: &InboxModel,
    provider: Provider,
    at: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ImapSettings> {
    not_used(at, provider, &[("path", model.path.is_some())], problems);
    let tenant = match (provider, model.tenant.as_deref()) {
        (Provider::Office365, Some(tenant)) => {
            if !is_tenant(tenant) {
                // It goes into the token URL's path: keep it to the
                // characters of domain names and GUIDs.
                problems.push(
                    format!("{at}.tenant"),
                    format!("\"{tenant}\" is not a tenant: give a domain, a tenant id or `common`"),
                );
            }
            tenant
        }
        (_, Some(_)) => {
            problems.push(
                format!("{at}.tenant"),
                "only provider office365 takes a tenant",
            );
            DEFAULT_TENANT
        }
        (_, None) => DEFAULT_TENANT,
    };
    let preset = presets::preset(provider, tenant);
    let host = match (model.host.as_deref(), &preset) {
        // An IPv6 literal is kept bare; brackets belong to URLs, not hosts.
        (Some(host), _) => unbracket(host).to_owned(),
        (None, Some(preset)) => preset.host.to_owned(),
        (None, None) => {
            problems.push(format!("{at}.host"), "missing: provider imap needs a host");
            String::new()
        }
    };
    if model.host.is_some() && !is_host(&host) {
        problems.push(
            format!("{at}.host"),
            format!("\"{host}\" is not a host name or IP address (no scheme, port or path)"),
        );
    }
    let tls = match model.tls {
        Some(TlsModel::Implicit) => TlsMode::Implicit,
        Some(TlsModel::Starttls) => TlsMode::Starttls,
        Some(TlsModel::None) => TlsMode::None,
        None => preset.as_ref().map_or(TlsMode::Implicit, |p| p.tls),
    };
    let port = match (model.port, &preset) {
        (Some(port), _) => port,
        // The preset's port belongs to its TLS mode: with tls overridden,
        // take the standard port of the mode chosen (993 for implicit TLS,
        // RFC 8314; 143 otherwise, RFC 3501).
        (None, Some(preset)) if preset.tls == tls => preset.port,
        (None, _) => default_port(tls),
    };
    if port == 0 {
        problems.push(format!("{at}.port"), "must be between 1 and 65535");
    }
    let allow_plaintext_remote = model.allow_plaintext_remote.unwrap_or(false);
    if tls == TlsMode::None && !allow_plaintext_remote && !host.is_empty() && !is_loopback(&host) {
        problems.push(
            format!("{at}.tls"),
            format!(
                "tls: none sends credentials and mail in clear; it is only accepted for a \
                 loopback host (localhost, 127.0.0.0/8, ::1), not \"{host}\" \
                 (set allow_plaintext_remote: true to force it)"
            ),
        );
    }
    let ca_file = file_path(
        model.ca_file.as_deref(),
        &format!("{at}.ca_file"),
        base_dir,
        problems,
    );
    let username = match model.username.as_deref() {
        Some("") => {
            problems.push(format!("{at}.username"), "is empty");
            None
        }
        Some(username) => Some(username.to_owned()),
        None => {
            problems.push(
                format!("{at}.username"),
                "missing (required for IMAP providers)",
            );
            None
        }
    };
    let auth = auth::resolve(
        model.auth.as_ref(),
        provider,
        preset.as_ref(),
        at,
        base_dir,
        problems,
    );
    let connect_timeout = positive(
        model.connect_timeout,
        30,
        &format!("{at}.connect_timeout"),
        problems,
    );
    let poll_interval = positive(
        model.poll_interval,
        60,
        &format!("{at}.poll_interval"),
        problems,
    );
    let (watch, sent) = folders::resolve(
        model.folders.as_ref(),
        model.sent.as_deref(),
        model.track_sent_folder.unwrap_or(true),
        FolderStyle::Imap,
        at,
        problems,
    )?;
    Some(ImapSettings {
        host,
        port,
        tls,
        ca_file,
        allow_plaintext_remote,
        connect_timeout,
        username: username?,
        auth: auth?,
        folders: super::Folders { watch, sent },
        poll_interval,
        idle: model.idle.unwrap_or(true),
    })
}

fn maildir(
    model: &InboxModel,
    at: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<MaildirSettings> {
    not_used(
        at,
        Provider::Maildir,
        &[
            ("username", model.username.is_some()),
            ("host", model.host.is_some()),
            ("port", model.port.is_some()),
            ("tls", model.tls.is_some()),
            ("ca_file", model.ca_file.is_some()),
            (
                "allow_plaintext_remote",
                model.allow_plaintext_remote.is_some(),
            ),
            ("connect_timeout", model.connect_timeout.is_some()),
            ("tenant", model.tenant.is_some()),
            ("auth", model.auth.is_some()),
            ("idle", model.idle.is_some()),
        ],
        problems,
    );
    if model.backfill.is_some() {
        problems.push(
            format!("{at}.backfill"),
            "not used by provider maildir: it reads every message it has not seen yet",
        );
    }
    let path = file_path(
        model.path.as_deref(),
        &format!("{at}.path"),
        base_dir,
        problems,
    );
    if model.path.is_none() {
        problems.push(
            format!("{at}.path"),
            "missing: provider maildir needs a path",
        );
    }
    let poll_interval = positive(
        model.poll_interval,
        10,
        &format!("{at}.poll_interval"),
        problems,
    );
    let (watch, sent) = folders::resolve(
        model.folders.as_ref(),
        model.sent.as_deref(),
        model.track_sent_folder.unwrap_or(true),
        FolderStyle::Maildir,
        at,
        problems,
    )?;
    let name = |folder: FolderRef| match folder {
        FolderRef::Name(name) | FolderRef::SpecialUse(name) => name,
    };
    Some(MaildirSettings {
        path: path?,
        folders: watch.into_iter().map(name).collect(),
        sent: sent.map(name),
        poll_interval,
    })
}

/// A duration that must not be zero, with its default in seconds.
fn positive(
    value: Option<DurationValue>,
    default_secs: u64,
    path: &str,
    problems: &mut Problems,
) -> Duration {
    let duration = value.map_or(Duration::from_secs(default_secs), |d| d.0);
    if duration.is_zero() {
        problems.push(path, "must be greater than 0");
    }
    duration
}

fn default_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Implicit => 993,
        TlsMode::Starttls | TlsMode::None => 143,
    }
}

fn is_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
}

/// `host` without the brackets of an IPv6 literal (`[::1]` → `::1`).
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A DNS name (one trailing dot allowed) or an IP literal (IPv6 with or
/// without brackets).
fn is_host(host: &str) -> bool {
    let bare = unbracket(host);
    if bare.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = bare.strip_suffix('.').unwrap_or(bare);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Whether traffic to `host` stays on this machine: `localhost`, 127.0.0.0/8
/// and ::1 (RFC 6761 §6.3, RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), also as an
/// IPv4-mapped IPv6 address.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = unbracket(host);
    let lower = bare.to_ascii_lowercase();
    if lower == "localhost" || lower == "localhost." {
        return true;
    }
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "127.9.8.7",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "mail.example.com",
            "10.0.0.1",
            "128.0.0.1",
            "::2",
            "localhost.example.com",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn host_names() {
        for host in [
            "mail.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "[2001:db8::1]",
            "mail.example.com.",
        ] {
            assert!(is_host(host), "{host}");
        }
        for host in [
            "",
            "imaps://mail.example.com",
            "mail.example.com:993",
            "a b",
            "a..b",
            ".",
            "mail/x",
        ] {
            assert!(!is_host(host), "{host}");
        }
    }

    #[test]
    fn addresses() {
        assert!(looks_like_address("alice@acme.example"));
        for text in ["carol", "@x", "x@", "a@b@c", "a b@c"] {
            assert!(!looks_like_address(text), "{text}");
        }
    }
}
