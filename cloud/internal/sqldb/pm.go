package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
)

// PutPMSchedule creates a schedule (version 0 given: it must not exist) or
// replaces one at the version the caller saw, and returns it as stored.
func (db *DB) PutPMSchedule(ctx context.Context, s *pm.Schedule, seen int) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var res sql.Result
	if seen == 0 {
		create := Insert{Table: "pm_schedules", Columns: cols("id, site, asset_class, version, data"), Conflict: cols("id"), DoNothing: true}
		res, err = db.write().ExecContext(ctx, create.SQL(), s.ID, s.Site, s.AssetClass, s.Version, string(data))
	} else {
		res, err = db.write().ExecContext(ctx, `UPDATE pm_schedules SET site = $2, asset_class = $3, version = $4, data = $5
			WHERE id = $1 AND version = $6`, s.ID, s.Site, s.AssetClass, s.Version, string(data), seen)
	}
	if err != nil {
		return fmt.Errorf("%s: put schedule: %w", db.Dialect.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return cloud.Errorf(cloud.ECONFLICT, "schedule %s changed meanwhile (or exists); reload and try again", s.ID)
	}
	return nil
}

// PMSchedule returns a schedule, or ENOTFOUND.
func (db *DB) PMSchedule(ctx context.Context, id string) (*pm.Schedule, error) {
	var data []byte
	err := db.read().QueryRowContext(ctx, `SELECT data FROM pm_schedules WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "schedule %s not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("%s: schedule: %w", db.Dialect.Name, err)
	}
	return decodeSchedule(data)
}

func decodeSchedule(data []byte) (*pm.Schedule, error) {
	var s pm.Schedule
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil { // compiles the rule
		return nil, fmt.Errorf("schedule %s as stored: %w", s.ID, err)
	}
	return &s, nil
}

// PMSchedules implements pm.Store: every schedule, or those that can apply
// to site (its own and the class-wide ones), by id.
func (db *DB) PMSchedules(ctx context.Context, site string) ([]*pm.Schedule, error) {
	q, args := `SELECT data FROM pm_schedules ORDER BY id`, []any{}
	if site != "" {
		q, args = `SELECT data FROM pm_schedules WHERE site = $1 OR site = '' ORDER BY id`, []any{site}
	}
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: schedules: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := []*pm.Schedule{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		s, err := decodeSchedule(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", db.Dialect.Name, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeletePMSchedule removes a schedule; the work orders it generated stay.
func (db *DB) DeletePMSchedule(ctx context.Context, id string) error {
	return db.deleteOne(ctx, "pm_schedules", "id", "schedule", id)
}

// PMTargets implements pm.Store: the register's assets with their class.
func (db *DB) PMTargets(ctx context.Context, site string) ([]pm.Target, error) {
	q, args := `SELECT site, id, data FROM assets ORDER BY site, id`, []any{}
	if site != "" {
		q, args = `SELECT site, id, data FROM assets WHERE site = $1 ORDER BY id`, []any{site}
	}
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: assets: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var out []pm.Target
	for rows.Next() {
		var t pm.Target
		var data []byte
		if err := rows.Scan(&t.Site, &t.Asset, &data); err != nil {
			return nil, err
		}
		var a struct {
			Class string `json:"class"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, err
		}
		t.Class = a.Class
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutPMCalendar creates or replaces a site's store calendar.
func (db *DB) PutPMCalendar(ctx context.Context, c *pm.StoreCalendar) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	put := Insert{Table: "pm_calendars", Columns: cols("site, data"), Conflict: cols("site"), Update: cols("data")}
	if _, err := db.write().ExecContext(ctx, put.SQL(), c.Site, string(data)); err != nil {
		return fmt.Errorf("%s: put calendar: %w", db.Dialect.Name, err)
	}
	return nil
}

// PMCalendars implements pm.Store.
func (db *DB) PMCalendars(ctx context.Context, sites []string) (map[string]*pm.StoreCalendar, error) {
	q := `SELECT data FROM pm_calendars`
	var args []any
	if sites != nil {
		if len(sites) == 0 {
			return map[string]*pm.StoreCalendar{}, nil
		}
		q += ` WHERE site IN (` + list((*params)(&args), sites) + `)`
	}
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: calendars: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[string]*pm.StoreCalendar{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		c := &pm.StoreCalendar{}
		if err := json.Unmarshal(data, c); err != nil {
			return nil, err
		}
		if err := c.Compile(); err != nil {
			return nil, fmt.Errorf("%s: calendar of %s as stored: %w", db.Dialect.Name, c.Site, err)
		}
		out[c.Site] = c
	}
	return out, rows.Err()
}

// PMGenerated implements pm.Store.
func (db *DB) PMGenerated(ctx context.Context, since time.Time) (map[string]bool, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT schedule, site, asset, occurrence FROM pm_occurrences WHERE due_at >= $1`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("%s: occurrences: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s, site, asset, occ string
		if err := rows.Scan(&s, &site, &asset, &occ); err != nil {
			return nil, err
		}
		out[s+"|"+site+"|"+asset+"|"+occ] = true
	}
	return out, rows.Err()
}

// PMOccurrences lists the visits generated with due times in [from, to),
// at one site or all.
func (db *DB) PMOccurrences(ctx context.Context, site string, from, to time.Time) ([]pm.Visit, error) {
	q := `SELECT schedule, site, asset, occurrence, due_at, wo FROM pm_occurrences WHERE due_at >= $1 AND due_at < $2`
	args := []any{micros(from), micros(to)}
	if site != "" {
		q += ` AND site = $3`
		args = append(args, site)
	}
	rows, err := db.read().QueryContext(ctx, q+` ORDER BY due_at, site, asset, schedule`, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: occurrences: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := []pm.Visit{}
	for rows.Next() {
		var o pm.Visit
		var due int64
		if err := rows.Scan(&o.Schedule, &o.Site, &o.Asset, &o.Occurrence, &due, &o.WorkOrder); err != nil {
			return nil, err
		}
		o.DueAt = time.UnixMicro(due).UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// ClaimOccurrence implements pm.OccurrenceTx: it records the visit's key
// and reports false if another transaction already had it. On PostgreSQL
// a concurrent claim of the same key waits for the first to commit or roll
// back, so exactly one replica opens the work order.
func (t *Tx) ClaimOccurrence(ctx context.Context, schedule string, tg pm.Target, o pm.Occurrence, at time.Time) (bool, error) {
	claim := Insert{Table: "pm_occurrences", Columns: cols("schedule, site, asset, occurrence, due_at, created_at"),
		Conflict: cols("schedule, site, asset, occurrence"), DoNothing: true}
	res, err := t.tx.ExecContext(ctx, claim.SQL(),
		schedule, tg.Site, tg.Asset, o.Key, micros(o.DueAt), micros(at))
	if err != nil {
		return false, fmt.Errorf("claim occurrence: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// BindOccurrence implements pm.OccurrenceTx: it names the work order a
// claimed visit opened.
func (t *Tx) BindOccurrence(ctx context.Context, schedule string, tg pm.Target, key, wo string) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE pm_occurrences SET wo = $5 WHERE schedule = $1 AND site = $2 AND asset = $3 AND occurrence = $4`,
		schedule, tg.Site, tg.Asset, key, wo); err != nil {
		return fmt.Errorf("bind occurrence: %w", err)
	}
	return nil
}

var _ pm.OccurrenceTx = (*Tx)(nil)

// runtimeDay is a day in the units times are stored in.
const runtimeDay = 86400_000_000

// RecordRuntime adds runtime samples (what an asset ran in each telemetry
// period) and their daily sums, in one transaction. A sample already
// recorded for its period is kept as it was and not added again, so a
// redelivered telemetry batch counts once.
func (db *DB) RecordRuntime(ctx context.Context, site string, samples []pm.Sample) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: record runtime: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	type bucket struct {
		asset string
		day   int64
	}
	sums := map[bucket]*pm.Sample{}
	const chunk = 200
	for lo := 0; lo < len(samples); lo += chunk {
		part := samples[lo:min(lo+chunk, len(samples))]
		add := Insert{Table: "pm_runtime", Columns: cols("site, asset, at, hours, run_hours, defrosts"), Rows: len(part),
			Conflict: cols("site, asset, at"), DoNothing: true, Returning: cols("asset, at, hours, run_hours, defrosts")}
		args := make([]any, 0, 6*len(part))
		for _, s := range part {
			args = append(args, site, s.Asset, micros(s.At), s.Hours, s.RunHours, s.Defrosts)
		}
		rows, err := tx.QueryContext(ctx, add.SQL(), args...)
		if err != nil {
			return fmt.Errorf("%s: record runtime: %w", db.Dialect.Name, err)
		}
		for rows.Next() {
			var s pm.Sample
			var at int64
			if err := rows.Scan(&s.Asset, &at, &s.Hours, &s.RunHours, &s.Defrosts); err != nil {
				rows.Close()
				return err
			}
			k := bucket{s.Asset, (at - 1) / runtimeDay * runtimeDay}
			if sums[k] == nil {
				sums[k] = &pm.Sample{}
			}
			sums[k].Hours += s.Hours
			sums[k].RunHours += s.RunHours
			sums[k].Defrosts += s.Defrosts
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("%s: record runtime: %w", db.Dialect.Name, err)
		}
	}
	// In key order, so two replicas adding to the same days lock them in
	// the same order.
	keys := make([]bucket, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b bucket) int { return cmp.Or(cmp.Compare(a.asset, b.asset), cmp.Compare(a.day, b.day)) })
	sum := Insert{Table: "pm_runtime_daily", Columns: cols("site, asset, day, hours, run_hours, defrosts"), Conflict: cols("site, asset, day"),
		Set: cols(`hours = pm_runtime_daily.hours + excluded.hours, run_hours = pm_runtime_daily.run_hours + excluded.run_hours,
			defrosts = pm_runtime_daily.defrosts + excluded.defrosts`)}
	for _, k := range keys {
		v := sums[k]
		if _, err := tx.ExecContext(ctx, sum.SQL(),
			site, k.asset, k.day, v.Hours, v.RunHours, v.Defrosts); err != nil {
			return fmt.Errorf("%s: record runtime: %w", db.Dialect.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: record runtime: %w", db.Dialect.Name, err)
	}
	return nil
}

// usageRanges splits (since, until] into whole days, read from the daily
// sums, and the partial days at either end, read from the samples: the
// query arguments raw1 (lo, hi], raw2 (lo, hi] and days [lo, hi).
func usageRanges(since, until time.Time) []any {
	s, u := micros(since), micros(until)
	if u <= s {
		return []any{int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)}
	}
	a := (s + runtimeDay - 1) / runtimeDay * runtimeDay
	z := u / runtimeDay * runtimeDay
	if s < 0 || a >= z {
		return []any{s, u, int64(0), int64(0), int64(0), int64(0)}
	}
	return []any{s, a, z, u, a, z}
}

const usageUnion = `SELECT site, asset, hours, run_hours, defrosts FROM pm_runtime WHERE ((at > $1 AND at <= $2) OR (at > $3 AND at <= $4)) %[1]s
	UNION ALL SELECT site, asset, hours, run_hours, defrosts FROM pm_runtime_daily WHERE day >= $5 AND day < $6 %[1]s`

// Usage implements pm.Runtime from the recorded samples whose periods end
// in (since, until].
func (db *DB) Usage(ctx context.Context, site, asset string, since, until time.Time) (pm.Usage, error) {
	var u pm.Usage
	var defrosts sql.NullInt64
	var hours, run sql.NullFloat64
	q := `SELECT SUM(hours), SUM(run_hours), SUM(defrosts) FROM (` + fmt.Sprintf(usageUnion, `AND site = $7 AND asset = $8`) + `) u`
	err := db.read().QueryRowContext(ctx, q, append(usageRanges(since, until), site, asset)...).Scan(&hours, &run, &defrosts)
	if err != nil {
		return u, fmt.Errorf("%s: usage: %w", db.Dialect.Name, err)
	}
	u.Hours, u.RunHours, u.Defrosts = hours.Float64, run.Float64, int(defrosts.Int64)
	if u.Hours > 0 {
		u.DutyCycle = u.RunHours / u.Hours
	}
	return u, nil
}

// UsageAll implements pm.BulkRuntime: every asset's usage (at a site, or
// every site for "") over (since, until].
func (db *DB) UsageAll(ctx context.Context, site string, since, until time.Time) (map[[2]string]pm.Usage, error) {
	args, filter := usageRanges(since, until), ""
	if site != "" {
		args, filter = append(args, site), `AND site = $7`
	}
	q := `SELECT site, asset, SUM(hours), SUM(run_hours), SUM(defrosts) FROM (` + fmt.Sprintf(usageUnion, filter) + `) u GROUP BY site, asset`
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: usage: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[[2]string]pm.Usage{}
	for rows.Next() {
		var s, a string
		var u pm.Usage
		var defrosts sql.NullInt64
		var hours, run sql.NullFloat64
		if err := rows.Scan(&s, &a, &hours, &run, &defrosts); err != nil {
			return nil, err
		}
		u.Hours, u.RunHours, u.Defrosts = hours.Float64, run.Float64, int(defrosts.Int64)
		if u.Hours > 0 {
			u.DutyCycle = u.RunHours / u.Hours
		}
		out[[2]string{s, a}] = u
	}
	return out, rows.Err()
}

var _ pm.BulkRuntime = (*DB)(nil)
