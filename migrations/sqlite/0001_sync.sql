-- 0001_sync: state of the IMAP connector (issue 3).
--
-- Kept portable so the PostgreSQL port is a copy: BIGINT for u32 values and
-- Unix seconds (PostgreSQL's INTEGER is 32-bit signed, so u32::MAX would not
-- fit; SQLite stores BIGINT as its 64-bit INTEGER), TEXT for the rest, no
-- SQLite-only clauses. Later issues add tracked messages, contact state and
-- the outbox in their own numbered files. Never edit this file once released:
-- the migrator refuses a database whose recorded checksum differs.

-- How far each folder of each inbox has been handed on (RFC 3501 §2.3.1.1:
-- a UID means something only together with the folder's UIDVALIDITY).
CREATE TABLE checkpoints (
    inbox       TEXT   NOT NULL,
    folder      TEXT   NOT NULL,
    uidvalidity BIGINT NOT NULL CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    last_uid    BIGINT NOT NULL CHECK (last_uid BETWEEN 0 AND 4294967295),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (inbox, folder)
);

-- The findings already handed on, by identity, so a rescan after a
-- UIDVALIDITY change (or the same notice in another folder) emits nothing twice.
CREATE TABLE findings (
    inbox       TEXT   NOT NULL,
    identity    TEXT   NOT NULL,
    folder      TEXT   NOT NULL,
    uidvalidity BIGINT NOT NULL CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    uid         BIGINT NOT NULL CHECK (uid BETWEEN 0 AND 4294967295),
    verdict     TEXT   NOT NULL,
    raw_sha256  TEXT   NOT NULL,
    found_at    BIGINT NOT NULL,
    PRIMARY KEY (inbox, identity)
);

-- Each inbox's last known health; `since` is when the state was entered.
CREATE TABLE inbox_health (
    inbox      TEXT   NOT NULL PRIMARY KEY,
    state      TEXT   NOT NULL,
    last_error TEXT,
    since      BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Rotated OAuth2 refresh tokens (they win over the config's once present).
-- `origin` fingerprints the config token they descend from: a new token put
-- in the config after re-authorisation makes the stored one stale.
CREATE TABLE oauth_tokens (
    inbox         TEXT   NOT NULL PRIMARY KEY,
    refresh_token TEXT   NOT NULL,
    origin        TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL
);
