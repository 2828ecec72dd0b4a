package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud/analytics"
)

// A KPI query sums two kinds of figures. The additive ones (kpiAdd: work
// orders created, completed, accepted ... in the period; SLA milestones
// resolved in it) add up over sub-periods, so a long period is the sum of
// its days: whole days come from the daily rollup wo_facts_daily, the
// rest (the period's ragged ends, and days changed since their rollup was
// built) from wo_facts directly. The point-in-time ones (kpiPoint: the
// backlog at the period's end, open work now) always come from wo_facts,
// reading only the rows still open then.
//
// $1 is the (sub-)period's start, $2 its end, $3 now; kpiPoint's $1 is the
// moment the backlog is taken.

// kpiAdd are the additive aggregates, in the order of addTargets. The
// overdue SLA lateness depends on now, so it is kept as a count and the
// sum of due times relative to $1: lateness = n * now - (rel + n * $1).
var kpiAdd = func() []string {
	in := func(col string) string { return col + " >= $1 AND " + col + " < $2" }
	created := "created_at >= $1"
	net := created + " AND status NOT IN ('cancelled', 'duplicate', 'avoided')"
	done := in("completed_at")
	count := func(cond string) string { return "COUNT(CASE WHEN " + cond + " THEN 1 END)" }
	sum := func(cond, x string) string {
		return "CAST(COALESCE(SUM(CASE WHEN " + cond + " THEN " + x + " END), 0) AS DOUBLE PRECISION)"
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
		// Downtime is clipped at the period's start, so it does not add
		// up over days: only asset rows use it, and they never come
		// from the rollup.
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
			sum(closed+" AND "+dn+" > "+due, dn+" - "+due),
			count(overdue),
			sum(overdue, due+" - $1"))
	}
	return cols
}()

// Positions in kpiAdd that need more than adding up.
const (
	addIncidents = 4
	addDowntime  = 17
	addSLA       = 30 // 6 per milestone: applicable, met, missed, closed lateness, overdue n, overdue rel
)

// kpiPoint are the point-in-time aggregates at $1 (the backlog's moment).
var kpiPoint = func() []string {
	backlog := "created_at < $1 AND (ended_at IS NULL OR ended_at >= $1)"
	count := func(cond string) string { return "COUNT(CASE WHEN " + cond + " THEN 1 END)" }
	const day = 86_400_000_000
	age := func(lo, hi int64) string {
		c := backlog + fmt.Sprintf(" AND $1 - created_at >= %d", lo*day)
		if hi > 0 {
			c += fmt.Sprintf(" AND $1 - created_at < %d", hi*day)
		}
		return count(c)
	}
	cols := []string{count(backlog), age(0, 2), age(2, 7), age(7, 30), age(30, 0)}
	for p := 1; p <= 4; p++ {
		cols = append(cols, count(fmt.Sprintf("%s AND priority = 'P%d'", backlog, p)))
	}
	return append(cols,
		count("is_open = 1 AND status IN ('new', 'triaged', 'awaiting_approval', 'ready', 'reopened')"),
		count("is_open = 1 AND status IN ('dispatched', 'accepted')"),
		count("is_open = 1 AND status = 'in_progress'"),
		count("is_open = 1 AND status = 'on_hold'"),
		count("is_open = 1 AND status IN ('work_complete', 'verifying')"))
}()

// addVec is one group's additive sums, as kpiAdd lists them, with the
// overdue relative due sums made absolute (microseconds).
type addVec [48]float64

func (v *addVec) add(o *addVec) {
	for i := range v {
		v[i] += o[i]
	}
}

// sums turns the vectors into analytics.Sums; now is in microseconds.
func toSums(a *addVec, p *[14]int64, now int64) analytics.Sums {
	n := func(i int) int64 { return int64(a[i]) }
	s := analytics.Sums{
		Created: n(0), CreatedNet: n(1), CreatedVerified: n(2), Avoided: n(3), Incidents: n(addIncidents),
		Completed: n(5), FirstFixes: n(6), Recalls: n(7), Documented: n(8), CostSum: a[9], CostNonZero: n(10),
		WithNTE: n(11), Overruns: n(12),
		Repairs: n(13), RepairSeconds: a[14] / 1e6, Failures: n(15), RestoreSeconds: a[16] / 1e6, DowntimeSeconds: a[addDowntime] / 1e6,
		Accepts: n(18), AcceptSeconds: a[19], OnSites: n(20), OnSiteSeconds: a[21] / 1e6,
		Preventive: n(22), ConditionBased: n(23), Corrective: n(24),
		PreventiveCost: a[25], ConditionBasedCost: a[26], CorrectiveCost: a[27],
		PMDue: n(28), PMOnTime: n(29),
	}
	for m := range s.SLA {
		b := addSLA + 6*m
		overdue := a[b+4]*float64(now) - a[b+5]
		s.SLA[m] = analytics.SLASums{Applicable: n(b), Met: n(b + 1), Missed: n(b + 2), LateSeconds: (a[b+3] + overdue) / 1e6}
	}
	if p != nil {
		s.Backlog = p[0]
		copy(s.BacklogAge[:], p[1:5])
		copy(s.BacklogByPri[:], p[5:9])
		s.OpenNew, s.OpenDispatched, s.OpenInProgress, s.OpenOnHold, s.OpenVerifying = p[9], p[10], p[11], p[12], p[13]
	}
	return s
}

// The daily rollup keeps two kinds of rows: by the work's dimensions
// (rollupDims, site ”), and by site (and so region). A query slicing by
// dimensions of one kind, scoped to all, to one vendor (first kind) or to
// sites (second kind) reads whole days from it; one mixing them, slicing
// by asset, or scoped to a technician reads the facts alone.
var (
	rollupDims     = []analytics.Dimension{analytics.Region, analytics.AssetClass, analytics.Trade, analytics.Vendor, analytics.Priority, analytics.Source}
	rollupSiteDims = []analytics.Dimension{analytics.Site, analytics.Region}
)

// rollupKind is which rows of the rollup answer a query: byDims, bySite,
// or none.
type rollupKind int

const (
	noRollup rollupKind = iota
	byDims
	bySite
)

// RollupGrace is how long after a facts row was written its change may
// still be missing from a rollup built meanwhile (the writing transaction
// had not committed): rows changed within it of a build count as changed
// after it.
const RollupGrace = 5 * time.Minute

// RollupBuildPerQuery bounds the days a query rebuilds before answering;
// other stale days it reads from the facts.
const RollupBuildPerQuery = 8

// filterSQL builds the WHERE terms of a query's filters and scope over
// wo_facts f, numbering arguments after args. ok is false when the scope
// sees nothing.
func filterSQL(q *analytics.Query, args *[]any) (where []string, ok bool) {
	arg := (*params)(args).add
	for _, d := range analytics.Dimensions {
		v, has := q.Filter[d]
		if !has {
			continue
		}
		if d == analytics.Region {
			// site || '': not through the site index (a region has many
			// sites; the period's index reads far fewer rows).
			where = append(where, "f.site || '' IN (SELECT id FROM sites WHERE region = "+arg(v)+")")
		} else {
			where = append(where, "f."+string(d)+" = "+arg(v))
		}
	}
	if sc := q.Scope; !sc.All {
		if sc.Sites == nil && sc.Vendor == "" && sc.Technician == "" {
			return nil, false
		}
		if sc.Sites != nil {
			if len(sc.Sites) == 0 {
				return nil, false
			}
			ph := make([]string, len(sc.Sites))
			for i, s := range sc.Sites {
				ph[i] = arg(s)
			}
			col := "f.site"
			if len(sc.Sites) > 5 {
				col = "f.site || ''" // a region's sites: read by period, as above
			}
			where = append(where, col+" IN ("+strings.Join(ph, ", ")+")")
		}
		if sc.Vendor != "" {
			where = append(where, "f.vendor = "+arg(sc.Vendor))
		}
		if sc.Technician != "" {
			where = append(where, "f.technician = "+arg(sc.Technician))
		}
	}
	return where, true
}

// groupSQL is the SELECT/GROUP BY expressions of the query's groups over
// wo_facts f (and sites s), and whether sites must be joined. An
// expression, not the bare column: SQLite would otherwise walk the (site,
// created_at) or (vendor, created_at) index to group in order, reading
// every row ever instead of the period's.
func groupSQL(q *analytics.Query) (groups []string, join bool) {
	for _, d := range q.GroupBy {
		if d == analytics.Region {
			groups, join = append(groups, "COALESCE(s.region, '') || ''"), true
		} else {
			groups = append(groups, "f."+string(d)+" || ''")
		}
	}
	return groups, join
}

// result gathers rows by group key.
type result struct {
	keys map[string][]string
	add  map[string]*addVec
	pt   map[string]*[14]int64
	inv  map[string]*[5]float64 // invoiceCols
	rat  map[string]*[3]float64 // ratingCols
}

func newResult() *result {
	return &result{keys: map[string][]string{}, add: map[string]*addVec{}, pt: map[string]*[14]int64{}}
}

func (r *result) addRow(key []string, v *addVec) {
	k := strings.Join(key, "\x00")
	if cur, ok := r.add[k]; ok {
		cur.add(v)
		return
	}
	r.keys[k], r.add[k] = key, v
}

// factsAdd sums kpiAdd over wo_facts for [from, to) into r.
func (db *DB) factsAdd(ctx context.Context, q *analytics.Query, from, to, now int64, r *result) error {
	args := []any{from, to, now}
	where, ok := filterSQL(q, &args)
	if !ok {
		return nil
	}
	groups, join := groupSQL(q)
	query := selectSQL(groups, kpiAdd, factsFrom("$1", "$2"), join, where)
	return db.scan(ctx, query, args, len(groups), func(key []string, vals []float64) {
		var v addVec
		copy(v[:], vals)
		for m := 0; m < 3; m++ { // overdue due times relative to from: make them absolute
			b := addSLA + 6*m
			v[b+5] += v[b+4] * float64(from)
		}
		r.addRow(key, &v)
	})
}

// factsPoint takes the backlog at `at` and the open work now into r.
func (db *DB) factsPoint(ctx context.Context, q *analytics.Query, at int64, r *result) error {
	args := []any{at}
	where, ok := filterSQL(q, &args)
	if !ok {
		return nil
	}
	// Rows open now have span_end at its maximum; the backlog at `at`
	// ended at or after it. The open_* counts are of the rows created
	// before `at` too.
	groups, join := groupSQL(q)
	return db.scan(ctx, selectSQL(groups, kpiPoint, factsFrom("$1", "$1"), join, where), args, len(groups), func(key []string, vals []float64) {
		k := strings.Join(key, "\x00")
		var p [14]int64
		for i := range p {
			p[i] = int64(vals[i])
		}
		if _, ok := r.keys[k]; !ok {
			r.keys[k], r.add[k] = key, &addVec{}
		}
		r.pt[k] = &p
	})
}

func selectSQL(groups, cols []string, from string, join bool, where []string) string {
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for _, g := range groups {
		sb.WriteString(g + ", ")
	}
	sb.WriteString(strings.Join(cols, ",\n\t"))
	sb.WriteString("\nFROM " + from)
	if join {
		sb.WriteString(" LEFT JOIN sites s ON s.id = f.site")
	}
	if len(where) > 0 {
		sb.WriteString("\nWHERE " + strings.Join(where, " AND "))
	}
	if len(groups) > 0 {
		sb.WriteString("\nGROUP BY " + strings.Join(groups, ", "))
	}
	return sb.String()
}

// scan runs a grouped aggregate and hands each row's group key and values
// to fn.
func (db *DB) scan(ctx context.Context, query string, args []any, ngroups int, fn func(key []string, vals []float64)) error {
	rows, err := db.read().QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		key := make([]string, ngroups)
		vals := make([]float64, len(cols)-ngroups)
		targets := make([]any, len(cols))
		for i := range key {
			targets[i] = &key[i]
		}
		for i := range vals {
			targets[ngroups+i] = &vals[i]
		}
		if err := rows.Scan(targets...); err != nil {
			return fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
		}
		fn(key, vals)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: kpis: %w", db.Dialect.Name, err)
	}
	return nil
}

// rollupFor says which rollup rows can answer the query.
func rollupFor(q *analytics.Query) rollupKind {
	within := func(dims []analytics.Dimension) bool {
		for _, d := range q.GroupBy {
			if !slices.Contains(dims, d) {
				return false
			}
		}
		for d := range q.Filter {
			if !slices.Contains(dims, d) {
				return false
			}
		}
		return true
	}
	sc := q.Scope
	switch {
	case sc.Technician != "":
		return noRollup
	case within(rollupDims) && (sc.All || (sc.Sites == nil && sc.Vendor != "")):
		return byDims
	case within(rollupSiteDims) && (sc.All || (sc.Sites != nil && sc.Vendor == "")):
		return bySite
	}
	return noRollup
}

// KPIs answers a KPI query: whole days that have a fresh rollup from it,
// everything else from the facts.
func (db *DB) KPIs(ctx context.Context, q analytics.Query) (*analytics.Report, error) {
	return db.kpis(ctx, q, true)
}

// KPIsFromFacts answers a KPI query from the facts alone, never the
// rollup: the reference the rollup is tested against.
func (db *DB) KPIsFromFacts(ctx context.Context, q analytics.Query) (*analytics.Report, error) {
	return db.kpis(ctx, q, false)
}

func (db *DB) kpis(ctx context.Context, q analytics.Query, rollup bool) (*analytics.Report, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Now.IsZero() {
		q.Now = db.now()
	}
	from, to, now := micros(q.From), micros(q.To), micros(q.Now)
	at := min(to, now)
	r := newResult()
	// Whole days of the period, ended before now less the grace.
	first, last := dayOf(from+dayMicros-1), dayOf(min(to, now-int64(RollupGrace/time.Microsecond)))
	if kind := rollupFor(&q); rollup && kind != noRollup && first < last {
		clean, err := db.cleanDays(ctx, first, last, q.Now)
		if err != nil {
			return nil, err
		}
		if err := db.rollupAdd(ctx, &q, kind, clean, r); err != nil {
			return nil, err
		}
		// The rest from the facts: the ends and the days not clean.
		cur := from
		for _, span := range clean {
			if cur < span[0] {
				if err := db.factsAdd(ctx, &q, cur, span[0], now, r); err != nil {
					return nil, err
				}
			}
			cur = span[1]
		}
		if cur < to {
			if err := db.factsAdd(ctx, &q, cur, to, now, r); err != nil {
				return nil, err
			}
		}
	} else if err := db.factsAdd(ctx, &q, from, to, now, r); err != nil {
		return nil, err
	}
	if err := db.invoiceAdd(ctx, &q, from, to, r); err != nil {
		return nil, err
	}
	if err := db.ratingAdd(ctx, &q, from, to, r); err != nil {
		return nil, err
	}
	if err := db.factsPoint(ctx, &q, at, r); err != nil {
		return nil, err
	}
	return report(&q, r, now), nil
}

func report(q *analytics.Query, r *result, now int64) *analytics.Report {
	rep := &analytics.Report{From: q.From, To: q.To, GroupBy: make([]string, len(q.GroupBy)), Rows: []analytics.Row{}}
	for i, d := range q.GroupBy {
		rep.GroupBy[i] = string(d)
	}
	asset := slices.Contains(q.GroupBy, analytics.Asset)
	if _, ok := q.Filter[analytics.Asset]; ok {
		asset = true
	}
	period := q.To.Sub(q.From)
	for k, key := range r.keys {
		s := toSums(r.add[k], r.pt[k], now)
		if v := r.inv[k]; v != nil {
			s.Invoices, s.InvoicesDisputed, s.InvoicesApproved, s.InvoiceCycles = int64(v[0]), int64(v[1]), int64(v[2]), int64(v[3])
			s.InvoiceCycleSeconds = v[4] / 1e6
		}
		if v := r.rat[k]; v != nil {
			s.Ratings, s.RatingsFixed, s.RatingScores = int64(v[0]), int64(v[1]), v[2]
		}
		if s.Created == 0 && s.Invoices == 0 && s.InvoicesApproved == 0 && s.Ratings == 0 && s.Completed == 0 && s.Backlog == 0 && s.Accepts == 0 && s.OnSites == 0 && s.PMDue == 0 &&
			s.SLA[0].Applicable+s.SLA[1].Applicable+s.SLA[2].Applicable == 0 &&
			s.OpenNew+s.OpenDispatched+s.OpenInProgress+s.OpenOnHold+s.OpenVerifying == 0 {
			continue // a group with nothing in the period (its rows only overlapped it)
		}
		row := analytics.Row{Group: map[string]string{}, Sums: s, Values: analytics.Finish(s, period, asset)}
		for i, d := range q.GroupBy {
			row.Group[string(d)] = key[i]
		}
		rep.Rows = append(rep.Rows, row)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		for _, d := range rep.GroupBy {
			if a, b := rep.Rows[i].Group[d], rep.Rows[j].Group[d]; a != b {
				return a < b
			}
		}
		return false
	})
	return rep
}

// rollupAdd sums the rollup over the clean day spans into r.
func (db *DB) rollupAdd(ctx context.Context, q *analytics.Query, kind rollupKind, clean [][2]int64, r *result) error {
	if len(clean) == 0 {
		return nil
	}
	if kind == bySite && q.Scope.Sites != nil && len(q.Scope.Sites) == 0 {
		return nil
	}
	var args params
	arg := args.add
	var spans []string
	for _, s := range clean {
		spans = append(spans, "(day >= "+arg(s[0])+" AND day < "+arg(s[1])+")")
	}
	where := []string{"(" + strings.Join(spans, " OR ") + ")"}
	dims := rollupDims
	if kind == bySite {
		dims, where = rollupSiteDims, append(where, "site <> ''")
	} else {
		where = append(where, "site = ''")
	}
	for _, d := range dims {
		if v, ok := q.Filter[d]; ok {
			where = append(where, string(d)+" = "+arg(v))
		}
	}
	switch {
	case q.Scope.All:
	case kind == byDims:
		where = append(where, "vendor = "+arg(q.Scope.Vendor))
	default:
		ph := make([]string, len(q.Scope.Sites))
		for i, s := range q.Scope.Sites {
			ph[i] = arg(s)
		}
		where = append(where, "site IN ("+strings.Join(ph, ", ")+")")
	}
	// Bare columns here: the rollup has no index that could mislead
	// the grouping, and SQLite sorts the rows to group them faster so.
	groups := make([]string, len(q.GroupBy))
	for i, d := range q.GroupBy {
		groups[i] = string(d)
	}
	cols := make([]string, len(kpiAdd))
	for i := range cols {
		cols[i] = fmt.Sprintf("COALESCE(SUM(a%02d), 0)", i) // no rows: one row of zeros, not NULLs
	}
	for m := 0; m < 3; m++ { // relative overdue due sums, made absolute per day
		b := addSLA + 6*m
		cols[b+5] = fmt.Sprintf("COALESCE(SUM(a%02d + a%02d * day), 0)", b+5, b+4)
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for _, g := range groups {
		sb.WriteString(g + ", ")
	}
	sb.WriteString(strings.Join(cols, ", "))
	sb.WriteString(" FROM wo_facts_daily WHERE " + strings.Join(where, " AND "))
	if len(groups) > 0 {
		sb.WriteString(" GROUP BY " + strings.Join(groups, ", "))
	}
	return db.scan(ctx, sb.String(), args, len(groups), func(key []string, vals []float64) {
		var v addVec
		copy(v[:], vals)
		r.addRow(key, &v)
	})
}

// cleanDays returns the spans of whole days in [first, last) whose rollup
// is fresh: built, and no facts row on that day changed since (less the
// grace). Stale days are rebuilt first, up to RollupBuildPerQuery.
func (db *DB) cleanDays(ctx context.Context, first, last int64, now time.Time) ([][2]int64, error) {
	stale, err := db.staleDays(ctx, first, last)
	if err != nil {
		return nil, err
	}
	rebuilt := 0
	for d := first; d < last && rebuilt < RollupBuildPerQuery; d += dayMicros {
		if stale[d] {
			if err := db.buildDay(ctx, d, now); err != nil {
				return nil, err
			}
			delete(stale, d)
			rebuilt++
		}
	}
	var spans [][2]int64
	for d := first; d < last; d += dayMicros {
		if stale[d] {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1][1] == d {
			spans[n-1][1] = d + dayMicros
		} else {
			spans = append(spans, [2]int64{d, d + dayMicros})
		}
	}
	return spans, nil
}

// staleDays returns the days in [first, last) whose rollup is missing or
// older than a change of a facts row counted on them.
func (db *DB) staleDays(ctx context.Context, first, last int64) (map[int64]bool, error) {
	built := map[int64]int64{}
	rows, err := db.read().QueryContext(ctx, `SELECT day, built_at FROM wo_facts_rolled WHERE day >= $1 AND day < $2`, first, last)
	if err != nil {
		return nil, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	oldest := int64(-1)
	for rows.Next() {
		var d, b int64
		if err := rows.Scan(&d, &b); err != nil {
			rows.Close()
			return nil, err
		}
		built[d] = b
		if oldest < 0 || b < oldest {
			oldest = b
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	stale := map[int64]bool{}
	for d := first; d < last; d += dayMicros {
		if _, ok := built[d]; !ok {
			stale[d] = true
		}
	}
	if oldest < 0 {
		return stale, nil
	}
	// Changes before the last complete refresh (RollupFacts) are in the
	// rollup already: look only at those after it, or after the oldest
	// build if that is later.
	var checked int64
	if err := db.read().QueryRowContext(ctx, `SELECT checked FROM wo_facts_rollup`).Scan(&checked); err != nil {
		return nil, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	oldest = max(oldest, checked)
	grace := int64(RollupGrace / time.Microsecond)
	check := func(day, changed int64) {
		if b, ok := built[day]; ok && changed > b-grace {
			stale[day] = true
		}
	}
	// Rows written since the oldest build: the days they count on.
	rows, err = db.read().QueryContext(ctx, `SELECT changed_at, `+dayColumns+` FROM wo_facts WHERE changed_at > $1`, oldest-grace)
	if err != nil {
		return nil, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	for rows.Next() {
		var changed int64
		ts := make([]sql.NullInt64, 11)
		targets := []any{&changed}
		for i := range ts {
			targets = append(targets, &ts[i])
		}
		if err := rows.Scan(targets...); err != nil {
			rows.Close()
			return nil, err
		}
		for _, t := range ts {
			if t.Valid {
				check(dayOf(t.Int64), changed)
			}
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// Days rows left.
	rows, err = db.read().QueryContext(ctx, `SELECT day, at FROM wo_facts_moves WHERE day >= $1 AND day < $2`, first, last)
	if err != nil {
		return nil, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d, at int64
		if err := rows.Scan(&d, &at); err != nil {
			return nil, err
		}
		check(d, at)
	}
	return stale, rows.Err()
}

// buildDay rebuilds one day's rollup from the facts, in one transaction,
// and records when. Two replicas building the same day compute the same
// rows: the second's inserts of rows the first committed meanwhile do
// nothing ("WHERE 1 = 1": SQLite's upsert after a SELECT needs a WHERE).
func (db *DB) buildDay(ctx context.Context, day int64, now time.Time) error {
	start := micros(db.now())
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM wo_facts_daily WHERE day = $1`, day); err != nil {
		return fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	names := make([]string, len(kpiAdd))
	for i := range names {
		names[i] = fmt.Sprintf("a%02d", i)
	}
	// The day's end is in the past (the caller's whole days), so "now"
	// only decides which milestones of the day are overdue: all of them
	// that are still open.
	insert := func(sel string) string {
		return Insert{Table: "wo_facts_daily", Columns: append(cols("day, site, region, asset_class, trade, vendor, priority, source"), names...),
			Select: sel, DoNothing: true}.SQL()
	}
	for _, q := range []string{
		insert(`SELECT $1, '', COALESCE(s.region, ''), f.asset_class, f.trade, f.vendor, f.priority, f.source, ` + strings.Join(kpiAdd, ", ") + `
		FROM ` + factsFrom("$1", "$2") + ` LEFT JOIN sites s ON s.id = f.site WHERE 1 = 1
		GROUP BY COALESCE(s.region, ''), f.asset_class, f.trade, f.vendor, f.priority, f.source`),
		insert(`SELECT $1, f.site, COALESCE(MIN(s.region), ''), '', '', '', '', '', ` + strings.Join(kpiAdd, ", ") + `
		FROM ` + factsFrom("$1", "$2") + ` LEFT JOIN sites s ON s.id = f.site WHERE 1 = 1
		GROUP BY f.site`),
	} {
		if _, err := tx.ExecContext(ctx, q, day, day+dayMicros, max(micros(now), day+dayMicros)); err != nil {
			if db.Dialect.Retryable != nil && db.Dialect.Retryable(err) {
				return nil
			}
			return fmt.Errorf("%s: rollup %s: %w", db.Dialect.Name, time.UnixMicro(day).UTC().Format(time.DateOnly), err)
		}
	}
	rolled := Insert{Table: "wo_facts_rolled", Columns: cols("day, built_at"), Conflict: cols("day"), Update: cols("built_at")}
	if _, err := tx.ExecContext(ctx, rolled.SQL(), day, start); err != nil {
		return fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	if err := tx.Commit(); err != nil {
		if db.Dialect.Retryable != nil && db.Dialect.Retryable(err) {
			return nil
		}
		return fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	return nil
}

// RollupFacts builds the daily rollup of every whole day from the oldest
// work order's up to `until` that is missing or stale; the daily writer
// runs it, and a fresh database needs it once for its history. It returns
// how many days it built.
func (db *DB) RollupFacts(ctx context.Context, until time.Time) (int, error) {
	var oldest sql.NullInt64
	if err := db.read().QueryRowContext(ctx, `SELECT MIN(created_at) FROM wo_facts`).Scan(&oldest); err != nil {
		return 0, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	if !oldest.Valid {
		return 0, nil
	}
	first, last := dayOf(oldest.Int64), dayOf(micros(until.Add(-RollupGrace)))
	if first >= last {
		return 0, nil
	}
	start := micros(db.now())
	stale, err := db.staleDays(ctx, first, last)
	if err != nil {
		return 0, err
	}
	n := 0
	for d := first; d < last; d += dayMicros {
		if stale[d] {
			if err := db.buildDay(ctx, d, until); err != nil {
				return n, err
			}
			n++
		}
	}
	// Every change before start is now in the rollup.
	if _, err := db.write().ExecContext(ctx, `UPDATE wo_facts_rollup SET checked = $1 WHERE checked < $1`, start); err != nil {
		return n, fmt.Errorf("%s: rollup: %w", db.Dialect.Name, err)
	}
	return n, nil
}
