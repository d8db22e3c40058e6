//! Test harness shared by the integration tests (`mod support;`).
//!
//! - [`dovecot`]: a self-contained Dovecot IMAP server per test
//!   ([`dovecot::Dovecot::start`]), with helpers to APPEND, read flags,
//!   create folders, reset UIDVALIDITY and restart.
//! - [`authserver`]: a fake OAuth2 authorization server (token endpoint +
//!   the tokeninfo endpoint Dovecot validates bearer tokens against).
//! - [`certs`]: throwaway CAs and leaf certificates.
//! - [`notices`]: RFC 3464 bounce notices about tracked messages.
//! - [`rawimap`]: a bare IMAP client for the harness (APPEND, IDLE).
//! - [`receiver`]: a webhook receiver that verifies signatures itself.
//!
//! Typical use:
//! ```ignore
//! mod support;
//! use support::dovecot::{Dovecot, DovecotOptions};
//!
//! #[tokio::test]
//! async fn something() {
//!     let server = Dovecot::start(DovecotOptions::default()).await; // user alice
//!     let uid = server.append("alice", "INBOX", b"Subject: hi\r\n\r\nbody\r\n").await;
//!     let settings = server.imap_settings("alice"); // implicit TLS, test CA
//!     // ... run the code under test against `settings` ...
//!     assert!(!server.flags("alice", "INBOX", uid).await.contains(&"\\Seen".to_string()));
//! }
//! ```
//! Each test gets its own server, ports and temp dir, so tests run in
//! parallel. A missing Dovecot fails the test with the setup command to run.

// Each test crate uses a different part of the harness.
#![allow(dead_code)]

pub mod authserver;
pub mod certs;
pub mod dovecot;
pub mod notices;
pub mod rawimap;
pub mod receiver;
