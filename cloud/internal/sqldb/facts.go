package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

// factsPolicy is the SLA policy the facts' milestone clocks are computed
// with: the built-in defaults, compiled once. A vendor's own commitments
// are not applied here; the KPIs measure against the service's default
// promises per priority, the same for every vendor.
var factsPolicy = sync.OnceValue(func() *sla.Policy {
	p := sla.DefaultPolicy()
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("sqldb: default sla policy: %v", err)) // a bug in sla.DefaultPolicy
	}
	return &p
})

// longLife is how long a work order may live (created to span end) and
// still be found by its creation time: a period [a, b) reads the others,
// marked long_lived, by span_end instead. See factsFrom. A week covers
// most corrective work; the longer-lived are a minority a period reads
// by its span index. Changing it needs every row's long_lived recomputed.
const (
	longLifeMicros = 7 * 86_400_000_000
	longLife       = "604800000000"
)

// factsFrom is the FROM clause of a query over the facts rows a period
// [a, b) can see (created before b, span ending at or after a), named f:
// two index ranges instead of all rows ending after a, which for an old
// period is nearly the whole table.
func factsFrom(a, b string) string {
	return `(SELECT * FROM wo_facts WHERE long_lived = 0 AND created_at >= ` + a + ` - ` + longLife + ` AND created_at < ` + b + ` AND span_end >= ` + a + `
		UNION ALL SELECT * FROM wo_facts WHERE long_lived = 1 AND span_end >= ` + a + ` AND created_at < ` + b + `) f`
}

// openSpan is span_end while a work order is open: it counts in every
// period from its creation on.
const openSpan = math.MaxInt64

// saveFacts keeps the work order's wo_facts row in step with what Save
// wrote, in the same transaction. Evidence updates are skipped. Rows are
// computed here and written together before the transaction commits
// (flushFacts): one statement per transaction, not per work order, on the
// intake's path. Evidence on a work order already sent to a vendor
// updates the few columns it touches at once, since its other facts need
// the history.
func (t *Tx) saveFacts(ctx context.Context, w *workorder.WorkOrder, events []workorder.Event) error {
	if !analytics.Relevant(events) {
		return nil
	}
	evidenceOnly := !analytics.NeedsHistory(events)
	if p := t.facts.rows[w.ID]; p != nil && evidenceOnly {
		analytics.EvidenceFacts(w, p)
		return nil
	}
	// A work order never sent to anyone (most end AVOIDED, or wait for
	// triage) has nothing in its history the projection lacks.
	sent := w.DispatchedAt != nil || w.Vendor != "" || len(w.Declined) > 0 || len(w.Visits) > 0 || w.Completion != nil
	if evidenceOnly && (sent || !w.Status.Open()) {
		var f analytics.Facts
		analytics.EvidenceFacts(w, &f)
		res, err := t.tx.ExecContext(ctx, `UPDATE wo_facts SET onset_at = $2, sensor_restored_at = $3,
			restored_at = COALESCE($3, completed_at), incidents = $4, cond = CASE WHEN $5 = 1 THEN 1 ELSE cond END,
			span_end = CASE WHEN span_end < $6 THEN $6 ELSE span_end END, changed_at = $7,
			long_lived = CASE WHEN is_open = 1 OR $6 - created_at > `+longLife+` THEN 1 ELSE long_lived END WHERE wo = $1`,
			w.ID, micros(f.Onset), nullMicros(f.SensorRestored), f.Incidents, boolInt(f.Condition), spanEnd(w, &f), micros(t.db.now()))
		if err != nil {
			return fmt.Errorf("facts: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		// No row yet (a work order from before the facts): write it whole.
	}
	history := events
	if events[0].Version != 1 && sent {
		var err error
		if history, err = eventsOf(ctx, t.tx, w.ID); err != nil {
			return fmt.Errorf("facts: %w", err)
		}
	}
	f := factsOf(ctx, t.tx, w, history)
	if events[0].Version != 1 && sent {
		if err := markMoves(ctx, t.tx, &f, micros(t.db.now())); err != nil {
			return err
		}
	}
	t.facts.put(&f)
	if events[0].Kind == workorder.Created && w.RecallOf != "" {
		if _, err := t.tx.ExecContext(ctx, `UPDATE wo_facts SET recalled = 1, changed_at = $2 WHERE wo = $1`, w.RecallOf, micros(t.db.now())); err != nil {
			return fmt.Errorf("facts: recall: %w", err)
		}
	}
	return nil
}

// pendingFacts are the facts rows of a transaction, by work order, in the
// order first saved.
type pendingFacts struct {
	order []string
	rows  map[string]*analytics.Facts
}

func (p *pendingFacts) put(f *analytics.Facts) {
	if p.rows == nil {
		p.rows = map[string]*analytics.Facts{}
	}
	if _, ok := p.rows[f.WorkOrder]; !ok {
		p.order = append(p.order, f.WorkOrder)
	}
	p.rows[f.WorkOrder] = f
}

// flushFacts writes the transaction's pending facts rows, a few hundred
// per statement.
func (t *Tx) flushFacts(ctx context.Context) error {
	if len(t.facts.order) == 0 {
		return nil
	}
	changed := micros(t.db.now())
	if t.db.Dialect.InProcess {
		// A statement per row costs no round trip, and one prepared
		// statement is parsed once instead of a long one each time.
		st, err := t.tx.PrepareContext(ctx, upsertFacts())
		if err != nil {
			return fmt.Errorf("facts: %w", err)
		}
		defer st.Close()
		for _, id := range t.facts.order {
			if _, err := st.ExecContext(ctx, factsArgs(t.facts.rows[id], changed)...); err != nil {
				return fmt.Errorf("facts: %w", err)
			}
		}
		t.facts = pendingFacts{}
		return nil
	}
	const chunk = 200 // 44 parameters a row: far below PostgreSQL's limit
	for lo := 0; lo < len(t.facts.order); lo += chunk {
		ids := t.facts.order[lo:min(lo+chunk, len(t.facts.order))]
		args := make([]any, 0, len(ids)*factsColumnCount)
		for _, id := range ids {
			args = append(args, factsArgs(t.facts.rows[id], changed)...)
		}
		if _, err := t.tx.ExecContext(ctx, upsertFactsN(len(ids)), args...); err != nil {
			return fmt.Errorf("facts: %w", err)
		}
	}
	t.facts = pendingFacts{}
	return nil
}

func spanEnd(w *workorder.WorkOrder, f *analytics.Facts) int64 {
	if w.Status.Open() {
		return openSpan
	}
	if f.SensorRestored != nil {
		return micros(*f.SensorRestored)
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// eventsOf reads a work order's events, oldest first.
func eventsOf(ctx context.Context, q querier, id string) ([]workorder.Event, error) {
	ev, err := jsonRows[workorder.Event](q.QueryContext(ctx, `SELECT data FROM wo_events WHERE wo = $1 ORDER BY version`, id))
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	return ev, nil
}

// siteLocation is the site's time zone for business-hours clocks (UTC
// when the site or its zone is unknown).
func siteLocation(ctx context.Context, q querier, site string) *time.Location {
	var data []byte
	if err := q.QueryRowContext(ctx, `SELECT data FROM sites WHERE id = $1`, site).Scan(&data); err != nil {
		return time.UTC
	}
	var s cloud.Site
	if json.Unmarshal(data, &s) != nil || s.Timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

const factsColumns = `wo, site, asset, asset_class, trade, vendor, technician, priority, source, problem, status, is_open,
	created_at, span_end, onset_at, cond, dispatched, accepted_at, accept_s, onsite_at, completed_at, sensor_restored_at,
	restored_at, ended_at, verified, visits, fix_visit, recall, cost, nte, overrun, documented, incidents, recall_of,
	ack_due, ack_done, arrive_due, arrive_done, complete_due, complete_done, pm_due, changed_at, long_lived`

// factsOf computes a work order's facts from its history, with the SLA
// clocks in the site's time zone.
func factsOf(ctx context.Context, q querier, w *workorder.WorkOrder, history []workorder.Event) analytics.Facts {
	loc := time.UTC
	if p := factsPolicy(); (w.DispatchedAt != nil || w.Vendor != "") && slices.Contains(p.BusinessHoursFor, w.Priority) {
		loc = siteLocation(ctx, q, w.Site) // business hours are the site's
	}
	return analytics.FactsOf(w, history, factsPolicy(), loc)
}

// writeFacts upserts a work order's facts row (all but recalled, which the
// recall's creation sets).
func writeFacts(ctx context.Context, x executor, f *analytics.Facts, changed int64) error {
	_, err := x.ExecContext(ctx, upsertFacts(), factsArgs(f, changed)...)
	if err != nil {
		return fmt.Errorf("facts of %s: %w", f.WorkOrder, err)
	}
	return nil
}

var (
	factsColumnList  = strings.Split(strings.Join(strings.Fields(factsColumns), ""), ",")
	factsColumnCount = len(factsColumnList)
	// upserts caches the statements for n rows at once.
	upserts sync.Map // int -> string
)

// upsertFactsN is the statement that writes n facts rows.
func upsertFactsN(n int) string {
	if q, ok := upserts.Load(n); ok {
		return q.(string)
	}
	q := Insert{Table: "wo_facts", Columns: factsColumnList, Rows: n, Conflict: cols("wo"), Update: factsColumnList[1:]}.SQL()
	upserts.Store(n, q)
	return q
}

func upsertFacts() string { return upsertFactsN(1) }

// factsArgs are a facts row's arguments, changed (its changed_at) last.
func factsArgs(f *analytics.Facts, changed int64) []any {
	span := int64(openSpan)
	if e := f.SpanEnd(); e != nil {
		span = micros(*e)
	}
	var accept any
	if f.Accepted != nil {
		accept = f.AcceptSeconds
	}
	return []any{f.WorkOrder, f.Site, f.Asset, f.AssetClass, f.Trade, f.Vendor, f.Technician, f.Priority, string(f.Source),
		f.Problem, string(f.Status), boolInt(f.Open),
		micros(f.Created), span, micros(f.Onset), boolInt(f.Condition), boolInt(f.Dispatched), nullMicros(f.Accepted), accept,
		nullMicros(f.OnSite), nullMicros(f.Completed), nullMicros(f.SensorRestored), nullMicros(f.Restored()), nullMicros(f.Ended),
		boolInt(f.Verified), f.Visits, boolInt(f.FixVisit), boolInt(f.Recall), f.Cost, f.NTE, boolInt(f.Overrun),
		boolInt(f.Documented), f.Incidents, f.RecallOf,
		nullMicros(f.SLA[0].Due), nullMicros(f.SLA[0].Done), nullMicros(f.SLA[1].Due), nullMicros(f.SLA[1].Done),
		nullMicros(f.SLA[2].Due), nullMicros(f.SLA[2].Done), nullMicros(f.PMDue), changed,
		boolInt(f.Open || span-micros(f.Created) > longLifeMicros)}
}

// BackfillFacts writes the facts of every work order that has none (saved
// before the facts existed), from its events, and marks the database
// done. Migrate runs it once, after the migrations; it is safe to run
// again. It returns how many work orders it filled.
func (db *DB) BackfillFacts(ctx context.Context) (int, error) {
	conn, err := db.Writer.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: backfill facts: %w", db.Dialect.Name, err)
	}
	defer conn.Close()
	return db.backfillFacts(ctx, conn, true)
}

// backfillFacts fills missing facts in transactions of a few hundred work
// orders, on conn (Migrate's, which on SQLite is the only writer). Unless
// force, a database already marked done is left alone.
func (db *DB) backfillFacts(ctx context.Context, conn *sql.Conn, force bool) (int, error) {
	var done int
	if err := db.on(conn).QueryRowContext(ctx, `SELECT done FROM wo_facts_backfill`).Scan(&done); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: backfill facts: %w", db.Dialect.Name, err)
	}
	if done == 1 && !force {
		return 0, nil
	}
	total, after := 0, ""
	for {
		n, last, err := db.backfillPage(ctx, conn, after)
		if err != nil {
			return total, fmt.Errorf("%s: backfill facts: %w", db.Dialect.Name, err)
		}
		total += n
		if last == "" {
			break
		}
		after = last
	}
	// Recalls, once every row exists: a recall may come before the work
	// order it recalls in id order.
	if _, err := db.on(conn).ExecContext(ctx, `UPDATE wo_facts SET recalled = 1 WHERE recalled = 0
		AND wo IN (SELECT recall_of FROM wo_facts WHERE recall_of <> '')`); err != nil {
		return total, fmt.Errorf("%s: backfill facts: recalls: %w", db.Dialect.Name, err)
	}
	if _, err := db.on(conn).ExecContext(ctx, `UPDATE wo_facts_backfill SET done = 1`); err != nil {
		return total, fmt.Errorf("%s: backfill facts: %w", db.Dialect.Name, err)
	}
	return total, nil
}

// backfillPage fills one page of work orders after the id after; last is
// the page's last id, "" when there are no more.
func (db *DB) backfillPage(ctx context.Context, conn *sql.Conn, after string) (n int, last string, err error) {
	const page = 500
	tx, err := db.beginOn(ctx, conn)
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	rows, err := tx.QueryContext(ctx, `SELECT w.id, w.data, f.wo FROM workorders w LEFT JOIN wo_facts f ON f.wo = w.id
		WHERE w.id > $1 ORDER BY w.id LIMIT `+strconv.Itoa(page), after)
	if err != nil {
		return 0, "", err
	}
	var todo []*workorder.WorkOrder
	seen := 0
	for rows.Next() {
		var id string
		var data []byte
		var has sql.NullString
		if err := rows.Scan(&id, &data, &has); err != nil {
			rows.Close()
			return 0, "", err
		}
		seen++
		last = id
		if has.Valid {
			continue
		}
		w := &workorder.WorkOrder{}
		if err := json.Unmarshal(data, w); err != nil {
			rows.Close()
			return 0, "", fmt.Errorf("work order %s: %w", id, err)
		}
		todo = append(todo, w)
	}
	if err := rows.Close(); err != nil {
		return 0, "", err
	}
	for _, w := range todo {
		history, err := eventsOf(ctx, tx, w.ID)
		if err != nil {
			return 0, "", err
		}
		f := factsOf(ctx, tx, w, history)
		if err := writeFacts(ctx, tx, &f, micros(db.now())); err != nil {
			return 0, "", err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, "", err
	}
	if seen < page {
		last = ""
	}
	return len(todo), last, nil
}

// SeedFacts inserts facts rows numbered from..to (inclusive) straight into
// wo_facts, built by SQL from a series, and 500 sites in 10 regions: a
// year of history for benchmarks of the KPI queries at millions of rows
// (SeedHistory's work orders have no events to compute facts from). One
// work order every 30 s from 2025-01-01; the last 3,000 are open.
func (db *DB) SeedFacts(ctx context.Context, from, to int64) error {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	const s = 1_000_000 // a second in microseconds
	txt := func(e string) string { return "CAST(" + e + " AS TEXT)" }
	open := fmt.Sprintf("n > %d", to-3000)
	status := `CASE WHEN ` + open + ` THEN (CASE n % 3 WHEN 0 THEN 'dispatched' WHEN 1 THEN 'in_progress' ELSE 'triaged' END)
		ELSE (CASE n % 10 WHEN 6 THEN 'verified' WHEN 7 THEN 'avoided' WHEN 8 THEN 'cancelled' WHEN 9 THEN 'duplicate' ELSE 'closed' END) END`
	// worked: the work was done (closed or verified, and not open)
	worked := "NOT (" + open + ") AND n % 10 NOT IN (7, 8, 9)"
	ifw := func(v string) string { return "CASE WHEN " + worked + " THEN " + v + " END" }
	created := fmt.Sprintf("(%d + n * %d)", base, 30*s)
	accepted := fmt.Sprintf("(%s + %d + (n %% 3600) * %d)", created, 1800*s, s)
	onsite := fmt.Sprintf("(%s + %d + (n %% 14400) * %d)", created, 4*3600*s, s)
	completed := fmt.Sprintf("(%s + %d)", onsite, 2*3600*s)
	ended := fmt.Sprintf("CASE WHEN %s THEN NULL WHEN %s THEN %s + %d ELSE %s + %d END", open, worked, completed, 86400*s, created, 3600*s)
	source := `CASE WHEN n % 10 = 0 THEN 'preventive' WHEN n % 4 = 0 THEN 'manual' ELSE 'sensor' END`
	exprs := []string{
		"'wo_s' || " + txt("n"), "'site-' || " + txt("n % 500"), "'a' || " + txt("n % 20"),
		`CASE n % 4 WHEN 0 THEN 'walk_in_cooler' WHEN 1 THEN 'walk_in_freezer' WHEN 2 THEN 'display_case_mt' ELSE 'rooftop_unit' END`,
		`CASE n % 5 WHEN 0 THEN 'hvac' ELSE 'refrigeration' END`,
		`CASE n % 3 WHEN 0 THEN 'coolco' WHEN 1 THEN 'frostfix' ELSE 'airco' END`, "''",
		"'P' || " + txt("n % 4 + 1"), source, "'temp_high'", status, "CASE WHEN " + open + " THEN 1 ELSE 0 END",
		created, fmt.Sprintf("COALESCE(%s, %d)", ended, int64(openSpan)), fmt.Sprintf("%s - %d", created, 600*s),
		"CASE WHEN n % 7 = 0 THEN 1 ELSE 0 END", "CASE WHEN n % 10 IN (7, 8) THEN 0 ELSE 1 END",
		ifw(accepted), ifw("1800 + n % 3600"), ifw(onsite), ifw(completed), "NULL", ifw(completed), ended,
		"CASE WHEN " + worked + " THEN 1 ELSE 0 END", "CASE WHEN " + worked + " THEN 1 + CASE WHEN n % 5 = 0 THEN 1 ELSE 0 END ELSE 0 END",
		"CASE WHEN " + worked + " AND n % 5 <> 0 THEN 1 ELSE 0 END", "CASE WHEN n % 19 = 0 THEN 1 ELSE 0 END",
		"CASE WHEN " + worked + " THEN n % 500 ELSE 0 END", "CASE WHEN n % 2 = 0 THEN 500 ELSE 0 END",
		"CASE WHEN n % 37 = 0 THEN 1 ELSE 0 END", "CASE WHEN " + worked + " AND n % 3 <> 0 THEN 1 ELSE 0 END", "1", "''",
		fmt.Sprintf("%s + %d", created, 4200*s), ifw(accepted), fmt.Sprintf("%s + %d", created, 8*3600*s), ifw(onsite),
		fmt.Sprintf("%s + %d", created, 48*3600*s), ifw(completed),
		fmt.Sprintf("CASE WHEN n %% 10 = 0 THEN %s + %d END", created, 7*86400*s),
		"0", // changed_at: before any rollup
		"CASE WHEN " + open + " THEN 1 ELSE 0 END", // long_lived
		"CASE WHEN n % 23 = 0 THEN 1 ELSE 0 END",   // recalled
	}
	q := `INSERT INTO wo_facts (` + factsColumns + `, recalled) SELECT ` + strings.Join(exprs, ", ") +
		` FROM (` + db.Dialect.Series + `) AS s`
	const chunk = 100_000
	for lo := from; lo <= to; lo += chunk {
		hi := min(lo+chunk-1, to)
		if _, err := db.write().ExecContext(ctx, q, lo, hi); err != nil {
			return fmt.Errorf("%s: seed facts: %w", db.Dialect.Name, err)
		}
	}
	for i := 0; i < 500; i++ {
		if _, err := db.write().ExecContext(ctx, Insert{Table: "sites", Columns: cols("id, region, data"), Conflict: cols("id"), DoNothing: true}.SQL(),
			fmt.Sprintf("site-%d", i), fmt.Sprintf("r%d", i%10), fmt.Sprintf(`{"id":"site-%d","region":"r%d"}`, i, i%10)); err != nil {
			return fmt.Errorf("%s: seed sites: %w", db.Dialect.Name, err)
		}
	}
	if _, err := db.write().ExecContext(ctx, `ANALYZE wo_facts`); err != nil {
		return fmt.Errorf("%s: seed facts: %w", db.Dialect.Name, err)
	}
	return nil
}

// dayColumns are the facts timestamps a KPI counts a work order on: the
// days a row contributes to in the daily rollup.
const dayColumns = `created_at, accepted_at, onsite_at, completed_at, ack_due, ack_done, arrive_due, arrive_done,
	complete_due, complete_done, pm_due`

// markMoves records the rollup days a work order's facts leave when they
// are rewritten (completed again after a reopen, clocks restarted by a
// redispatch): rebuilding the days it is on now would not take it out of
// those. Rare; one read of the old row per rewrite.
func markMoves(ctx context.Context, x executor, f *analytics.Facts, at int64) error {
	old := make([]sql.NullInt64, 11)
	targets := make([]any, len(old))
	for i := range old {
		targets[i] = &old[i]
	}
	err := x.QueryRowContext(ctx, `SELECT `+dayColumns+` FROM wo_facts WHERE wo = $1`, f.WorkOrder).Scan(targets...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("facts: moves: %w", err)
	}
	now := map[int64]bool{}
	for _, t := range []*time.Time{&f.Created, f.Accepted, f.OnSite, f.Completed, f.PMDue,
		f.SLA[0].Due, f.SLA[0].Done, f.SLA[1].Due, f.SLA[1].Done, f.SLA[2].Due, f.SLA[2].Done} {
		if t != nil {
			now[dayOf(micros(*t))] = true
		}
	}
	var moved []int64
	for _, o := range old {
		if o.Valid && !now[dayOf(o.Int64)] {
			moved = append(moved, dayOf(o.Int64))
		}
	}
	for _, d := range moved {
		moves := Insert{Table: "wo_facts_moves", Columns: cols("day, at"), Conflict: cols("day"), Update: cols("at")}
		if _, err := x.ExecContext(ctx, moves.SQL(), d, at); err != nil {
			return fmt.Errorf("facts: moves: %w", err)
		}
	}
	return nil
}

const dayMicros = 86_400_000_000

// dayOf is the start of the UTC day of a time in microseconds.
func dayOf(us int64) int64 { return us - ((us%dayMicros)+dayMicros)%dayMicros }
