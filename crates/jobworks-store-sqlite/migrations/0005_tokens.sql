-- Tokens by name (issue 7, point 4): an owner and the admin role (ready for users and roles),
-- last use, expiry and revocation. Every token stored before this was the first-start admin
-- token.
ALTER TABLE api_tokens ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN last_used_at_us INTEGER;
ALTER TABLE api_tokens ADD COLUMN expires_at_us INTEGER;
ALTER TABLE api_tokens ADD COLUMN revoked_at_us INTEGER;
UPDATE api_tokens SET is_admin = 1, owner = name;
-- a name (what approvals list) belongs to one live token at a time
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_at_us IS NULL;
