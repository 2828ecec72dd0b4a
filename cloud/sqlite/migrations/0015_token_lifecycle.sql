-- Tokens that expire, are revoked and say when they were last used
-- (issue 15). A revoked token's row is kept, for the audit trail and so
-- that the same secret cannot be stored again.
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER
