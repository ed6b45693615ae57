-- What the booking lifecycle needs besides the spec's tables.

-- Capability tokens for guests: whoever presents one may see and change the
-- booking (or waitlist entry). Only hashes are kept; a booking may have
-- several (one from creation, more from reference + email lookups).
CREATE TABLE manage_tokens (
    id {{id}},
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    booking_id BIGINT REFERENCES bookings (id),
    waitlist_entry_id BIGINT REFERENCES waitlist_entries (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{ts}} NOT NULL,
    CHECK ((booking_id IS NULL) <> (waitlist_entry_id IS NULL))
);
CREATE INDEX idx_manage_tokens_booking ON manage_tokens (booking_id);
CREATE INDEX idx_manage_tokens_waitlist ON manage_tokens (waitlist_entry_id);

-- The transactional outbox: written in the same transaction as the change
-- it describes, delivered afterwards (log and notification list for now).
CREATE TABLE outbox_events (
    id {{id}},
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    event_type TEXT NOT NULL,
    payload {{json}} NOT NULL,
    created_at {{ts}} NOT NULL,
    delivered_at {{ts}}
);
CREATE INDEX idx_outbox_undelivered ON outbox_events (delivered_at, id);
CREATE INDEX idx_outbox_type_created ON outbox_events (event_type, created_at);

-- Idempotency-Key replay: the first request with a key creates; later ones
-- with the same key and body get the same booking back.
CREATE TABLE idempotency_keys (
    id {{id}},
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    booking_id BIGINT REFERENCES bookings (id),
    manage_token TEXT,
    created_at {{ts}} NOT NULL,
    UNIQUE (scope, idem_key)
);
CREATE INDEX idx_idempotency_created ON idempotency_keys (created_at);
