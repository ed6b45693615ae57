-- Manage tokens get a lifecycle: which flow issued them (a lookup's tokens
-- are revoked by the next lookup) and when they were revoked. They also
-- expire a while after the departure, which is computed, not stored.
ALTER TABLE manage_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'created';
ALTER TABLE manage_tokens ADD COLUMN revoked_at {{ts}};

-- Idempotency replays no longer keep the manage token: the token is derived
-- from a per-row salt and the client's key, which is kept only as a hash,
-- so the table alone opens nothing. Plaintext tokens from before are wiped.
ALTER TABLE idempotency_keys ADD COLUMN token_salt TEXT;
UPDATE idempotency_keys SET manage_token = NULL;
