//! The IMAP source: connection, authentication, folders, two-step fetch, IDLE.

pub mod utf7;
