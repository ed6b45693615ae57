-- Bearer tokens for logged-in users. Only a SHA-256 of each token is kept,
-- so a leaked table cannot be replayed.
CREATE TABLE auth_tokens (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{ts}} NOT NULL,
    expires_at {{ts}} NOT NULL,
    revoked_at {{ts}}
);
CREATE INDEX idx_auth_tokens_user ON auth_tokens (user_id);
