-- Failed sign-ins, kept in the database so that every instance throttles the same email alike.
CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX login_failures_email_at_idx ON login_failures (email, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);
