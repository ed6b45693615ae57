-- Signed webhooks (#15). An endpoint an admin registered; one delivery per
-- endpoint and outbox event (fanned out when the event is delivered, in the
-- same transaction), its body fixed then so every attempt and replay sends
-- the same bytes; and one row per attempt (status, latency, what the
-- receiver answered) for the console's log.
-- The secret is stored as given: it must sign every delivery. It is shown
-- once, when set, and never logged.
CREATE TABLE webhook_endpoints (
    id {{id}},
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Space-separated event types, or `*` for every type.
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);

CREATE TABLE webhook_deliveries (
    id {{id}},
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    -- `sending` is leased to one sender until next_attempt_at; a crashed
    -- sender's delivery comes due again then.
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at {{ts}} NOT NULL,
    last_error TEXT,
    created_at {{ts}} NOT NULL,
    delivered_at {{ts}},
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id {{id}},
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    attempted_at {{ts}} NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX idx_webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
