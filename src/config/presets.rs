//! Provider presets: what `provider: gmail` and `provider: office365` fill in.
//! Every value can be overridden in the inbox (host, port, tls, and in
//! `auth`: token_url, scopes, mechanism).

use super::{OAuthMechanism, Provider, TlsMode};

/// The tenant used in the Microsoft token URL when none is configured: any
/// work, school or personal account.
pub(crate) const DEFAULT_TENANT: &str = "common";

/// The values a provider preset fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Preset {
    /// IMAP server host.
    pub host: &'static str,
    /// IMAP server port.
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// OAuth2 token endpoint.
    pub token_url: String,
    /// OAuth2 scopes.
    pub scopes: Vec<String>,
    /// SASL mechanism: both providers document XOAUTH2 for IMAP.
    pub mechanism: OAuthMechanism,
}

/// The preset of a provider; `None` for `imap` and `maildir`, which have none.
/// `tenant` is only used by Office 365.
pub(crate) fn preset(provider: Provider, tenant: &str) -> Option<Preset> {
    match provider {
        Provider::Gmail => Some(Preset {
            host: "imap.gmail.com",
            port: 993,
            tls: TlsMode::Implicit,
            token_url: "https://oauth2.googleapis.com/token".to_owned(),
            // The only scope Google grants for IMAP access.
            scopes: vec!["https://mail.google.com/".to_owned()],
            mechanism: OAuthMechanism::Xoauth2,
        }),
        Provider::Office365 => Some(Preset {
            host: "outlook.office365.com",
            port: 993,
            tls: TlsMode::Implicit,
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            // offline_access keeps refresh tokens coming; Microsoft wants the
            // scopes on every refresh request too.
            scopes: vec![
                "https://outlook.office.com/IMAP.AccessAsUser.All".to_owned(),
                "offline_access".to_owned(),
            ],
            mechanism: OAuthMechanism::Xoauth2,
        }),
        Provider::Imap | Provider::Maildir => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office365_puts_the_tenant_in_the_token_url() {
        let preset = preset(Provider::Office365, "contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            preset.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(preset.host, "outlook.office365.com");
    }

    #[test]
    fn only_hosted_providers_have_presets() {
        assert_eq!(
            preset(Provider::Gmail, DEFAULT_TENANT).unwrap().host,
            "imap.gmail.com"
        );
        assert!(preset(Provider::Imap, DEFAULT_TENANT).is_none());
        assert!(preset(Provider::Maildir, DEFAULT_TENANT).is_none());
    }
}
