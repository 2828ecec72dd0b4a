package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud"
)

// PutSession stores a new page session under the hash of its id, and
// drops sessions past their absolute end (so the table holds only the
// sessions that could still be used, give or take the idle ones).
func (db *DB) PutSession(ctx context.Context, hash string, s *cloud.Session) error {
	if _, err := db.write().ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, micros(s.Created)); err != nil {
		return fmt.Errorf("%s: prune sessions: %w", db.Dialect.Name, err)
	}
	_, err := db.write().ExecContext(ctx, `INSERT INTO sessions (hash, token_id, created_at, seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hash, s.TokenID, micros(s.Created), micros(s.Seen), micros(s.Expires))
	if err != nil {
		return fmt.Errorf("%s: put session: %w", db.Dialect.Name, err)
	}
	return nil
}

// Session returns a session's token grant and the session, refusing a
// session that is unknown (cloud.ErrSessionUnknown), past its idle or
// absolute timeout (ErrSessionExpired) or opened with a token that may no
// longer be used (ErrTokenRevoked, ErrTokenExpired). Like Token, it reads
// the database every time: a sign-out or a revocation on one replica is
// seen by the next request on any other.
func (db *DB) Session(ctx context.Context, hash string, now time.Time, idle time.Duration) (*cloud.Principal, *cloud.Session, error) {
	var created, seen, expires int64
	s := &cloud.Session{}
	p, err := scanToken(func(dest ...any) error {
		return db.read().QueryRowContext(ctx, `SELECT t.data, t.expires_at, t.last_used_at, t.revoked_at, s.token_id, s.created_at, s.seen_at, s.expires_at
			FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1`, hash).Scan(append(dest, &s.TokenID, &created, &seen, &expires)...)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, cloud.ErrSessionUnknown
	} else if err != nil {
		return nil, nil, fmt.Errorf("%s: session: %w", db.Dialect.Name, err)
	}
	s.Created, s.Seen, s.Expires = time.UnixMicro(created).UTC(), time.UnixMicro(seen).UTC(), time.UnixMicro(expires).UTC()
	if err := p.Usable(now); err != nil {
		return p, s, err
	}
	if err := s.Usable(now, idle); err != nil {
		return p, s, err
	}
	return p, s, nil
}

// TouchSession records a session's activity at, unless it was recorded
// less than every ago (one write a minute for a busy page user).
func (db *DB) TouchSession(ctx context.Context, hash string, at time.Time, every time.Duration) error {
	_, err := db.write().ExecContext(ctx, `UPDATE sessions SET seen_at = $1 WHERE hash = $2 AND seen_at <= $3`,
		micros(at), hash, micros(at.Add(-every)))
	if err != nil {
		return fmt.Errorf("%s: touch session: %w", db.Dialect.Name, err)
	}
	return nil
}

// DeleteSession ends a session (sign-out). An unknown session is not an
// error: signing out twice is fine.
func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := db.write().ExecContext(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("%s: delete session: %w", db.Dialect.Name, err)
	}
	return nil
}

// dropRevokedSessions deletes the sessions of revoked tokens; Session
// refuses them anyway, this keeps the table small.
func dropRevokedSessions(ctx context.Context, tx executor) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_id IN (SELECT id FROM tokens WHERE revoked_at IS NOT NULL)`)
	return err
}
