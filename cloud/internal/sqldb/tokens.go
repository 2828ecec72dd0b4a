package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud"
)

// Tokens are kept by the hash of their secret. The grant is a JSON
// document; when a token expires, was last used and was revoked are
// columns, the truth that every replica reads on every request (there is
// no per-replica cache, so a revocation is seen by the next request on any
// replica).

// tokenCols are the columns scanTokenRow reads, in order.
const tokenCols = `data, expires_at, last_used_at, revoked_at`

func scanToken(scan func(dest ...any) error) (*cloud.Principal, error) {
	var (
		data                       []byte
		expires, lastUsed, revoked sql.NullInt64
	)
	if err := scan(&data, &expires, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	var p cloud.Principal
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	p.Expires, p.LastUsed, p.Revoked = fromNullMicros(expires), fromNullMicros(lastUsed), fromNullMicros(revoked)
	return &p, nil
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// PutToken stores a new token's grant under its hash. The hash must be
// new: a secret is stored once.
func (db *DB) PutToken(ctx context.Context, hash string, p *cloud.Principal) error {
	if _, err := putToken(ctx, db.write(), hash, p, false, db.now()); err != nil {
		return fmt.Errorf("%s: put token: %w", db.Dialect.Name, err)
	}
	return nil
}

// putToken inserts a token row and returns the rows inserted (0 when
// skip is set and the hash is stored); a principal without a creation
// time is created now.
func putToken(ctx context.Context, ex executor, hash string, p *cloud.Principal, skip bool, now time.Time) (int64, error) {
	data, err := json.Marshal(grant(p))
	if err != nil {
		return 0, err
	}
	created := p.Created
	if created.IsZero() {
		created = now
	}
	put := Insert{Table: "tokens", Columns: cols("id, hash, data, created_at, expires_at")}
	if skip {
		put.Conflict, put.DoNothing = cols("hash"), true
	}
	res, err := ex.ExecContext(ctx, put.SQL(),
		p.TokenID, hash, string(data), micros(created), nullMicros(p.Expires))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// grant is what the data document keeps: the grant, without the columns'
// clocks (which change after issue).
func grant(p *cloud.Principal) *cloud.Principal {
	g := *p
	g.LastUsed, g.Revoked = nil, nil
	return &g
}

// Token returns the grant of a token hash: cloud.ErrTokenUnknown,
// ErrTokenRevoked or ErrTokenExpired when it may not be used at now.
func (db *DB) Token(ctx context.Context, hash string, now time.Time) (*cloud.Principal, error) {
	p, err := scanToken(db.read().QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloud.ErrTokenUnknown
	} else if err != nil {
		return nil, fmt.Errorf("%s: token: %w", db.Dialect.Name, err)
	}
	if err := p.Usable(now); err != nil {
		return p, err
	}
	return p, nil
}

// Tokens lists every token, revoked and expired ones included, oldest
// first. Secrets are never stored, and hashes are not returned.
func (db *DB) Tokens(ctx context.Context) ([]*cloud.Principal, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: tokens: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := []*cloud.Principal{}
	for rows.Next() {
		p, err := scanToken(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("%s: tokens: %w", db.Dialect.Name, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: tokens: %w", db.Dialect.Name, err)
	}
	return out, nil
}

// RevokeToken revokes a token by id, at once for every replica, ends its
// sessions and disables the webhooks it registered (disableTokenWebhooks),
// in one transaction. Revoking a revoked token changes nothing; an unknown
// id is ENOTFOUND.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE id = $1`, id).Scan(&n); err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	if n == 0 {
		return cloud.Errorf(cloud.ENOTFOUND, "token %s not found", id)
	}
	if err := revoke(ctx, tx, `id = $2`, micros(at), id); err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	if err := disableTokenWebhooks(ctx, tx, id, at); err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	if err := dropRevokedSessions(ctx, tx); err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: revoke token: %w", db.Dialect.Name, err)
	}
	return nil
}

// revoke marks the live tokens matching where ($2...) revoked at $1.
func revoke(ctx context.Context, tx executor, where string, args ...any) error {
	_, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND `+where, args...)
	return err
}

// RotateToken stores a known token (the bootstrap admin's) and revokes
// every other live token of the family (id family or family_...), in one
// transaction:
// the new secret replaces the old one. Storing a secret that is already
// live changes nothing, so a restart with the same secret is harmless; a
// secret that was revoked is refused with cloud.ErrTokenRevoked rather
// than brought back. It returns how many tokens it revoked.
func (db *DB) RotateToken(ctx context.Context, hash string, p *cloud.Principal, family string, at time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	// A replica starting beside this one with the same secret waits here
	// for this transaction, then finds the row and does nothing.
	n, err := putToken(ctx, tx, hash, p, true, db.now())
	if err != nil {
		return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
	}
	if n == 0 {
		var revoked sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM tokens WHERE hash = $1`, hash).Scan(&revoked); err != nil {
			return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
		}
		if revoked.Valid {
			return 0, cloud.ErrTokenRevoked
		}
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND id <> $2 AND (id = $3 OR substr(id, 1, $4) = $5)`,
		micros(at), p.TokenID, family, len(family)+1, family+"_")
	if err != nil {
		return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
	}
	revoked, _ := res.RowsAffected()
	if err := dropRevokedSessions(ctx, tx); err != nil {
		return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%s: rotate token: %w", db.Dialect.Name, err)
	}
	return revoked, nil
}

// TouchToken records that a token was used at, unless it was recorded less
// than every ago: one write a minute per busy token rather than one a
// request, decided by the database so that replicas need not agree.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error {
	_, err := db.write().ExecContext(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
		micros(at), id, micros(at.Add(-every)))
	if err != nil {
		return fmt.Errorf("%s: touch token: %w", db.Dialect.Name, err)
	}
	return nil
}
