// Package sqldb is the SQL both of Frostline's stores speak. cloud/sqlite
// and cloud/postgres differ in driver, schema types, migrations, how they
// number work orders and how they serialise writers; the queries, the
// transaction shape and the optimistic locking are the same, so they live
// here once rather than twice, in one SQL form: $n placeholders, upserts
// as Inserts, RETURNING (statement.go says which, and where a backend that
// speaks otherwise hooks in: Dialect.Rebind).
//
// Times are stored as Unix microseconds (BIGINT) in both, and each work
// order's projection as a JSON document beside the columns that are
// filtered or indexed.
package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// Dialect is what differs between the databases.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files applied in order.
	Migrations fs.FS
	// NextNumber is a query returning the next work-order number.
	NextNumber string
	// Lock and Unlock serialise migrations across replicas; may be empty.
	Lock, Unlock string
	// UpdateCTE: the database runs an UPDATE inside a WITH clause of an
	// INSERT, so saving a work order is one statement (PostgreSQL).
	UpdateCTE bool
	// SkipLocked is appended to the relay's SELECT so replicas take
	// different outbox rows (PostgreSQL); empty where there is one writer.
	SkipLocked string
	// InProcess: the database runs in this process (SQLite), where a
	// statement costs no round trip, so many rows are written with one
	// prepared statement run per row rather than one long statement
	// built for them all.
	InProcess bool
	// SetNumber moves the work-order number past $1 (after seeding).
	SetNumber string
	// Series is a query of one column n running from $1 to $2, used to
	// seed benchmark data inside the database.
	Series string
	// Retryable reports whether a transaction failed only because of a
	// concurrent writer, and may simply be run again.
	Retryable func(error) bool
	// Rebind rewrites a statement from this package's form ($1, $2, ...
	// placeholders; statement.go) into the database's, on its way to the
	// database. Nil for PostgreSQL and SQLite, which run it as written; a
	// backend with ? placeholders would number them here. Migrations are
	// the dialect's own SQL and are not rebound.
	Rebind func(query string) string
}

// DB is a store on a database/sql pool. Writer takes the write
// transactions; Reader serves the reads (the same pool for PostgreSQL; for
// SQLite a separate pool, as SQLite has one writer at a time).
type DB struct {
	Writer, Reader *sql.DB
	Dialect        Dialect
	// Projectors are run by every Save, in order (projector.go):
	// Projections() unless a program composes its own.
	Projectors []Projector
	// Now is the store's clock: the time it stamps rows with (a claimed
	// key, an order row, a fact's changed_at, a rollup's built_at), routes
	// webhooks at and plans notifications no later than. nil: time.Now.
	// Set it before the store is used (cloud/app's build, a test's fake
	// clock).
	Now func() time.Time
}

// now reads the store's clock.
func (db *DB) now() time.Time {
	if db.Now != nil {
		return db.Now()
	}
	return time.Now()
}

// Migrate applies the dialect's migrations that have not been applied.
func (db *DB) Migrate(ctx context.Context) error {
	conn, err := db.Writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", db.Dialect.Name, err)
	}
	defer conn.Close()
	c := db.on(conn)
	if db.Dialect.Lock != "" {
		if _, err := conn.ExecContext(ctx, db.Dialect.Lock); err != nil {
			return fmt.Errorf("%s: migrate lock: %w", db.Dialect.Name, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), db.Dialect.Unlock) //nolint:errcheck // released with the session anyway
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("%s: migrate: %w", db.Dialect.Name, err)
	}
	names, err := fs.Glob(db.Dialect.Migrations, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("%s: migration %s: name must start with a number", db.Dialect.Name, name)
		}
		var n int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil {
			return fmt.Errorf("%s: migrate: %w", db.Dialect.Name, err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(db.Dialect.Migrations, name)
		if err != nil {
			return err
		}
		tx, err := db.beginOn(ctx, conn)
		if err != nil {
			return err
		}
		for _, stmt := range strings.Split(string(body), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.tx.ExecContext(ctx, stmt); err != nil { // the dialect's own SQL, not rebound
				tx.Rollback()
				return fmt.Errorf("%s: migration %s: %w", db.Dialect.Name, name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: migration %s: %w", db.Dialect.Name, name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: migration %s: %w", db.Dialect.Name, name, err)
		}
	}
	// Facts for work orders saved before wo_facts existed (facts.go).
	_, err = db.backfillFacts(ctx, conn, false)
	return err
}

// Update runs fn in one write transaction and commits it if fn returns
// nil. A transaction that lost a race with another writer (a stale version,
// a serialisation failure, a second open work order for one problem) is
// run again, a few times, so callers see such races only when they persist.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = db.update(ctx, fn); err == nil || !db.retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 2 * time.Millisecond)
	}
	return Conflict(err)
}

func (db *DB) retryable(err error) bool {
	var stale *staleError
	return errors.As(err, &stale) || (db.Dialect.Retryable != nil && db.Dialect.Retryable(err))
}

// staleError is a lost optimistic lock inside Update; outside it becomes
// an ECONFLICT *cloud.Error.
type staleError struct{ id string }

func (e *staleError) Error() string { return "work order " + e.id + " changed meanwhile" }

func (db *DB) update(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", db.Dialect.Name, err)
	}
	tx := &Tx{tx: sqlTx, db: db}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := tx.flushOrder(ctx); err != nil { // incidents' order rows, one statement per transaction (order.go)
		sqlTx.Rollback()
		return err
	}
	for _, p := range db.Projectors {
		if err := p.Flush(ctx, tx); err != nil {
			sqlTx.Rollback()
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", db.Dialect.Name, err)
	}
	return nil
}

// Tx is one write transaction. It implements store.Tx.
type Tx struct {
	tx sqlTx
	db *DB
	// After Prefetch: the work order of each of a batch's incidents (""
	// for none yet) and those work orders as last saved in this
	// transaction. Both die with the transaction.
	byIncident map[string]string
	wos        map[string]*workorder.WorkOrder
	tombs      map[string]bool
	// webhooks: the active webhooks, loaded on the first notice (webhooks.go).
	webhooks *webhookRoutes
	// facts: KPI facts rows to write before commit (facts.go).
	facts pendingFacts
	// order: the incidents' order rows this transaction locked (order.go).
	order map[string]*order
}

// Tombstone implements workorder.Tx: a link to no work order.
func (t *Tx) Tombstone(ctx context.Context, incident string) error {
	tomb := Insert{Table: "wo_incidents", Columns: cols("incident, wo"), Conflict: cols("incident"), DoNothing: true}
	if _, err := t.tx.ExecContext(ctx, tomb.SQL(), incident, ""); err != nil {
		return fmt.Errorf("tombstone: %w", err)
	}
	if t.byIncident != nil {
		t.byIncident[incident], t.tombs[incident] = "", true
	}
	return nil
}

// Tombstoned implements workorder.Tx.
func (t *Tx) Tombstoned(ctx context.Context, incident string) (bool, error) {
	if _, ok := t.byIncident[incident]; ok {
		return t.tombs[incident], nil
	}
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM wo_incidents WHERE incident = $1 AND wo = ''`, incident).Scan(&n)
	return n > 0, err
}

// Prefetch loads the work orders of a batch's incidents in one query, so
// that ByIncident answers from memory for the rest of the transaction.
func (t *Tx) Prefetch(ctx context.Context, incidents []string) error {
	if t.byIncident == nil {
		t.byIncident, t.wos, t.tombs = map[string]string{}, map[string]*workorder.WorkOrder{}, map[string]bool{}
	}
	const chunk = 500
	for lo := 0; lo < len(incidents); lo += chunk {
		part := incidents[lo:min(lo+chunk, len(incidents))]
		var args params
		in := list(&args, part)
		for _, inc := range part {
			t.byIncident[inc] = ""
		}
		rows, err := t.tx.QueryContext(ctx, `SELECT i.incident, w.data FROM wo_incidents i LEFT JOIN workorders w ON w.id = i.wo
			WHERE i.incident IN (`+in+`)`, args...)
		if err != nil {
			return fmt.Errorf("prefetch: %w", err)
		}
		for rows.Next() {
			var inc string
			var data []byte
			if err := rows.Scan(&inc, &data); err != nil {
				rows.Close()
				return err
			}
			if data == nil { // a tombstone: cleared before any work order
				t.tombs[inc] = true
				continue
			}
			w := &workorder.WorkOrder{}
			if err := json.Unmarshal(data, w); err != nil {
				rows.Close()
				return err
			}
			if cached, ok := t.wos[w.ID]; ok {
				w = cached // one object per work order
			}
			t.byIncident[inc], t.wos[w.ID] = w.ID, w
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// The store contract (cloud/store), checked here: a method missing from
// DB or Tx is a compile error, not a feature lost at run time.
var (
	_ store.Tx    = (*Tx)(nil)
	_ store.Store = (*DB)(nil)
)

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// Claim implements workorder.Tx.
func (t *Tx) Claim(ctx context.Context, key string) (bool, error) {
	claim := Insert{Table: "processed", Columns: cols("key, at"), Conflict: cols("key"), DoNothing: true}
	res, err := t.tx.ExecContext(ctx, claim.SQL(), key, micros(t.db.now()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// WorkOrder implements workorder.Tx.
func (t *Tx) WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error) {
	return one(t.tx.QueryRowContext(ctx, `SELECT data FROM workorders WHERE id = $1`, id))
}

// ByIncident implements workorder.Tx.
func (t *Tx) ByIncident(ctx context.Context, incident string) (*workorder.WorkOrder, error) {
	if id, ok := t.byIncident[incident]; ok {
		if id == "" {
			return nil, nil
		}
		return t.wos[id], nil
	}
	return one(t.tx.QueryRowContext(ctx, `SELECT w.data FROM wo_incidents i JOIN workorders w ON w.id = i.wo WHERE i.incident = $1`, incident))
}

// OpenFor implements workorder.Tx.
func (t *Tx) OpenFor(ctx context.Context, site, asset, family string) (*workorder.WorkOrder, error) {
	return one(t.tx.QueryRowContext(ctx, `SELECT data FROM workorders WHERE site = $1 AND asset = $2 AND family = $3 AND is_open = 1`, site, asset, family))
}

// LastVerified implements workorder.Tx.
func (t *Tx) LastVerified(ctx context.Context, site, asset, family string, since time.Time) (*workorder.WorkOrder, error) {
	return one(t.tx.QueryRowContext(ctx, `SELECT data FROM workorders WHERE site = $1 AND asset = $2 AND family = $3 AND verified_at >= $4 ORDER BY verified_at DESC LIMIT 1`,
		site, asset, family, micros(since)))
}

// Asset implements workorder.Tx.
func (t *Tx) Asset(ctx context.Context, site, asset string) (*cloud.Asset, error) {
	return getAsset(ctx, t.tx, site, asset)
}

// NextNumber implements workorder.Tx.
func (t *Tx) NextNumber(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, t.db.Dialect.NextNumber).Scan(&n)
	return n, err
}

// Save implements workorder.Tx: it appends the events, writes the work
// order's row and links its incidents, refusing if another writer moved
// the work order's version; then the store's Projectors project the
// change, in the same transaction.
func (t *Tx) Save(ctx context.Context, w *workorder.WorkOrder, events []workorder.Event) error {
	if len(events) == 0 {
		return nil
	}
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	open := 0
	if w.Status.Open() {
		open = 1
	}
	// The hold_until column holds the work order's next timer (hold-off
	// end or dispatch lapse), which the sweeper lists by.
	holdUntil := w.Timer()
	args := []any{w.ID, w.Number, w.Site, w.Asset, w.Family, w.Problem, string(w.Source), w.Trade, w.Priority,
		string(w.Status), w.Vendor, w.Technician, open, nullMicros(holdUntil), nullMicros(w.VerifiedAt),
		micros(w.CreatedAt), micros(w.UpdatedAt), w.Version, string(data)}
	// Events are appended in one statement; on PostgreSQL the update of
	// an existing work order rides in the same statement as a CTE: round
	// trips are what intake throughput is made of.
	eargs := make([]any, 0, 4*len(events))
	for i := range events {
		e := &events[i]
		ed, err := json.Marshal(e)
		if err != nil {
			return err
		}
		eargs = append(eargs, w.ID, e.Version, micros(e.At), string(ed))
	}
	const update = `UPDATE workorders SET number = $2, site = $3, asset = $4, family = $5, problem = $6,
			source = $7, trade = $8, priority = $9, status = $10, vendor = $11, technician = $12, is_open = $13,
			hold_until = $14, verified_at = $15, created_at = $16, updated_at = $17, version = $18, data = $19
			WHERE id = $1 AND version = $20`
	prev := events[0].Version - 1
	switch {
	case prev > 0 && t.db.Dialect.UpdateCTE:
		res, err := t.tx.ExecContext(ctx, updateAppending(update, 21, len(events)), append(append(args, prev), eargs...)...)
		if err != nil {
			return fmt.Errorf("update work order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &staleError{id: w.ID}
		}
	default:
		if prev == 0 {
			insert := Insert{Table: "workorders", Columns: cols(`id, number, site, asset, family, problem, source, trade, priority,
				status, vendor, technician, is_open, hold_until, verified_at, created_at, updated_at, version, data`)}
			_, err = t.tx.ExecContext(ctx, insert.SQL(), args...)
			if err != nil {
				return fmt.Errorf("insert work order: %w", err)
			}
		} else {
			res, err := t.tx.ExecContext(ctx, update, append(args, prev)...)
			if err != nil {
				return fmt.Errorf("update work order: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return &staleError{id: w.ID}
			}
		}
		if _, err := t.tx.ExecContext(ctx, Insert{Table: "wo_events", Columns: eventColumns, Rows: len(events)}.SQL(), eargs...); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	if t.byIncident != nil {
		t.wos[w.ID] = w
	}
	if linked := w.Linked(); len(linked) > 0 {
		for _, inc := range linked {
			if _, ok := t.byIncident[inc]; ok {
				t.byIncident[inc] = w.ID
			}
		}
		link := Insert{Table: "wo_incidents", Columns: cols("incident, wo"), Rows: len(linked), Conflict: cols("incident"), DoNothing: true}
		largs := make([]any, 0, 2*len(linked))
		for _, inc := range linked {
			largs = append(largs, inc, w.ID)
		}
		res, err := t.tx.ExecContext(ctx, link.SQL(), largs...)
		if err != nil {
			return fmt.Errorf("link incidents: %w", err)
		}
		// An incident linked meanwhile by another transaction (another
		// replica read before it committed): run again on fresh reads, so
		// an incident is only ever on one work order.
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != int64(len(linked)) {
			return &staleError{id: w.ID}
		}
	}
	// What the rest of the service reads of the change (projector.go).
	for _, p := range t.db.Projectors {
		if err := p.Project(ctx, t, w, events); err != nil {
			return err
		}
	}
	return nil
}

func one(row *sql.Row) (*workorder.WorkOrder, error) {
	var data []byte
	if err := row.Scan(&data); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	w := &workorder.WorkOrder{}
	return w, json.Unmarshal(data, w)
}

// Conflict turns a lost optimistic lock into the API's ECONFLICT.
func Conflict(err error) error {
	if err == nil {
		return nil
	}
	var stale *staleError
	if errors.As(err, &stale) {
		return fmt.Errorf("%w (%v)", &cloud.Error{Code: cloud.ECONFLICT, Message: "the work order changed meanwhile; reload and try again"}, err)
	}
	return err
}

// WorkOrder returns a work order by id, or an ENOTFOUND error.
func (db *DB) WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error) {
	w, err := one(db.read().QueryRowContext(ctx, `SELECT data FROM workorders WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("%s: work order: %w", db.Dialect.Name, err)
	}
	if w == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
	}
	return w, nil
}

// Events returns a work order's events, oldest first.
func (db *DB) Events(ctx context.Context, id string) ([]workorder.Event, error) {
	ev, err := eventsOf(ctx, db.read(), id)
	if err != nil {
		return nil, fmt.Errorf("%s: events: %w", db.Dialect.Name, err)
	}
	return ev, nil
}

// WorkOrders lists work orders, newest first, one page at a time.
func (db *DB) WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error) {
	var where []string
	var args params
	arg := args.add
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	eq("site", f.Site)
	eq("asset", f.Asset)
	eq("status", f.Status)
	eq("source", f.Source)
	eq("priority", f.Priority)
	eq("trade", f.Trade)
	eq("vendor", f.Vendor)
	eq("family", f.Family)
	if f.Open {
		where = append(where, "is_open = 1")
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < "+arg(micros(f.To)))
	}
	if f.Before > 0 {
		where = append(where, "number < "+arg(f.Before))
	}
	if !f.Scope.All {
		if f.Scope.Sites != nil {
			if len(f.Scope.Sites) == 0 {
				return nil, nil
			}
			where = append(where, "site IN ("+list(&args, f.Scope.Sites)+")")
		}
		if f.Scope.Vendor != "" {
			eq("vendor", f.Scope.Vendor)
		}
		if f.Scope.Technician != "" {
			eq("technician", f.Scope.Technician)
		}
		if f.Scope.Sites == nil && f.Scope.Vendor == "" && f.Scope.Technician == "" {
			return nil, nil
		}
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	q := "SELECT data FROM workorders"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY number DESC LIMIT " + strconv.Itoa(f.Limit)
	ws, err := jsonRows[*workorder.WorkOrder](db.read().QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: list work orders: %w", db.Dialect.Name, err)
	}
	return ws, nil
}

// Due returns work orders whose timer (hold-off end, dispatch lapse) ran
// out at or before now.
func (db *DB) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT id FROM workorders WHERE hold_until <= $1 ORDER BY hold_until LIMIT $2`, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("%s: due: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CountByStatus counts work orders per status, for metrics.
func (db *DB) CountByStatus(ctx context.Context) (map[string]int, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT status, count(*) FROM workorders GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("%s: count: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// Ping checks the database answers, for /readyz.
func (db *DB) Ping(ctx context.Context) error { return db.Reader.PingContext(ctx) }

// Close closes the pools.
func (db *DB) Close() error {
	err := db.Writer.Close()
	if db.Reader != db.Writer {
		err = errors.Join(err, db.Reader.Close())
	}
	return err
}

// ClaimAll records many keys as processed in one statement and returns the
// ones that were not yet: one round trip for a whole intake batch instead
// of one per message.
func (t *Tx) ClaimAll(ctx context.Context, keys []string) (map[string]bool, error) {
	fresh := make(map[string]bool, len(keys))
	now := micros(t.db.now())
	const chunk = 500 // stay far below parameter limits
	for lo := 0; lo < len(keys); lo += chunk {
		part := keys[lo:min(lo+chunk, len(keys))]
		claim := Insert{Table: "processed", Columns: cols("key, at"), Rows: len(part), Conflict: cols("key"), DoNothing: true, Returning: cols("key")}
		args := make([]any, 0, 2*len(part))
		for _, k := range part {
			args = append(args, k, now)
		}
		rows, err := t.tx.QueryContext(ctx, claim.SQL(), args...)
		if err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			fresh[k] = true
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return fresh, nil
}
