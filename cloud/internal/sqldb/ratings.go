package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// Ratings keeps the ratings table (migration 0026): a row for each
// rating event saved, keyed by work order and verification, so that a
// second answer to the same question fails the transaction even if it
// got past the work order's version.
type Ratings struct{}

// rateOnce stores a rating unless its verification has one.
var rateOnce = Insert{Table: "ratings", Columns: cols("work_order, verified_at, site, vendor, fixed, score, outcome, at, data"),
	Conflict: cols("work_order, verified_at"), DoNothing: true}

// Project implements Projector.
func (Ratings) Project(ctx context.Context, t *Tx, w *workorder.WorkOrder, events []workorder.Event) error {
	for i := range events {
		r := events[i].Rating
		if events[i].Kind != workorder.Rated || r == nil {
			continue
		}
		data, err := json.Marshal(workorder.RatedVisit{WorkOrder: w.ID, Number: w.Number, Site: w.Site, Asset: w.Asset, Rating: *r})
		if err != nil {
			return err
		}
		res, err := t.tx.ExecContext(ctx, rateOnce.SQL(),
			w.ID, micros(r.Verified), w.Site, r.Vendor, boolInt(r.Fixed), r.Score, r.Outcome, micros(r.At), string(data))
		if err != nil {
			return fmt.Errorf("ratings: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("ratings: %w", err)
		} else if n == 0 {
			return cloud.Errorf(cloud.ECONFLICT, "work order %d was already rated for this verification", w.Number)
		}
	}
	return nil
}

// ProjectRecord implements Projector: ratings are work orders' alone.
func (Ratings) ProjectRecord(context.Context, *Tx, Record) error { return nil }

// Flush implements Projector.
func (Ratings) Flush(context.Context, *Tx) error { return nil }

// Ratings lists ratings, newest first.
func (db *DB) Ratings(ctx context.Context, f workorder.RatingFilter) ([]workorder.RatedVisit, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	q := `SELECT data FROM ratings WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, v string }{{"vendor", f.Vendor}, {"site", f.Site}, {"outcome", f.Outcome}} {
		if c.v != "" {
			args = append(args, c.v)
			q += " AND " + c.col + " = $" + strconv.Itoa(len(args))
		}
	}
	args = append(args, f.Limit)
	q += " ORDER BY at DESC, work_order LIMIT $" + strconv.Itoa(len(args))
	out, err := jsonRows[workorder.RatedVisit](db.read().QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: ratings: %w", db.Dialect.Name, err)
	}
	if out == nil {
		out = []workorder.RatedVisit{}
	}
	return out, nil
}
