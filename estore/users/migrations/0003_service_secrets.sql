-- Secrets that every instance must share (the page-token key), made once by whichever starts first.
CREATE TABLE service_secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
