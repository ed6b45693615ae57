-- Calendar files (issue #15).
--
-- A departure's revision: every statement that changes a booking_slots row
-- adds one (times, capacity, counts, cancellation, closures), so it is the
-- iCalendar SEQUENCE of the departure in the guides' feeds and only grows.
ALTER TABLE booking_slots ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Tokens that open a tour's departures feed (`?token=` in a calendar
-- subscription URL). Only a SHA-256 of each token is kept; an admin revokes
-- one by setting revoked_at, and a revoked token opens nothing.
CREATE TABLE calendar_feed_tokens (
    id {{id}},
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    label TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{ts}} NOT NULL,
    revoked_at {{ts}}
);
CREATE INDEX idx_calendar_feed_tokens_tour ON calendar_feed_tokens (tour_id);
