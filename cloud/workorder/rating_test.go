package workorder

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

// verifiedWorkOrder takes a P1 sensor work order at t0 through dispatch to
// coolco, a visit and completion, to VERIFIED by a person at t0+4h.
func verifiedWorkOrder(t *testing.T, in *Intake[Tx], tx *memTx, t0 time.Time, asset string) *WorkOrder {
	t.Helper()
	lim := 5.0
	res, err := in.Receive(context.Background(), tx, FromIncident(&rules.Event{Event: rules.Opened, Incident: "inc-" + asset, Seq: 1,
		Site: "s1", Asset: asset, AssetClass: "walk_in_cooler", Rule: "temp_high", Problem: "temp_high", Priority: "P1",
		Trade: "refrigeration", At: t0, Started: t0, Metric: "air_temp", Peak: 9, Limit: &lim}))
	if err != nil {
		t.Fatal(err)
	}
	w := res.WorkOrder
	override := "no signal"
	for i, a := range []struct {
		action Action
		in     Input
	}{
		{Accept, Input{Actor: "coolco", Role: cloud.RoleVendor}},
		{CheckIn, Input{Actor: "tech", Role: cloud.RoleTechnician, Override: override}},
		{Complete, Input{Actor: "tech", Role: cloud.RoleTechnician, Completion: &Completion{Problem: "not_cold", Cause: "dirty_coil", Remedy: "cleaned_coil"}}},
		{Verify, Input{Actor: "fm", Role: cloud.RoleFM}},
	} {
		a.in.At = t0.Add(time.Duration(i+1) * time.Hour)
		ev, err := in.Act(context.Background(), tx, w, a.action, a.in)
		if err != nil {
			t.Fatalf("%s: %v", a.action, err)
		}
		if err := tx.Save(context.Background(), w, ev); err != nil {
			t.Fatal(err)
		}
	}
	if w.Status != Verified || w.Vendor != "coolco" {
		t.Fatalf("work order %s with %q, want verified by coolco", w.Status, w.Vendor)
	}
	return w
}

// TestRate: the store's rating of a verified visit. Fixed is recorded; not
// fixed within the recall window reopens the work order and sends it back
// to its vendor as a recall (as a problem that comes back during
// verification does); after the window, or on a closed work order, it is
// flagged for the FM; with the problem already open elsewhere nothing is
// reopened. One rating per verification; bad input is refused.
func TestRate(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	verified := t0.Add(4 * time.Hour)
	tests := []struct {
		name    string
		prepare func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder)
		rating  Rating
		code    string // the refusal's cloud error code, or "" for none
		field   string
		outcome string
		status  Status
		kinds   []string // the events made, kind or action
		vendor  string   // the vendor the work order is with afterwards
	}{
		{name: "fixed, 5 of 5", rating: Rating{Fixed: true, Score: 5, Comment: " cold again ", By: "Sam", Via: "link", At: verified.Add(time.Hour)},
			status: Verified, kinds: []string{"rating"}, vendor: "coolco"},
		{name: "not fixed within the recall window: recall to the same vendor", rating: Rating{Fixed: false, Score: 1, Comment: "still warm", By: "Sam", Via: "page", At: verified.Add(48 * time.Hour)},
			outcome: RatingRecall, status: Dispatched, kinds: []string{"rating", "reopen", "release", "dispatch"}, vendor: "coolco"},
		{name: "not fixed on the last moment of the window", rating: Rating{Score: 2, By: "Sam", Via: "api", At: verified.Add(30 * 24 * time.Hour)},
			outcome: RatingRecall, status: Dispatched, kinds: []string{"rating", "reopen", "release", "dispatch"}, vendor: "coolco"},
		{name: "not fixed after the recall window: flagged, no recall", rating: Rating{Score: 2, By: "Sam", Via: "link", At: verified.Add(31 * 24 * time.Hour)},
			outcome: RatingFlagged, status: Verified, kinds: []string{"rating"}, vendor: "coolco"},
		{name: "not fixed on a closed work order: flagged",
			prepare: func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder) {
				ev, err := in.Act(context.Background(), tx, w, Close, Input{Actor: "fm", Role: cloud.RoleFM, At: verified.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.Save(context.Background(), w, ev); err != nil {
					t.Fatal(err)
				}
			},
			rating: Rating{Score: 1, By: "Sam", Via: "page", At: verified.Add(time.Hour)}, outcome: RatingFlagged, status: Closed, kinds: []string{"rating"}, vendor: "coolco"},
		{name: "not fixed, but the sensor already opened the recall: no second one",
			prepare: func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder) {
				lim := 5.0
				if _, err := in.Receive(context.Background(), tx, FromIncident(&rules.Event{Event: rules.Opened, Incident: "inc-again", Seq: 1,
					Site: "s1", Asset: w.Asset, AssetClass: "walk_in_cooler", Rule: "temp_high", Problem: "temp_high", Priority: "P3",
					Trade: "refrigeration", At: verified.Add(time.Hour), Started: verified.Add(time.Hour), Limit: &lim})); err != nil {
					t.Fatal(err)
				}
			},
			rating: Rating{Score: 1, By: "Sam", Via: "link", At: verified.Add(2 * time.Hour)}, outcome: RatingAlreadyOpen, status: Verified, kinds: []string{"rating"}, vendor: "coolco"},
		{name: "rated twice: the second is refused",
			prepare: func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder) {
				ev, err := in.Rate(context.Background(), tx, w, Rating{Fixed: true, Score: 4, By: "Alex", Via: "link", At: verified.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.Save(context.Background(), w, ev); err != nil {
					t.Fatal(err)
				}
			},
			rating: Rating{Fixed: true, Score: 5, By: "Sam", Via: "link", At: verified.Add(time.Hour)}, code: cloud.ECONFLICT, status: Verified},
		{name: "rated again after a recall was verified again",
			prepare: func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder) {
				ev, err := in.Rate(context.Background(), tx, w, Rating{Score: 1, By: "Alex", Via: "link", At: verified.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				at := verified.Add(2 * time.Minute)
				for _, a := range []Action{Accept, CheckIn, Complete, Verify} {
					in := Input{Actor: "coolco", Role: cloud.RoleAdmin, Override: "no signal", At: at,
						Completion: &Completion{Problem: "not_cold", Cause: "fan", Remedy: "replaced_fan"}}
					at = at.Add(time.Hour)
					more, err := Act(w, a, in)
					if err != nil {
						t.Fatalf("%s: %v", a, err)
					}
					ev = append(ev, more...)
				}
				if err := tx.Save(context.Background(), w, ev); err != nil {
					t.Fatal(err)
				}
			},
			rating: Rating{Fixed: true, Score: 5, By: "Sam", Via: "page", At: verified.Add(6 * time.Hour)}, status: Verified, kinds: []string{"rating"}, vendor: "coolco"},
		{name: "score 0", rating: Rating{Fixed: true, Score: 0, By: "Sam", At: verified}, code: cloud.EINVALID, field: "score", status: Verified},
		{name: "score 6", rating: Rating{Fixed: true, Score: 6, By: "Sam", At: verified}, code: cloud.EINVALID, field: "score", status: Verified},
		{name: "comment too long", rating: Rating{Fixed: true, Score: 3, By: "Sam", At: verified, Comment: string(make([]rune, MaxRatingComment+1))},
			code: cloud.EINVALID, field: "comment", status: Verified},
		{name: "nobody", rating: Rating{Fixed: true, Score: 3, At: verified}, code: cloud.EINVALID, field: "by", status: Verified},
		{name: "not verified yet",
			prepare: func(t *testing.T, in *Intake[Tx], tx *memTx, w *WorkOrder) {
				ev, err := in.Act(context.Background(), tx, w, Reopen, Input{Actor: "fm", Role: cloud.RoleFM, Reason: "checked: still warm", At: verified.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.Save(context.Background(), w, ev); err != nil {
					t.Fatal(err)
				}
			},
			rating: Rating{Fixed: true, Score: 3, By: "Sam", At: verified.Add(time.Hour)}, code: cloud.ECONFLICT, status: Dispatched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Intake[Tx]{Policy: DefaultPolicy()}
			in.Policy.Vendors = []VendorRule{{Vendor: "coolco"}}
			tx := newMemTx()
			w := verifiedWorkOrder(t, in, tx, t0, "wic-1")
			if tt.prepare != nil {
				tt.prepare(t, in, tx, w)
			}
			w = tx.copy(w)
			before := w.Version
			ev, err := in.Rate(context.Background(), tx, w, tt.rating)
			if tt.code != "" {
				if cloud.ErrorCode(err) != tt.code {
					t.Fatalf("err %v, want %s", err, tt.code)
				}
				var ce *cloud.Error
				if tt.field != "" && (!asCloudError(err, &ce) || ce.Field != tt.field) {
					t.Errorf("err %v, want field %s", err, tt.field)
				}
				if w.Version != before || w.Status != tt.status {
					t.Errorf("refused rating changed the work order: version %d -> %d, %s", before, w.Version, w.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Save(context.Background(), w, ev); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range ev {
				k := string(e.Kind)
				if e.Kind == Transition {
					k = string(e.Action)
				}
				kinds = append(kinds, k)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("events %v, want %v", kinds, tt.kinds)
			}
			if w.Status != tt.status || w.Vendor != tt.vendor {
				t.Errorf("work order %s with %q, want %s with %q", w.Status, w.Vendor, tt.status, tt.vendor)
			}
			r := w.Rating
			if r == nil || r.Outcome != tt.outcome || r.Score != tt.rating.Score || r.Fixed != tt.rating.Fixed || r.By != tt.rating.By || r.Vendor != "coolco" {
				t.Fatalf("rating %+v, want outcome %q, score %d by %s for coolco", r, tt.outcome, tt.rating.Score, tt.rating.By)
			}
			if r.Comment != "" && r.Comment[0] == ' ' {
				t.Errorf("comment %q not trimmed", r.Comment)
			}
			if tt.outcome == RatingAlreadyOpen && r.Open == "" {
				t.Error("the open work order is not named")
			}
			if w.Rateable() {
				t.Error("rated work order still rateable")
			}
			// The history tells the same story as the projection.
			replayed, err := Replay(tx.events[w.ID])
			if err != nil || replayed.Rating == nil || *replayed.Rating != *r || replayed.Status != w.Status {
				t.Errorf("replayed rating %+v (%v), want %+v", replayed.Rating, err, r)
			}
		})
	}
}

func asCloudError(err error, ce **cloud.Error) bool { return errors.As(err, ce) }
