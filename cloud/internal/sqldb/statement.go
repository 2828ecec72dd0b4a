package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The dialect seam. Every statement in this package is written once, for
// both databases, in one form, PostgreSQL's:
//
//   - placeholders are numbered: $1, $2, ... (params.add, list, placeholders and values
//     below build them for statements of varying length);
//   - an upsert is INSERT ... ON CONFLICT (target) DO NOTHING or DO UPDATE
//     SET ..., written as an Insert;
//   - RETURNING ends an INSERT (Insert.Returning), a lease's UPDATE (lease)
//     or a DELETE;
//   - an UPDATE inside the WITH clause of an INSERT only where
//     Dialect.UpdateCTE says the database runs one (Tx.Save).
//
// PostgreSQL and SQLite (3.35 on) run all of it as written. A backend that
// does not sets Dialect.Rebind, which every statement passes through on
// its way to the database (rebound), and teaches Insert.SQL its upsert:
// those two places and its migrations are what a third backend touches.

// executor is what statements run on: a pool, a connection or a
// transaction.
type executor interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebound runs statements on x, each rewritten by the dialect's Rebind on
// its way.
type rebound struct {
	x      executor
	rebind func(string) string
}

func (r rebound) stmt(query string) string {
	if r.rebind == nil {
		return query
	}
	return r.rebind(query)
}

// ExecContext implements executor.
func (r rebound) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.x.ExecContext(ctx, r.stmt(query), args...)
}

// QueryContext implements executor.
func (r rebound) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.x.QueryContext(ctx, r.stmt(query), args...)
}

// QueryRowContext implements executor.
func (r rebound) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.x.QueryRowContext(ctx, r.stmt(query), args...)
}

func (db *DB) on(x executor) rebound { return rebound{x: x, rebind: db.Dialect.Rebind} }

// read is where reads run: the Reader pool.
func (db *DB) read() rebound { return db.on(db.Reader) }

// write is where writes outside a transaction run: the Writer pool.
func (db *DB) write() rebound { return db.on(db.Writer) }

// sqlTx is a database transaction whose statements are rebound.
type sqlTx struct {
	rebound
	tx *sql.Tx
}

func (t sqlTx) Commit() error   { return t.tx.Commit() }
func (t sqlTx) Rollback() error { return t.tx.Rollback() }

// PrepareContext prepares a rebound statement in the transaction.
func (t sqlTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, t.stmt(query))
}

type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// begin starts a write transaction on the Writer pool.
func (db *DB) begin(ctx context.Context) (sqlTx, error) { return db.beginOn(ctx, db.Writer) }

// beginOn starts a transaction on a pool or a connection.
func (db *DB) beginOn(ctx context.Context, b beginner) (sqlTx, error) {
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return sqlTx{}, err
	}
	return sqlTx{rebound: db.on(tx), tx: tx}, nil
}

// params are a statement's arguments, collected as its text is built.
type params []any

// add appends v and returns its placeholder.
func (a *params) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// list appends vs and returns their placeholders, "$3, $4, $5", for an
// IN (...) list.
func list[T any](a *params, vs []T) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.add(v))
	}
	return b.String()
}

// placeholders returns n placeholders numbered from first:
// placeholders(3, 2) is "$3, $4".
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

// values returns rows rows of cols placeholders each, numbered from
// first: values(3, 2, 2) is "($3, $4), ($5, $6)".
func values(first, rows, cols int) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + placeholders(first+r*cols, cols) + ")")
	}
	return b.String()
}

// cols splits a comma-separated list of column names.
func cols(s string) []string {
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// Insert is an INSERT statement, an upsert when it says what to do on a
// conflict: the one place this package writes INSERT ... ON CONFLICT and
// INSERT ... RETURNING.
type Insert struct {
	Table   string
	Columns []string
	// Rows is how many rows of placeholders VALUES has ($1 to
	// $Rows*len(Columns), row by row); 0 is one.
	Rows int
	// Select, when set, gives the rows instead of VALUES: a query with a
	// column for each of Columns. With a conflict clause it needs a WHERE
	// (WHERE 1 = 1 will do): SQLite reads ON CONFLICT after a SELECT
	// without one as the join's.
	Select string
	// Conflict is the conflict target (the columns of a unique index);
	// without one, DoNothing skips a row that conflicts on any.
	Conflict []string
	// DoNothing skips a row that conflicts.
	DoNothing bool
	// Update replaces these columns of the stored row with the proposed
	// row's (excluded.c); Set adds assignments of its own; Where limits the
	// update to rows for which it holds.
	Update []string
	Set    []string
	Where  string
	// Returning lists the columns the statement returns, for each row
	// inserted or updated (a skipped row returns none).
	Returning []string
}

// SQL is the statement in this package's SQL (statement.go).
func (i Insert) SQL() string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + i.Table + " (" + strings.Join(i.Columns, ", ") + ")")
	if i.Select != "" {
		b.WriteString(" " + i.Select)
	} else {
		b.WriteString(" VALUES " + values(1, max(i.Rows, 1), len(i.Columns)))
	}
	target := ""
	if len(i.Conflict) > 0 {
		target = " (" + strings.Join(i.Conflict, ", ") + ")"
	}
	switch {
	case len(i.Update) > 0 || len(i.Set) > 0:
		set := make([]string, 0, len(i.Update)+len(i.Set))
		for _, c := range i.Update {
			set = append(set, c+" = excluded."+c)
		}
		set = append(set, i.Set...)
		b.WriteString(" ON CONFLICT" + target + " DO UPDATE SET " + strings.Join(set, ", "))
		if i.Where != "" {
			b.WriteString(" WHERE " + i.Where)
		}
	case i.DoNothing:
		b.WriteString(" ON CONFLICT" + target + " DO NOTHING")
	}
	b.WriteString(returning(i.Returning))
	return b.String()
}

// returning is the RETURNING clause of columns ("" for none).
func returning(columns []string) string {
	if len(columns) == 0 {
		return ""
	}
	return " RETURNING " + strings.Join(columns, ", ")
}

// lease is the statement that leases a table's due pending rows (a
// worker's outbox: webhook deliveries, notifications) to an owner, up to a
// limit, oldest next_at first, and returns them. Its arguments are the
// owner ($1), the lease's end ($2), now ($3) and the limit ($4); where
// narrows the candidates further ("" for no more). The lease is a column,
// so it holds across transactions and replicas; where the dialect can, the
// candidate rows are locked with SKIP LOCKED, so two replicas claiming at
// the same moment take different rows instead of queueing on each other (a
// row whose lease was just taken is re-checked after the lock and
// dropped). The candidates are a MATERIALIZED CTE: as a plain IN
// (subquery) PostgreSQL may run the locking subquery more than once and
// lease more than limit rows.
func (d *Dialect) lease(table, where string, columns []string) string {
	if where != "" {
		where = " AND " + where
	}
	return `WITH c AS MATERIALIZED (SELECT id FROM ` + table + `
			WHERE state = 'pending' AND next_at <= $3 AND lease_until <= $3` + where + `
			ORDER BY next_at LIMIT $4` + d.SkipLocked + `)
		UPDATE ` + table + ` SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM c) AND state = 'pending' AND lease_until <= $3` + returning(columns)
}

// eventColumns are wo_events' columns, in the order Save gives them.
var eventColumns = cols("wo, version, at, data")

// updateAppending is Save's one statement where Dialect.UpdateCTE: update
// (a work order's row at the version it was read at, with RETURNING added
// here) in the WITH clause of the INSERT that appends its rows events,
// whose placeholders start at first. An update that matched no row (a
// stale version) appends nothing and affects no row.
func updateAppending(update string, first, rows int) string {
	var v strings.Builder
	for i := 0; i < rows; i++ {
		if i > 0 {
			v.WriteString(", ")
		}
		n := first + 4*i
		fmt.Fprintf(&v, "($%d::text, $%d::integer, $%d::bigint, $%d::text)", n, n+1, n+2, n+3)
	}
	return `WITH u AS (` + update + returning(cols("id")) + `)
		INSERT INTO wo_events (` + strings.Join(eventColumns, ", ") + `) SELECT v.wo, v.version, v.at, v.data FROM u,
		(VALUES ` + v.String() + `) AS v(wo, version, at, data)`
}
