//! The YAML model: what the file may say, as serde reads it. Nearly every
//! field is optional here so that a missing required field is reported by
//! validation with its path, next to every other problem, instead of stopping
//! deserialization at the first one. Defaults and presets are applied when the
//! model is resolved into the types of [`crate::config`].

use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::duration::DurationValue;

/// `store:`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { kind: sqlite, path: rebound.db }"
)]
pub(crate) struct StoreModel {
    #[serde(default)]
    pub kind: StoreKind,
    pub path: Option<String>,
}

/// `store.kind`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    #[default]
    Sqlite,
}

/// `callback:`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { kind: stdout }, { kind: file, path: events.jsonl } or { kind: http, url: ..., secret: ... }"
)]
pub(crate) struct CallbackModel {
    #[serde(default)]
    pub kind: CallbackKind,
    pub path: Option<String>,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub previous_secret: Option<String>,
    pub previous_secret_file: Option<String>,
    pub timeout: Option<DurationValue>,
    pub retry_budget: Option<DurationValue>,
    pub concurrency: Option<u32>,
}

/// `api:`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { listen: 127.0.0.1:8025, token: ... }"
)]
pub(crate) struct ApiModel {
    pub listen: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
}

/// `callback.kind`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CallbackKind {
    #[default]
    Stdout,
    File,
    Http,
}

/// `sync:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of sync settings")]
pub(crate) struct SyncModel {
    pub max_message_bytes: Option<u64>,
    pub idle_renew: Option<DurationValue>,
    pub backoff_initial: Option<DurationValue>,
    pub backoff_max: Option<DurationValue>,
    pub login_interval: Option<DurationValue>,
    pub sent_backfill: Option<DurationValue>,
    pub shutdown_grace: Option<DurationValue>,
}

/// `policy:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of policy settings")]
pub(crate) struct PolicyModel {
    pub soft_bounce_threshold: Option<u32>,
    pub soft_bounce_window: Option<DurationValue>,
    pub pending_expiry: Option<DurationValue>,
    pub global_accounts: Option<u32>,
    pub global_window: Option<DurationValue>,
    pub suppress_on_unconfirmed_match: Option<bool>,
    pub auto_reply_events: Option<bool>,
    pub match_window: Option<DurationValue>,
    pub delivered_after: Option<DurationValue>,
    pub due_interval: Option<DurationValue>,
}

/// `retention:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of retention settings")]
pub(crate) struct RetentionModel {
    pub delivered_events: Option<DurationValue>,
    pub tracked_messages: Option<DurationValue>,
    pub interval: Option<DurationValue>,
}

/// One entry of `inboxes:`. Holds the fields of every provider; validation
/// says which ones a provider does not take.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an inbox: a mapping with id, account, provider and its settings"
)]
pub(crate) struct InboxModel {
    pub id: Option<String>,
    pub account: Option<String>,
    pub provider: Option<ProviderModel>,
    pub enabled: Option<bool>,
    pub username: Option<String>,
    pub address: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsModel>,
    pub ca_file: Option<String>,
    pub allow_plaintext_remote: Option<bool>,
    pub connect_timeout: Option<DurationValue>,
    pub tenant: Option<String>,
    pub auth: Option<AuthModel>,
    pub folders: Option<FoldersModel>,
    pub sent: Option<String>,
    pub track_sent_folder: Option<bool>,
    pub poll_interval: Option<DurationValue>,
    pub idle: Option<bool>,
    pub backfill: Option<DurationValue>,
    pub path: Option<String>,
}

/// `inboxes[].provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderModel {
    Gmail,
    Office365,
    Imap,
    Maildir,
}

/// `inboxes[].tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TlsModel {
    Implicit,
    Starttls,
    None,
}

/// `inboxes[].auth`: the fields of both kinds; validation checks which ones
/// the chosen kind takes.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { kind: password, password: \"${IMAP_PASSWORD}\" }"
)]
pub(crate) struct AuthModel {
    pub kind: Option<AuthKind>,
    pub mechanism: Option<MechanismModel>,
    pub password: Option<SecretText>,
    pub password_file: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretText>,
    pub client_secret_file: Option<String>,
    pub refresh_token: Option<SecretText>,
    pub refresh_token_file: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Option<Vec<String>>,
}

/// `inboxes[].auth.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthKind {
    Password,
    Oauth2,
}

/// `inboxes[].auth.mechanism`: SASL names, accepted in either case since
/// they are conventionally written in capitals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MechanismModel {
    #[serde(alias = "PLAIN")]
    Plain,
    #[serde(alias = "LOGIN")]
    Login,
    #[serde(alias = "XOAUTH2")]
    Xoauth2,
    #[serde(alias = "OAUTHBEARER")]
    Oauthbearer,
}

/// A secret as written in the file. Only strings are accepted, and a wrong
/// type is reported without echoing the value (serde's own message would
/// print it).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl Visitor<'_> for SecretVisitor {
            type Value = SecretText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretText, E> {
                Ok(SecretText(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<SecretText, E> {
                Ok(SecretText(text))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretText, E> {
                Err(not_a_string())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretText, E> {
                Err(not_a_string())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretText, E> {
                Err(not_a_string())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretText, E> {
                Err(not_a_string())
            }
        }
        fn not_a_string<E: de::Error>() -> E {
            E::custom("a secret must be a string: put it in quotes")
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// `inboxes[].folders`: a list of watched folders, or a mapping with `watch`
/// and `sent`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FoldersModel {
    /// `folders: [INBOX, "\\Junk"]`.
    List(Vec<String>),
    /// `folders: { watch: [...], sent: "\\Sent" }`.
    Map(FoldersMap),
}

/// The mapping form of `folders`.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `watch` and `sent`")]
pub(crate) struct FoldersMap {
    pub watch: Option<Vec<String>>,
    pub sent: Option<String>,
}

impl<'de> Deserialize<'de> for FoldersModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FoldersVisitor;
        impl<'de> Visitor<'de> for FoldersVisitor {
            type Value = FoldersModel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of folders, or a mapping with `watch` and `sent`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FoldersModel, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(FoldersModel::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FoldersModel, A::Error> {
                FoldersMap::deserialize(MapAccessDeserializer::new(map)).map(FoldersModel::Map)
            }
        }
        deserializer.deserialize_any(FoldersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_take_both_shapes() {
        let list: FoldersModel = serde_yaml::from_str("[INBOX, '\\Junk']").unwrap();
        assert_eq!(
            list,
            FoldersModel::List(vec!["INBOX".into(), "\\Junk".into()])
        );
        let map: FoldersModel = serde_yaml::from_str("{watch: [INBOX], sent: Sent}").unwrap();
        assert_eq!(
            map,
            FoldersModel::Map(FoldersMap {
                watch: Some(vec!["INBOX".into()]),
                sent: Some("Sent".into())
            })
        );
        let err = serde_yaml::from_str::<FoldersModel>("{wach: [INBOX]}").unwrap_err();
        assert!(err.to_string().contains("unknown field `wach`"), "{err}");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let err = serde_yaml::from_str::<SecretText>("918273645")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("918273645"), "{err}");
        assert!(err.contains("must be a string"), "{err}");
        assert_eq!(format!("{:?}", SecretText("hunter2".into())), "[redacted]");
    }

    #[test]
    fn mechanisms_in_either_case() {
        let upper: MechanismModel = serde_yaml::from_str("XOAUTH2").unwrap();
        let lower: MechanismModel = serde_yaml::from_str("xoauth2").unwrap();
        assert_eq!(upper, lower);
    }

    /// The fields serde accepts for `T`, read from its "unknown field"
    /// error (every model denies unknown fields).
    fn fields<T: for<'de> Deserialize<'de> + fmt::Debug>() -> Vec<String> {
        let err = serde_yaml::from_str::<T>("{__no_such_field__: 1}")
            .expect_err("an unknown field is refused")
            .to_string();
        let (_, expected) = err
            .split_once("expected ")
            .unwrap_or_else(|| panic!("no field list in {err:?}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_field_is_in_the_configuration_reference() {
        let docs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/configuration.md"
        ))
        .unwrap();
        // The backticked names in the reference's table rows.
        let documented: std::collections::BTreeSet<&str> = docs
            .lines()
            .filter(|l| l.starts_with('|'))
            .flat_map(|l| l.split('`').skip(1).step_by(2))
            .collect();
        let models = [
            ("store", fields::<StoreModel>()),
            ("callback", fields::<CallbackModel>()),
            ("api", fields::<ApiModel>()),
            ("sync", fields::<SyncModel>()),
            ("policy", fields::<PolicyModel>()),
            ("retention", fields::<RetentionModel>()),
            ("inboxes[]", fields::<InboxModel>()),
            ("auth", fields::<AuthModel>()),
            ("folders", fields::<FoldersMap>()),
        ];
        let mut missing = Vec::new();
        for (section, fields) in &models {
            assert!(fields.len() >= 2, "{section}: {fields:?}");
            for field in fields {
                if !documented.contains(field.as_str()) {
                    missing.push(format!("{section}.{field}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in docs/configuration.md: {missing:?}"
        );
    }
}
