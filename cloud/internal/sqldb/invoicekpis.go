package sqldb

import (
	"context"
	"slices"
	"strings"

	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/invoicing"
)

// The invoice KPIs (analytics.Sums' Invoices...): invoices are few (one
// or two a completed work order) and not in the daily rollup, so every
// query sums them from the invoices table, sliced and scoped by the
// work order's facts row (f), whose completed_at starts the cycle.

// invoiceKPI is what PutInvoice keeps for the KPIs beside the document:
// the first submission, the approval (the change that made it APPROVED;
// nil before), and whether it was ever disputed.
type invoiceKPI struct {
	first, approved any
	disputed        int
}

func invoiceKPIFacts(inv *invoicing.Invoice) invoiceKPI {
	k := invoiceKPI{first: micros(inv.SubmittedAt)}
	if len(inv.History) > 0 {
		k.first = micros(inv.History[0].At)
	}
	if i := slices.IndexFunc(inv.History, func(c invoicing.Change) bool { return c.State == invoicing.Approved }); i >= 0 {
		k.approved = micros(inv.History[i].At)
	}
	if slices.ContainsFunc(inv.History, func(c invoicing.Change) bool { return c.State == invoicing.Disputed }) {
		k.disputed = 1
	}
	return k
}

// invoiceCols are the invoice sums over [$1, $2): submitted first in it,
// of those disputed, approved in it, of those with a completion before,
// and their completion-to-approval microseconds.
var invoiceCols = func() []string {
	first := "i.first_at >= $1 AND i.first_at < $2"
	appr := "i.approved_at >= $1 AND i.approved_at < $2"
	cycle := appr + " AND f.completed_at IS NOT NULL AND f.completed_at <= i.approved_at"
	count := func(cond string) string { return "COUNT(CASE WHEN " + cond + " THEN 1 END)" }
	return []string{
		count(first), count(first + " AND i.disputed = 1"), count(appr), count(cycle),
		"CAST(COALESCE(SUM(CASE WHEN " + cycle + " THEN i.approved_at - f.completed_at END), 0) AS DOUBLE PRECISION)",
	}
}()

// invoiceAdd sums the invoices of [from, to) into r.
func (db *DB) invoiceAdd(ctx context.Context, q *analytics.Query, from, to int64, r *result) error {
	const (
		tables = "invoices i JOIN wo_facts f ON f.wo = i.work_order"
		within = "((i.first_at >= $1 AND i.first_at < $2) OR (i.approved_at >= $1 AND i.approved_at < $2))"
	)
	return db.sideAdd(ctx, q, from, to, r, tables, within, invoiceCols, func(k string, vals []float64) {
		var v [5]float64
		copy(v[:], vals)
		if r.inv == nil {
			r.inv = map[string]*[5]float64{}
		}
		r.inv[k] = &v
	})
}

// ratingCols are the stores' ratings given in [$1, $2): how many, how
// many called fixed, and the sum of their scores. The ratings table
// (migration 0026) keeps one row a verification rated.
var ratingCols = []string{"COUNT(*)", "COALESCE(SUM(r.fixed), 0)", "CAST(COALESCE(SUM(r.score), 0) AS DOUBLE PRECISION)"}

// ratingAdd sums the ratings of [from, to) into r, sliced and scoped by
// the rated work order's facts row as the invoices are.
func (db *DB) ratingAdd(ctx context.Context, q *analytics.Query, from, to int64, r *result) error {
	const tables = "ratings r JOIN wo_facts f ON f.wo = r.work_order"
	return db.sideAdd(ctx, q, from, to, r, tables, "r.at >= $1 AND r.at < $2", ratingCols, func(k string, vals []float64) {
		var v [3]float64
		copy(v[:], vals)
		if r.rat == nil {
			r.rat = map[string]*[3]float64{}
		}
		r.rat[k] = &v
	})
}

// sideAdd sums cols over a table joined to the work orders' facts (f),
// rows within [$1, $2), grouped and filtered as the query asks, and hands
// each group's sums to keep under its key.
func (db *DB) sideAdd(ctx context.Context, q *analytics.Query, from, to int64, r *result, tables, within string, cols []string,
	keep func(k string, vals []float64)) error {
	args := []any{from, to}
	where, ok := filterSQL(q, &args)
	if !ok {
		return nil
	}
	where = append([]string{within}, where...)
	groups, join := groupSQL(q)
	return db.scan(ctx, selectSQL(groups, cols, tables, join, where), args, len(groups), func(key []string, vals []float64) {
		k := strings.Join(key, "\x00")
		if _, ok := r.keys[k]; !ok {
			r.keys[k], r.add[k] = key, &addVec{}
		}
		keep(k, vals)
	})
}
