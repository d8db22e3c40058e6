-- 0003_policy: what the contact policy keeps between notices, and the event
-- outbox (issue 4).
--
-- Portable as 0001 (BIGINT Unix seconds and u32 values, TEXT, JSON kept as
-- TEXT, partial indexes and CHECKs that PostgreSQL accepts as written, no
-- SQLite-only clauses): the PostgreSQL port copies this file. Sequence
-- numbers are assigned by the store (MAX(seq) + 1 inside its write
-- transaction, which holds the write lock), not by AUTOINCREMENT or
-- BIGSERIAL, so both backends number rows the same way. Never edit this file
-- once released: add a new numbered one instead.
--
-- The CHECKs on empty keys and on the pending window refuse rows the policy
-- never means to write; a refused row rolls back the whole step.

-- The policy's state of one (normalised) address in one account. The three
-- suppression_* columns are all NULL (not suppressed) or all set. `soft` is
-- the current run of soft bounces, a JSON array of
-- {"message", "sent_at", "at"} objects, oldest first.
CREATE TABLE contacts (
    account              TEXT   NOT NULL CHECK (account <> ''),
    address              TEXT   NOT NULL CHECK (address <> ''),
    contact_id           TEXT,
    suppression_reason   TEXT,
    suppression_since    BIGINT,
    suppression_event_id TEXT,
    soft                 TEXT   NOT NULL,
    last_certain_hard_at BIGINT,
    alive_at             BIGINT,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (account, address),
    CHECK ((suppression_reason IS NULL) = (suppression_since IS NULL)
       AND (suppression_reason IS NULL) = (suppression_event_id IS NULL))
);

-- "Which contacts are suppressed" (per account or everywhere), in key order.
CREATE INDEX contacts_suppressed
    ON contacts (account, address) WHERE suppression_reason IS NOT NULL;

-- "The state of this address in every account" (global suppression rule).
CREATE INDEX contacts_by_address ON contacts (address, account);

-- Every suppression and lift, append only. `seq` is the insertion order,
-- assigned by the store across the whole table; an address's history reads
-- ordered by (at, seq), so entries written with the same `at` keep the order
-- they were written in.
CREATE TABLE suppression_history (
    seq      BIGINT NOT NULL PRIMARY KEY,
    account  TEXT   NOT NULL CHECK (account <> ''),
    address  TEXT   NOT NULL CHECK (address <> ''),
    action   TEXT   NOT NULL,
    reason   TEXT   NOT NULL,
    actor    TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    event_id TEXT   NOT NULL CHECK (event_id <> '')
);

CREATE INDEX suppression_history_by_contact
    ON suppression_history (account, address, at, seq);

-- Delay notices waiting for their final notice. A second delay notice for
-- the same message keeps the first row (its noticed_at starts the wait).
-- `snapshot` is the JSON the `bounce.pending_expired` event will carry.
CREATE TABLE pending_delays (
    account     TEXT   NOT NULL CHECK (account <> ''),
    address     TEXT   NOT NULL CHECK (address <> ''),
    message_key TEXT   NOT NULL CHECK (message_key <> ''),
    inbox       TEXT   NOT NULL,
    noticed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    event_id    TEXT   NOT NULL CHECK (event_id <> ''),
    snapshot    TEXT   NOT NULL,
    PRIMARY KEY (account, address, message_key),
    CHECK (expires_at >= noticed_at)
);

-- "What is due now", earliest first; the key columns make the order total.
CREATE INDEX pending_delays_by_expiry
    ON pending_delays (expires_at, account, address, message_key);

-- Addresses suppressed in every account; `accounts` is a JSON array of the
-- accounts whose hard bounces caused it.
CREATE TABLE global_suppressions (
    address  TEXT   NOT NULL PRIMARY KEY CHECK (address <> ''),
    since    BIGINT NOT NULL,
    accounts TEXT   NOT NULL
);

-- One analysed notice for one recipient. `key` is the notice's identity and
-- the address: writing it again leaves the first row.
CREATE TABLE recipient_findings (
    key         TEXT   NOT NULL PRIMARY KEY CHECK (key <> ''),
    identity    TEXT   NOT NULL,
    account     TEXT   NOT NULL,
    inbox       TEXT   NOT NULL,
    address     TEXT   NOT NULL,
    message_id  TEXT,
    method      TEXT   NOT NULL,
    confidence  TEXT,
    verdict     TEXT   NOT NULL,
    kind        TEXT,
    reason      TEXT,
    status      TEXT,
    folder      TEXT   NOT NULL,
    uidvalidity BIGINT NOT NULL CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    uid         BIGINT NOT NULL CHECK (uid BETWEEN 0 AND 4294967295),
    raw_sha256  TEXT   NOT NULL,
    location    TEXT,
    noticed_at  BIGINT NOT NULL,
    event_id    TEXT   NOT NULL
);

CREATE INDEX recipient_findings_by_contact
    ON recipient_findings (account, address, noticed_at);

-- The events to deliver, written in the same transaction as the state they
-- report (and the checkpoint that produced them). `id` is the stable event
-- id: writing it again leaves the first row and its seq. `seq` is the
-- delivery order, MAX(seq) + 1 at insertion; rows are never deleted today,
-- and a later retention job must keep the highest seq so numbers are not
-- reused. `payload` is the whole serialised event (the other columns copy
-- parts of it for queries); `address` is its contact's, NULL for inbox
-- events.
--
-- attempts, next_attempt_at and last_error are the dispatcher's (next
-- issue), added now so that it needs no migration of a filled table:
-- attempts counts failed deliveries, next_attempt_at (NULL = at once) is the
-- earliest retry, last_error the last failure (no secrets). This issue's
-- store writes their defaults and never reads them.
CREATE TABLE outbox (
    id              TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    seq             BIGINT NOT NULL UNIQUE,
    type            TEXT   NOT NULL,
    account         TEXT   NOT NULL,
    inbox           TEXT,
    address         TEXT,
    occurred_at     TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error      TEXT
);

-- "Undelivered, in seq order" reads only the rows still to deliver.
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;

-- "Which accounts sent to this address" (trackers) looks up by address
-- alone; 0002's index leads with the account.
CREATE INDEX tracked_recipients_by_address_only
    ON tracked_recipients (address, account, sent_at);
