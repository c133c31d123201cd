-- The gateway's tables (issue 7): API tokens and the reports it has accepted over HTTP.

-- One row per token. Only the SHA-256 of the secret is kept: a leaked table (or an auditor's
-- read) gives nobody a usable token. Revoking sets revoked_at; the row stays for the audit.
CREATE TABLE api_tokens (
    token_id text PRIMARY KEY,
    secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    enterprise text NOT NULL,
    role text NOT NULL CHECK (role IN ('publisher', 'dispatcher', 'supervisor', 'auditor')),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_tokens_by_enterprise ON api_tokens (enterprise, created_at);

-- Publish idempotency: a report id is unique within its publisher (ReportRef). The hash of
-- the accepted report tells a retry (same body: the same answer) from a clash (409).
CREATE TABLE gateway_reports (
    reported_by text NOT NULL,
    report_id text NOT NULL,
    kind text NOT NULL,
    body_sha256 bytea NOT NULL CHECK (length(body_sha256) = 32),
    incident_key text NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reported_by, report_id)
);

-- The service may revoke a token (UPDATE) but never erase one; accepted reports are history.
REVOKE DELETE, TRUNCATE ON api_tokens FROM signalpost;
REVOKE UPDATE, DELETE, TRUNCATE ON gateway_reports FROM signalpost;
-- Auditors see who holds which token, never even the hash of a secret.
REVOKE SELECT ON api_tokens FROM signalpost_auditor;
GRANT SELECT (token_id, enterprise, role, label, created_at, revoked_at) ON api_tokens
    TO signalpost_auditor;
