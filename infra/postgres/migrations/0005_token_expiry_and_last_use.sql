-- API tokens may expire, and each remembers when it was last used (issue 15, item 7).
-- expires_at NULL: the token lasts until revoked. last_used_at is written by the gateway at
-- most once a minute per token, so a busy token does not turn every request into a write.
-- No role is named here: who may touch which column is set from the settings when the
-- migrations are applied (infra/postgres/roles.py).
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz CHECK (expires_at > created_at),
    ADD COLUMN last_used_at timestamptz;
