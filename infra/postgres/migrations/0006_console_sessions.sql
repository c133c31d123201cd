-- The web console's sign-in sessions (issue 17): an API token exchanged for a cookie.
-- Only the SHA-256 of the cookie's secret is kept, as for tokens. A session acts as its token:
-- every request joins the token, so revoking the token ends its sessions at once. Signing
-- out sets ended_at; the row stays, like a revoked token's. The CSRF token is not a
-- credential on its own (it is useless without the cookie), and the page reads it back.
CREATE TABLE console_sessions (
    session_sha256 bytea PRIMARY KEY CHECK (length(session_sha256) = 32),
    token_id text NOT NULL REFERENCES api_tokens (token_id),
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
    ended_at timestamptz
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
