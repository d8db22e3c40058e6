-- The HTTP dispatcher (issue 5) on top of 0003's outbox columns
-- (attempts, next_attempt_at, last_error):
--
-- dead_at:     when the event was dead-lettered (its retry budget was spent,
--              or the receiver refused it for good); NULL while pending or
--              once delivered. A dead letter is never deleted; a redrive
--              sets it back to NULL.
-- budget_from: when the event's retry budget started; NULL = created_at.
--              A redrive sets it to the redrive time, so a redriven event
--              gets a whole budget again.
--
-- An event is pending while delivered_at and dead_at are both NULL.
-- Portable SQL (ADD COLUMN, partial indexes): PostgreSQL takes it as is.
ALTER TABLE outbox ADD COLUMN dead_at BIGINT;
ALTER TABLE outbox ADD COLUMN budget_from BIGINT;

-- "Pending, in seq order": the dispatcher's scan.
CREATE INDEX outbox_pending
    ON outbox (seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- "Is there an earlier pending event in this lane": one lane is a contact
-- (account, address), or for events without a contact (address NULL) an
-- account's inbox, filtered after the (account, NULL) prefix.
CREATE INDEX outbox_pending_by_lane
    ON outbox (account, address, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- Dead letters in seq order (status, the API's listing, redrive).
CREATE INDEX outbox_dead ON outbox (seq) WHERE dead_at IS NOT NULL;
