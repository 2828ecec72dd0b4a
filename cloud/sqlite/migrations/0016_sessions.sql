-- Page sessions (issue 15). The browser holds a random id; the store keeps
-- only its SHA-256. A session ends at sign-out, after its idle or absolute
-- timeout, and with the token it was opened with.
CREATE TABLE sessions (
	hash TEXT PRIMARY KEY,
	token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	seen_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at)
