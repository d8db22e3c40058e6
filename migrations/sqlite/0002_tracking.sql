-- 0002_tracking: sent messages rebound knows about (issue 4), so that a bounce
-- can be tied to the message and contact it concerns.
--
-- Portable as 0001 (BIGINT Unix seconds, TEXT, no SQLite-only clauses). Never
-- edit this file once released: add a new numbered one instead.

-- One row per (account, Message-ID): registering the same message again
-- updates it. `metadata` is the CRM's JSON object, as text; `source` is
-- `api`, `cli` or `sent_folder`.
CREATE TABLE tracked_messages (
    account    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    inbox      TEXT   NOT NULL,
    subject    TEXT,
    sent_at    BIGINT NOT NULL,
    metadata   TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, message_id)
);

-- Every recipient of a tracked message (normalised address). `sent_at` is
-- copied from the message so that "what was sent to this address in a time
-- window" (recipient-window matching) is one index range scan.
CREATE TABLE tracked_recipients (
    account    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    address    TEXT   NOT NULL,
    contact_id TEXT,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (account, message_id, address)
);

CREATE INDEX tracked_recipients_by_address
    ON tracked_recipients (account, address, sent_at);
