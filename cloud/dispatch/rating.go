package dispatch

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

// StoreRating is the store's say on a vendor's verified visit, as the
// vendor's outcome keeps it: was it fixed, and a score from 1 to 5.
type StoreRating struct {
	Fixed bool      `json:"fixed"`
	Score int       `json:"score"`
	At    time.Time `json:"at"`
}

// Ratings sums up the stores' ratings of a vendor's visits, beside its
// verified-fix and recall rates: how many, their mean score, and the
// share the store called fixed.
type Ratings struct {
	Count int `json:"count"`
	// Average is the mean score, NaN (null in JSON) without ratings.
	Average float64 `json:"-"`
	Fixed   Ratio   `json:"fixed"`
}

// MarshalJSON writes the average as null without ratings.
func (r Ratings) MarshalJSON() ([]byte, error) {
	var avg *float64
	if !math.IsNaN(r.Average) {
		a := math.Round(r.Average*100) / 100
		avg = &a
	}
	type plain Ratings
	return json.Marshal(struct {
		plain
		Average *float64 `json:"average"`
	}{plain(r), avg})
}

// rated sums up the ratings in outcomes.
func rated(outcomes []Outcome) Ratings {
	r := Ratings{Average: math.NaN()}
	sum := 0
	for _, o := range outcomes {
		if o.Rating == nil {
			continue
		}
		r.Count++
		sum += o.Rating.Score
		r.Fixed.Of++
		if o.Rating.Fixed {
			r.Fixed.N++
		}
	}
	if r.Count > 0 {
		r.Average = float64(sum) / float64(r.Count)
	}
	return r
}

// Rated implements workorder.Rater: the store's rating goes on the
// outcome of the vendor that did the work, the one a recall would count
// against. A later rating of the same work (after a recall was verified)
// replaces it.
func (s *Service) Rated(ctx context.Context, t Tx, w *workorder.WorkOrder, r *workorder.Rating) error {
	outs, err := t.Outcomes(ctx, w.ID)
	if err != nil {
		return err
	}
	for i := len(outs) - 1; i >= 0; i-- {
		if o := &outs[i]; o.Response == Accepted && o.Completed && o.Vendor == r.Vendor {
			o.Rating = &StoreRating{Fixed: r.Fixed, Score: r.Score, At: r.At}
			return t.PutOutcomes(ctx, outs[i:i+1])
		}
	}
	return nil
}

var _ workorder.Rater[Tx] = (*Service)(nil)

// Rated is the Service's Rated for an Intake's transactions (For).
func (b bound[T]) Rated(ctx context.Context, tx T, w *workorder.WorkOrder, r *workorder.Rating) error {
	return b.s.Rated(ctx, tx, w, r)
}
