package dispatch

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestScoreRatings: the stores' ratings sit on the scorecard beside the
// verified-fix and recall rates (count, mean score, share called fixed)
// without moving the composite score.
func TestScoreRatings(t *testing.T) {
	done := func(r *StoreRating) Outcome {
		return Outcome{Vendor: "v", Response: Accepted, Completed: true, Visits: 1, Verification: VerifyPassed, Rating: r}
	}
	tests := []struct {
		name     string
		outcomes []Outcome
		want     string // the scorecard's "ratings" as JSON
	}{
		{"none", []Outcome{done(nil)}, `{"count":0,"fixed":{"n":0,"of":0,"value":null},"average":null}`},
		{"one fixed 5", []Outcome{done(&StoreRating{Fixed: true, Score: 5}), done(nil)}, `{"count":1,"fixed":{"n":1,"of":1,"value":1.0000},"average":5}`},
		{"three, one not fixed", []Outcome{done(&StoreRating{Fixed: true, Score: 5}), done(&StoreRating{Fixed: true, Score: 4}),
			done(&StoreRating{Score: 1})}, `{"count":3,"fixed":{"n":2,"of":3,"value":0.6667},"average":3.33}`},
		{"declined offers carry none", []Outcome{{Vendor: "v", Response: Declined}, done(&StoreRating{Fixed: true, Score: 3})},
			`{"count":1,"fixed":{"n":1,"of":1,"value":1.0000},"average":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := Score("v", tt.outcomes, DefaultWeights())
			got, err := json.Marshal(sc.Ratings)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ratings %s\nwant    %s", got, tt.want)
			}
			plain := make([]Outcome, len(tt.outcomes))
			for i, o := range tt.outcomes {
				o.Rating = nil
				plain[i] = o
			}
			if p := Score("v", plain, DefaultWeights()); p.Score != sc.Score {
				t.Errorf("ratings moved the score: %v, without them %v", sc.Score, p.Score)
			}
			whole, _ := json.Marshal(sc)
			if !strings.Contains(string(whole), `"ratings":`+tt.want) {
				t.Errorf("scorecard JSON %s lacks the ratings", whole)
			}
		})
	}
}
