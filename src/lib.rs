//! # rebound
//!
//! rebound watches connected sales inboxes, recognises the bounce notices
//! (NDRs/DSNs) that come back for messages a CRM sent, ties each one to the
//! tracked message and contact it concerns, applies the contact policy and
//! tells the CRM through a signed callback.
//!
//! ## Architecture: the path of one message
//!
//! ```text
//!  source ──> analysis ──> correlation / policy ──> store ──> outbox ──> callback
//!  imap/      bounce/       matching/, policy/        store/    outbox/    (HTTP | file | stdout)
//!  maildir/   (pure)        (ingest/ is the glue)
//! ```
//!
//! - **source** ([`imap`], [`maildir`], driven by [`sync`]) fetches new
//!   messages once, read-only, with UID checkpoints; Sent-folder copies
//!   feed [`track`].
//! - **analysis** ([`bounce`]) is pure: raw bytes in, a [`bounce::Report`] out.
//!   No I/O, no clock, no logging; it builds with `default-features = false`
//!   (mail-parser, serde and aho-corasick only) and is what `rebound classify`
//!   and the fuzz target run.
//! - **correlation / policy** ([`matching`], [`policy`]) tie each failed
//!   recipient to a tracked sent message and decide suppression, with an
//!   injected clock and no I/O; [`ingest`] loads what they need and commits
//!   what they decided.
//! - **store / outbox / callback** ([`store`], [`outbox`], [`sink`]) persist
//!   state and events in one transaction with the checkpoint and deliver
//!   the events at least once (signed HTTP, a file, or stdout);
//!   [`retention`] prunes what is finished.
//! - **edges**: [`config`], [`api`] (the HTTP API), [`cli`], [`telemetry`].
//!
//! docs/architecture.md is the long version.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(feature = "service")]
pub mod api;
pub mod bounce;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod event;
#[cfg(feature = "service")]
pub mod imap;
#[cfg(feature = "service")]
pub mod ingest;
#[cfg(feature = "service")]
pub mod maildir;
#[cfg(feature = "service")]
pub mod matching;
#[cfg(feature = "service")]
pub mod oauth;
#[cfg(feature = "service")]
pub mod outbox;
#[cfg(feature = "service")]
pub mod policy;
#[cfg(feature = "service")]
pub mod retention;
#[cfg(feature = "service")]
pub mod sink;
#[cfg(feature = "service")]
pub mod source;
#[cfg(feature = "service")]
pub mod store;
#[cfg(feature = "service")]
pub mod sync;
#[cfg(feature = "service")]
pub mod telemetry;
#[cfg(feature = "service")]
pub mod time;
#[cfg(feature = "service")]
pub mod track;

#[cfg(feature = "service")]
pub mod cli;
