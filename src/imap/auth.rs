//! Authentication: LOGIN, and SASL PLAIN (RFC 4616), XOAUTH2 (Google's
//! format, also Microsoft's) and OAUTHBEARER (RFC 7628) through
//! AUTHENTICATE (RFC 3501 §6.2.2).

use async_imap::Authenticator;

use super::connect::Stream;
use super::{Capabilities, Credentials, Error};
use crate::config::{OAuthMechanism, PasswordMechanism};

/// The XOAUTH2 initial client response (before base64):
/// `user=<user>\x01auth=Bearer <token>\x01\x01`.
pub fn xoauth2_initial_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The OAUTHBEARER initial client response (RFC 7628 §3.1): a GS2 header
/// naming the user, then `host`, `port` and `auth` key/value pairs.
pub fn oauthbearer_initial_response(user: &str, host: &str, port: u16, token: &str) -> String {
    // GS2 saslname escaping (RFC 5801 §4): ',' and '=' are written =2C / =3D.
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

/// The PLAIN initial response (RFC 4616): `\0user\0password`, no authzid.
pub fn plain_initial_response(user: &str, password: &str) -> String {
    format!("\0{user}\0{password}")
}

/// Answers a SASL exchange: the initial response to the first challenge, then
/// `failure_reply` to any further one. XOAUTH2 and OAUTHBEARER servers send a
/// second challenge (a JSON error) when the token is refused and wait for an
/// answer before their NO: XOAUTH2 expects an empty line, OAUTHBEARER a
/// single `\x01` (RFC 7628 §3.2.3). Without it the exchange would hang.
struct Sasl {
    initial: Vec<u8>,
    failure_reply: Vec<u8>,
    steps: usize,
}

impl Authenticator for &mut Sasl {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.steps += 1;
        if self.steps == 1 {
            self.initial.clone()
        } else {
            self.failure_reply.clone()
        }
    }
}

/// Logs in on `client`, picking the mechanism from `credentials` and the
/// pre-login capabilities.
pub(super) async fn login(
    client: async_imap::Client<Stream>,
    credentials: &Credentials,
    caps: &Capabilities,
    host: &str,
    port: u16,
) -> Result<async_imap::Session<Stream>, Error> {
    let result = match credentials {
        Credentials::Password {
            username,
            password,
            mechanism: PasswordMechanism::Login,
        } => {
            if caps.login_disabled {
                return Err(Error::Auth {
                    message: "the server disabled LOGIN on this connection (LOGINDISABLED); \
                              use TLS or AUTHENTICATE PLAIN"
                        .into(),
                });
            }
            client.login(username, password.expose()).await
        }
        Credentials::Password {
            username,
            password,
            mechanism: PasswordMechanism::Plain,
        } => {
            let mut sasl = Sasl {
                initial: plain_initial_response(username, password.expose()).into_bytes(),
                failure_reply: Vec::new(),
                steps: 0,
            };
            client.authenticate("PLAIN", &mut sasl).await
        }
        Credentials::OAuth2 {
            username,
            access_token,
            mechanism,
        } => {
            let mechanism = mechanism.unwrap_or(if caps.oauthbearer {
                OAuthMechanism::Oauthbearer
            } else {
                OAuthMechanism::Xoauth2
            });
            let token = access_token.expose();
            let (name, mut sasl) = match mechanism {
                OAuthMechanism::Xoauth2 => (
                    "XOAUTH2",
                    Sasl {
                        initial: xoauth2_initial_response(username, token).into_bytes(),
                        failure_reply: Vec::new(),
                        steps: 0,
                    },
                ),
                OAuthMechanism::Oauthbearer => (
                    "OAUTHBEARER",
                    Sasl {
                        initial: oauthbearer_initial_response(username, host, port, token)
                            .into_bytes(),
                        failure_reply: vec![0x01],
                        steps: 0,
                    },
                ),
            };
            client.authenticate(name, &mut sasl).await
        }
    };
    result.map_err(|(e, _client)| classify(e))
}

/// Maps a failed LOGIN/AUTHENTICATE. A tagged NO refuses the credentials,
/// except RFC 5530's `[UNAVAILABLE]` (the server's auth backend is down),
/// which is transient.
fn classify(e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::No(text) => {
            let words = server_words(&text);
            if words.to_ascii_uppercase().contains("[UNAVAILABLE]") {
                Error::Protocol(format!(
                    "the server's authentication is unavailable: {words}"
                ))
            } else {
                Error::Auth { message: words }
            }
        }
        E::Bad(text) => Error::Protocol(format!(
            "the server rejected the login command: {}",
            server_words(&text)
        )),
        other => super::session::map_error(other),
    }
}

/// The human part of async-imap's `code: …, info: Some("…")` rendering.
pub(super) fn server_words(text: &str) -> String {
    let Some((_, rest)) = text.split_once("info: Some(\"") else {
        return text.to_string();
    };
    match rest.rsplit_once("\")") {
        Some((words, _)) => words.replace("\\\"", "\""),
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_responses() {
        assert_eq!(
            xoauth2_initial_response("a@b.c", "tok"),
            "user=a@b.c\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            oauthbearer_initial_response("a,b=c", "imap.example", 993, "tok"),
            "n,a=a=2Cb=3Dc,\x01host=imap.example\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(plain_initial_response("u", "p"), "\0u\0p");
    }

    #[test]
    fn sasl_answers_a_second_challenge() {
        let mut sasl = Sasl {
            initial: b"first".to_vec(),
            failure_reply: vec![1],
            steps: 0,
        };
        let mut auth = &mut sasl;
        assert_eq!(auth.process(b""), b"first");
        assert_eq!(auth.process(b"{\"status\":\"401\"}"), vec![1]);
    }

    #[test]
    fn server_words_are_extracted() {
        assert_eq!(
            server_words(
                "code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")"
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_words("plain"), "plain");
        assert!(matches!(
            classify(async_imap::error::Error::No(
                "code: None, info: Some(\"[UNAVAILABLE] Temporary authentication failure.\")"
                    .into()
            )),
            Error::Protocol(_)
        ));
        assert!(classify(async_imap::error::Error::No("x".into())).is_auth());
    }
}
