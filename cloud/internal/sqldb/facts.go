package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
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

// openSpan is span_end while a work order is open: it counts in every
// period from its creation on.
const openSpan = math.MaxInt64

// executor is a transaction or a connection.
type executor interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// saveFacts keeps the work order's wo_facts row in step with what Save
// wrote, in the same transaction. Evidence updates are skipped; other
// evidence touches a few columns; anything else rewrites the row from the
// work order's whole history.
func (t *Tx) saveFacts(ctx context.Context, w *workorder.WorkOrder, events []workorder.Event) error {
	if !analytics.Relevant(events) {
		return nil
	}
	if !analytics.NeedsHistory(events) {
		var f analytics.Facts
		analytics.EvidenceFacts(w, &f)
		res, err := t.tx.ExecContext(ctx, `UPDATE wo_facts SET onset_at = $2, sensor_restored_at = $3,
			restored_at = COALESCE($3, completed_at), incidents = $4, cond = CASE WHEN $5 = 1 THEN 1 ELSE cond END,
			span_end = CASE WHEN span_end < $6 THEN $6 ELSE span_end END WHERE wo = $1`,
			w.ID, micros(f.Onset), nullMicros(f.SensorRestored), f.Incidents, boolInt(f.Condition), spanEnd(w, &f))
		if err != nil {
			return fmt.Errorf("facts: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		// No row yet (a work order from before the facts): write it whole.
	}
	history := events
	if events[0].Version != 1 {
		var err error
		if history, err = eventsOf(ctx, t.tx, w.ID); err != nil {
			return fmt.Errorf("facts: %w", err)
		}
	}
	if err := writeFacts(ctx, t.tx, w, history); err != nil {
		return err
	}
	if events[0].Kind == workorder.Created && w.RecallOf != "" {
		if _, err := t.tx.ExecContext(ctx, `UPDATE wo_facts SET recalled = 1 WHERE wo = $1`, w.RecallOf); err != nil {
			return fmt.Errorf("facts: recall: %w", err)
		}
	}
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
	rows, err := q.QueryContext(ctx, `SELECT data FROM wo_events WHERE wo = $1 ORDER BY version`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []workorder.Event
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var e workorder.Event
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("event of %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
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
	ack_due, ack_done, arrive_due, arrive_done, complete_due, complete_done, pm_due`

// writeFacts computes a work order's facts from its history and upserts
// the row (all but recalled, which the recall's creation sets).
func writeFacts(ctx context.Context, x executor, w *workorder.WorkOrder, history []workorder.Event) error {
	loc := time.UTC
	if w.DispatchedAt != nil || w.Vendor != "" {
		loc = siteLocation(ctx, x, w.Site)
	}
	f := analytics.FactsOf(w, history, factsPolicy(), loc)
	cols := strings.Split(strings.Join(strings.Fields(factsColumns), ""), ",")
	args := factsArgs(&f)
	ph := make([]string, len(cols))
	set := make([]string, 0, len(cols))
	for i, c := range cols {
		ph[i] = "$" + strconv.Itoa(i+1)
		if c != "wo" {
			set = append(set, c+" = excluded."+c)
		}
	}
	_, err := x.ExecContext(ctx, `INSERT INTO wo_facts (`+factsColumns+`) VALUES (`+strings.Join(ph, ", ")+`)
		ON CONFLICT (wo) DO UPDATE SET `+strings.Join(set, ", "), args...)
	if err != nil {
		return fmt.Errorf("facts of %s: %w", w.ID, err)
	}
	return nil
}

func factsArgs(f *analytics.Facts) []any {
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
		nullMicros(f.SLA[2].Due), nullMicros(f.SLA[2].Done), nullMicros(f.PMDue)}
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
	if err := conn.QueryRowContext(ctx, `SELECT done FROM wo_facts_backfill`).Scan(&done); err != nil && !errors.Is(err, sql.ErrNoRows) {
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
	if _, err := conn.ExecContext(ctx, `UPDATE wo_facts SET recalled = 1 WHERE recalled = 0
		AND wo IN (SELECT recall_of FROM wo_facts WHERE recall_of <> '')`); err != nil {
		return total, fmt.Errorf("%s: backfill facts: recalls: %w", db.Dialect.Name, err)
	}
	if _, err := conn.ExecContext(ctx, `UPDATE wo_facts_backfill SET done = 1`); err != nil {
		return total, fmt.Errorf("%s: backfill facts: %w", db.Dialect.Name, err)
	}
	return total, nil
}

// backfillPage fills one page of work orders after the id after; last is
// the page's last id, "" when there are no more.
func (db *DB) backfillPage(ctx context.Context, conn *sql.Conn, after string) (n int, last string, err error) {
	const page = 500
	tx, err := conn.BeginTx(ctx, nil)
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
		if err := writeFacts(ctx, tx, w, history); err != nil {
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

// kpiColumns are the aggregates of a KPI query, in the order of the Sums
// fields they fill (scanSums). $1 is the period's start, $2 its end, $3
// now, $4 the moment the backlog is taken (the end, or now if earlier).
// Every aggregate reads only wo_facts columns, so the query is one scan of
// the rows the period can see.
var kpiColumns = func() []string {
	in := func(col string) string { return col + " >= $1 AND " + col + " < $2" }
	created := "created_at >= $1"
	net := created + " AND status NOT IN ('cancelled', 'duplicate', 'avoided')"
	done := in("completed_at")
	backlog := "created_at < $4 AND (ended_at IS NULL OR ended_at >= $4)"
	count := func(cond string) string { return "COUNT(CASE WHEN " + cond + " THEN 1 END)" }
	sum := func(cond, x string) string {
		return "CAST(COALESCE(SUM(CASE WHEN " + cond + " THEN " + x + " END), 0) AS DOUBLE PRECISION)"
	}
	const day = 86_400_000_000
	age := func(lo, hi int64) string {
		c := backlog + fmt.Sprintf(" AND $4 - created_at >= %d", lo*day)
		if hi > 0 {
			c += fmt.Sprintf(" AND $4 - created_at < %d", hi*day)
		}
		return count(c)
	}
	failure := done + " AND source <> 'preventive' AND restored_at >= onset_at"
	repair := done + " AND onsite_at IS NOT NULL AND restored_at >= onsite_at"
	cols := []string{
		count(created), count(net), count(net + " AND verified = 1"), count(created + " AND status = 'avoided'"),
		sum(created, "incidents"),
		count(done), count(done + " AND visits = 1 AND fix_visit = 1 AND recalled = 0"), count(done + " AND recall = 1"),
		count(done + " AND documented = 1"), sum(done, "cost"), count(done + " AND cost > 0"),
		count(done + " AND nte > 0"), count(done + " AND nte > 0 AND overrun = 1"),
		count(repair), sum(repair, "restored_at - onsite_at"),
		count(failure), sum(failure, "restored_at - onset_at"),
		sum(failure, "restored_at - CASE WHEN onset_at > $1 THEN onset_at ELSE $1 END"),
		count(in("accepted_at") + " AND accept_s IS NOT NULL"), sum(in("accepted_at")+" AND accept_s IS NOT NULL", "accept_s"),
		count(in("onsite_at")), sum(in("onsite_at"), "onsite_at - created_at"),
		count(net + " AND source = 'preventive'"), count(net + " AND source = 'sensor' AND cond = 1"),
		count(net + " AND source <> 'preventive' AND NOT (source = 'sensor' AND cond = 1)"),
		sum(done+" AND source = 'preventive'", "cost"), sum(done+" AND source = 'sensor' AND cond = 1", "cost"),
		sum(done+" AND source <> 'preventive' AND NOT (source = 'sensor' AND cond = 1)", "cost"),
		count("source = 'preventive' AND " + in("pm_due") + " AND pm_due < $3"),
		count("source = 'preventive' AND " + in("pm_due") + " AND pm_due < $3 AND completed_at <= pm_due"),
	}
	for _, m := range []string{"ack", "arrive", "complete"} {
		due, dn := m+"_due", m+"_done"
		closed := in(dn) + " AND " + due + " IS NOT NULL"
		overdue := dn + " IS NULL AND is_open = 1 AND " + in(due) + " AND " + due + " < $3"
		cols = append(cols,
			count("("+closed+") OR ("+overdue+")"),
			count(closed+" AND "+dn+" <= "+due),
			count("("+closed+" AND "+dn+" > "+due+") OR ("+overdue+")"),
			"CAST(COALESCE(SUM(CASE WHEN "+closed+" AND "+dn+" > "+due+" THEN "+dn+" - "+due+
				" WHEN "+overdue+" THEN $3 - "+due+" END), 0) AS DOUBLE PRECISION)")
	}
	cols = append(cols, count(backlog), age(0, 2), age(2, 7), age(7, 30), age(30, 0))
	for p := 1; p <= 4; p++ {
		cols = append(cols, count(fmt.Sprintf("%s AND priority = 'P%d'", backlog, p)))
	}
	cols = append(cols,
		count("is_open = 1 AND status IN ('new', 'triaged', 'awaiting_approval', 'ready', 'reopened')"),
		count("is_open = 1 AND status IN ('dispatched', 'accepted')"),
		count("is_open = 1 AND status = 'in_progress'"),
		count("is_open = 1 AND status = 'on_hold'"),
		count("is_open = 1 AND status IN ('work_complete', 'verifying')"))
	return cols
}()

func sumsTargets(s *analytics.Sums) []any {
	t := []any{&s.Created, &s.CreatedNet, &s.CreatedVerified, &s.Avoided, new(float64),
		&s.Completed, &s.FirstFixes, &s.Recalls, &s.Documented, &s.CostSum, &s.CostNonZero, &s.WithNTE, &s.Overruns,
		&s.Repairs, &s.RepairSeconds, &s.Failures, &s.RestoreSeconds, &s.DowntimeSeconds,
		&s.Accepts, &s.AcceptSeconds, &s.OnSites, &s.OnSiteSeconds,
		&s.Preventive, &s.ConditionBased, &s.Corrective, &s.PreventiveCost, &s.ConditionBasedCost, &s.CorrectiveCost,
		&s.PMDue, &s.PMOnTime}
	for i := range s.SLA {
		t = append(t, &s.SLA[i].Applicable, &s.SLA[i].Met, &s.SLA[i].Missed, &s.SLA[i].LateSeconds)
	}
	t = append(t, &s.Backlog, &s.BacklogAge[0], &s.BacklogAge[1], &s.BacklogAge[2], &s.BacklogAge[3],
		&s.BacklogByPri[0], &s.BacklogByPri[1], &s.BacklogByPri[2], &s.BacklogByPri[3],
		&s.OpenNew, &s.OpenDispatched, &s.OpenInProgress, &s.OpenOnHold, &s.OpenVerifying)
	return t
}

// dimColumn is the SQL for a dimension over wo_facts f (and sites s).
func dimColumn(d analytics.Dimension) string {
	if d == analytics.Region {
		return "COALESCE(s.region, '')"
	}
	return "f." + string(d)
}

// KPIs answers a KPI query with one aggregate over wo_facts.
func (db *DB) KPIs(ctx context.Context, q analytics.Query) (*analytics.Report, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	at := q.To
	if q.Now.Before(at) {
		at = q.Now
	}
	rep := &analytics.Report{From: q.From, To: q.To, GroupBy: make([]string, len(q.GroupBy)), Rows: []analytics.Row{}}
	for i, d := range q.GroupBy {
		rep.GroupBy[i] = string(d)
	}
	args := []any{micros(q.From), micros(q.To), micros(q.Now), micros(at)}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"f.created_at < $2", "f.span_end >= $1"}
	join := false
	for _, d := range analytics.Dimensions {
		v, ok := q.Filter[d]
		if !ok {
			continue
		}
		if d == analytics.Region {
			where = append(where, "f.site IN (SELECT id FROM sites WHERE region = "+arg(v)+")")
		} else {
			where = append(where, "f."+string(d)+" = "+arg(v))
		}
	}
	if sc := q.Scope; !sc.All {
		if sc.Sites == nil && sc.Vendor == "" && sc.Technician == "" {
			return rep, nil
		}
		if sc.Sites != nil {
			if len(sc.Sites) == 0 {
				return rep, nil
			}
			ph := make([]string, len(sc.Sites))
			for i, s := range sc.Sites {
				ph[i] = arg(s)
			}
			where = append(where, "f.site IN ("+strings.Join(ph, ", ")+")")
		}
		if sc.Vendor != "" {
			where = append(where, "f.vendor = "+arg(sc.Vendor))
		}
		if sc.Technician != "" {
			where = append(where, "f.technician = "+arg(sc.Technician))
		}
	}
	groups := make([]string, len(q.GroupBy))
	for i, d := range q.GroupBy {
		groups[i] = dimColumn(d)
		join = join || d == analytics.Region
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for _, g := range groups {
		sb.WriteString(g + ", ")
	}
	sb.WriteString(strings.Join(kpiColumns, ",\n\t"))
	sb.WriteString("\nFROM wo_facts f")
	if join {
		sb.WriteString(" LEFT JOIN sites s ON s.id = f.site")
	}
	sb.WriteString("\nWHERE " + strings.Join(where, " AND "))
	if len(groups) > 0 {
		sb.WriteString("\nGROUP BY " + strings.Join(groups, ", "))
	}
	rows, err := db.Reader.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	period := q.To.Sub(q.From)
	asset := false
	for _, d := range q.GroupBy {
		asset = asset || d == analytics.Asset
	}
	if _, ok := q.Filter[analytics.Asset]; ok {
		asset = true
	}
	for rows.Next() {
		var s analytics.Sums
		keys := make([]string, len(groups))
		targets := make([]any, 0, len(groups)+len(kpiColumns))
		for i := range keys {
			targets = append(targets, &keys[i])
		}
		var incidents float64
		st := sumsTargets(&s)
		st[4] = &incidents
		targets = append(targets, st...)
		if err := rows.Scan(targets...); err != nil {
			return nil, fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
		}
		s.Incidents = int64(incidents)
		for _, x := range []*float64{&s.RepairSeconds, &s.RestoreSeconds, &s.DowntimeSeconds, &s.OnSiteSeconds,
			&s.SLA[0].LateSeconds, &s.SLA[1].LateSeconds, &s.SLA[2].LateSeconds} {
			*x /= 1e6 // microseconds
		}
		if s.Created == 0 && s.Completed == 0 && s.Backlog == 0 && s.Accepts == 0 && s.OnSites == 0 && s.PMDue == 0 &&
			s.SLA[0].Applicable+s.SLA[1].Applicable+s.SLA[2].Applicable == 0 && s.OpenNew+s.OpenDispatched+s.OpenInProgress+s.OpenOnHold+s.OpenVerifying == 0 {
			continue // a group with nothing in the period (its rows only overlapped it)
		}
		row := analytics.Row{Group: map[string]string{}, Sums: s}
		for i, d := range q.GroupBy {
			row.Group[string(d)] = keys[i]
		}
		row.Values = analytics.Finish(s, period, asset)
		rep.Rows = append(rep.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
	}
	sort.SliceStable(rep.Rows, func(i, j int) bool {
		for _, d := range rep.GroupBy {
			if a, b := rep.Rows[i].Group[d], rep.Rows[j].Group[d]; a != b {
				return a < b
			}
		}
		return false
	})
	return rep, nil
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
	cols := []string{
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
		"CASE WHEN n % 23 = 0 THEN 1 ELSE 0 END", // recalled
	}
	q := `INSERT INTO wo_facts (` + factsColumns + `, recalled) SELECT ` + strings.Join(cols, ", ") +
		` FROM (` + db.Dialect.Series + `) AS s`
	const chunk = 100_000
	for lo := from; lo <= to; lo += chunk {
		hi := min(lo+chunk-1, to)
		if _, err := db.Writer.ExecContext(ctx, q, lo, hi); err != nil {
			return fmt.Errorf("%s: seed facts: %w", db.Dialect.Name, err)
		}
	}
	for i := 0; i < 500; i++ {
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO sites (id, region, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			fmt.Sprintf("site-%d", i), fmt.Sprintf("r%d", i%10), fmt.Sprintf(`{"id":"site-%d","region":"r%d"}`, i, i%10)); err != nil {
			return fmt.Errorf("%s: seed sites: %w", db.Dialect.Name, err)
		}
	}
	if _, err := db.Writer.ExecContext(ctx, `ANALYZE wo_facts`); err != nil {
		return fmt.Errorf("%s: seed facts: %w", db.Dialect.Name, err)
	}
	return nil
}
