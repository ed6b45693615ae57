-- Email, rendered from the outbox (#15). One row per message: rendered once
-- when its event is delivered, then sent (or kept for preview when no SMTP
-- server is configured). No foreign key to outbox_events: retention prunes
-- delivered events, the message keeps its own copy of what it says.
-- Nothing secret is stored: booking links carry the reference and email,
-- which the customer already has; a waitlist offer's claim link gets its
-- manage token when the email is sent (only its hash is kept, in
-- manage_tokens), so the stored body holds a placeholder.
CREATE TABLE email_messages (
    id {{id}},
    event_id BIGINT NOT NULL,
    tour_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    to_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    ics TEXT,
    waitlist_entry_id BIGINT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'dead', 'held')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at {{ts}} NOT NULL,
    last_error TEXT,
    created_at {{ts}} NOT NULL,
    sent_at {{ts}},
    UNIQUE (event_id, kind)
);
CREATE INDEX idx_email_messages_due ON email_messages (status, next_attempt_at);
CREATE INDEX idx_email_messages_created ON email_messages (created_at);
