//! `inboxes[].auth`: password or OAuth2 credentials, with the provider
//! preset's token endpoint, scopes and mechanism.

use std::path::Path;

use super::inbox::is_loopback;
use super::model::{AuthKind, AuthModel, MechanismModel};
use super::presets::Preset;
use super::resolve::Problems;
use super::secrets::{required_secret, secret};
use super::{Auth, OAuth2Settings, OAuthMechanism, PasswordMechanism, Provider};

/// Resolves the credentials of an IMAP inbox; `None` when there is a
/// problem (recorded).
pub(crate) fn resolve(
    model: Option<&AuthModel>,
    provider: Provider,
    preset: Option<&Preset>,
    at: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Auth> {
    let at = format!("{at}.auth");
    let Some(model) = model else {
        problems.push(
            at,
            format!(
                "missing: provider {} needs auth (kind password or oauth2)",
                provider.as_str()
            ),
        );
        return None;
    };
    match model.kind {
        None => {
            problems.push(format!("{at}.kind"), "missing: give password or oauth2");
            None
        }
        Some(AuthKind::Password) => password(model, provider, &at, base_dir, problems),
        Some(AuthKind::Oauth2) => oauth2(model, provider, preset, &at, base_dir, problems),
    }
}

/// Reports each field the chosen kind does not take.
fn not_for_kind(at: &str, kind: &str, fields: &[(&str, bool)], problems: &mut Problems) {
    for (field, present) in fields {
        if *present {
            problems.push(
                format!("{at}.{field}"),
                format!("not used with kind {kind}"),
            );
        }
    }
}

fn password(
    model: &AuthModel,
    provider: Provider,
    at: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Auth> {
    not_for_kind(
        at,
        "password",
        &[
            ("client_id", model.client_id.is_some()),
            ("client_secret", model.client_secret.is_some()),
            ("client_secret_file", model.client_secret_file.is_some()),
            ("refresh_token", model.refresh_token.is_some()),
            ("refresh_token_file", model.refresh_token_file.is_some()),
            ("token_url", model.token_url.is_some()),
            ("scopes", model.scopes.is_some()),
        ],
        problems,
    );
    if provider == Provider::Office365 {
        problems.push(
            format!("{at}.kind"),
            "Microsoft 365 no longer accepts passwords over IMAP (basic authentication is \
             turned off): use kind oauth2",
        );
    }
    let mechanism = match model.mechanism {
        None | Some(MechanismModel::Plain) => Some(PasswordMechanism::Plain),
        Some(MechanismModel::Login) => Some(PasswordMechanism::Login),
        Some(MechanismModel::Xoauth2 | MechanismModel::Oauthbearer) => {
            problems.push(
                format!("{at}.mechanism"),
                "is an OAuth2 mechanism: kind password takes plain or login",
            );
            None
        }
    };
    let password = required_secret(
        model.password.as_ref().map(|s| s.0.as_str()),
        model.password_file.as_deref(),
        base_dir,
        at,
        "password",
        problems,
    );
    Some(Auth::Password {
        password: password?,
        mechanism: mechanism?,
    })
}

fn oauth2(
    model: &AuthModel,
    provider: Provider,
    preset: Option<&Preset>,
    at: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Auth> {
    not_for_kind(
        at,
        "oauth2",
        &[
            ("password", model.password.is_some()),
            ("password_file", model.password_file.is_some()),
        ],
        problems,
    );
    let client_id = match model.client_id.as_deref() {
        Some("") => {
            problems.push(format!("{at}.client_id"), "is empty");
            None
        }
        Some(id) => Some(id.to_owned()),
        None => {
            problems.push(
                format!("{at}.client_id"),
                "missing (required for kind oauth2)",
            );
            None
        }
    };
    // Public clients (device flow, PKCE) have no secret: it is optional.
    let client_secret = secret(
        model.client_secret.as_ref().map(|s| s.0.as_str()),
        model.client_secret_file.as_deref(),
        base_dir,
        at,
        "client_secret",
        problems,
    );
    let client_secret_failed = (model.client_secret.is_some()
        || model.client_secret_file.is_some())
        && client_secret.is_none();
    let refresh_token = required_secret(
        model.refresh_token.as_ref().map(|s| s.0.as_str()),
        model.refresh_token_file.as_deref(),
        base_dir,
        at,
        "refresh_token",
        problems,
    );
    let token_url = match (model.token_url.as_deref(), preset) {
        (Some(url), _) => match check_token_url(url) {
            Ok(()) => Some(url.to_owned()),
            Err(message) => {
                problems.push(format!("{at}.token_url"), message);
                None
            }
        },
        (None, Some(preset)) => Some(preset.token_url.clone()),
        (None, None) => {
            problems.push(
                format!("{at}.token_url"),
                format!(
                    "missing: provider {} has no preset token endpoint, give token_url",
                    provider.as_str()
                ),
            );
            None
        }
    };
    let scopes = match (&model.scopes, preset) {
        (Some(scopes), _) => scopes.clone(),
        (None, Some(preset)) => preset.scopes.clone(),
        (None, None) => Vec::new(),
    };
    for (index, scope) in scopes.iter().enumerate() {
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            // RFC 6749 §3.3: scopes are space-separated tokens.
            problems.push(
                format!("{at}.scopes[{index}]"),
                "a scope is one token without spaces",
            );
        }
    }
    let mechanism = match model.mechanism {
        Some(MechanismModel::Xoauth2) => Some(Some(OAuthMechanism::Xoauth2)),
        Some(MechanismModel::Oauthbearer) => Some(Some(OAuthMechanism::Oauthbearer)),
        Some(MechanismModel::Plain | MechanismModel::Login) => {
            problems.push(
                format!("{at}.mechanism"),
                "is a password mechanism: kind oauth2 takes xoauth2 or oauthbearer",
            );
            None
        }
        None => Some(preset.map(|p| p.mechanism)),
    };
    if client_secret_failed {
        return None;
    }
    Some(Auth::OAuth2(OAuth2Settings {
        client_id: client_id?,
        client_secret,
        refresh_token: refresh_token?,
        token_url: token_url?,
        scopes,
        mechanism: mechanism?,
    }))
}

/// The token endpoint receives the client secret and refresh token: it must
/// be `https`, or plain `http` to a loopback host (test and local proxies).
fn check_token_url(url: &str) -> Result<(), String> {
    check_secure_url(url, "the token endpoint")
}

/// `url` must be `https`, or plain `http` to a loopback host; `what` names
/// the receiver in the message.
pub(crate) fn check_secure_url(url: &str, what: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "\"{url}\" is not a URL: expected https://host/path"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not carry credentials in the URL".to_owned());
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(format!("\"{url}\" has no host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(format!(
            "\"{url}\" is plain http: {what} receives secrets or personal data, so use https \
             (plain http is only accepted for a loopback host)"
        )),
        _ => Err(format!("\"{url}\": {what} must be an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls() {
        assert!(check_token_url("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_token_url("http://[::1]:8080/token").is_ok());
        assert!(check_token_url("http://localhost/token").is_ok());
        assert!(
            check_token_url("http://auth.example.com/token")
                .unwrap_err()
                .contains("plain http")
        );
        assert!(check_token_url("ftp://auth.example.com/").is_err());
        assert!(check_token_url("auth.example.com/token").is_err());
        assert!(check_token_url("https:///token").is_err());
        assert!(check_token_url("https://user:pw@auth.example.com/").is_err());
    }
}
