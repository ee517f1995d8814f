-- Sign-in sessions with rotating refresh tokens (stored only as SHA-256 hashes), and the
-- revocation feed that every service follows.

-- Access tokens carry the generation of their account; raising it revokes every older token.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;

-- One session per sign-in: the chain of refresh tokens rotated from Login's.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,  -- of the session's newest refresh token
    revoked_at TIMESTAMPTZ
);

CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Every refresh token a session had; all but the newest are used, and kept to detect reuse.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at TIMESTAMPTZ
);

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- The feed: rows are inserted in id order under an advisory lock, so that a reader that has
-- seen id N has seen every revocation committed before N.
CREATE TABLE revocations (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    below_generation BIGINT,
    session_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    CHECK ((below_generation IS NULL) <> (session_id IS NULL))
);

CREATE INDEX revocations_expires_idx ON revocations (expires_at);
