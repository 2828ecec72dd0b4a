package pm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/pm"
)

// TestConditionPullsForward: a compressor working harder than the
// schedule's condition allows pulls only its next visit forward, never
// before now; at a normal duty cycle nothing moves.
func TestConditionPullsForward(t *testing.T) {
	sched := `{"id":"cond","name":"Condenser clean","site":"s1","asset":"rack1","rrule":"FREQ=MONTHLY;BYMONTHDAY=1","start":"2026-01-01T08:00:00Z",
		"lead_time":"2d","condition":{"signal":"duty_cycle","above":0.8,"over":"7d","pull_forward":"10d"},"template":{"trade":"refrigeration"}}`
	for _, tc := range []struct {
		name string
		duty float64
		now  string
		want string
	}{
		{"normal duty", 0.5, "2026-05-20T00:00:00Z", "2026-06-01T08:00 2026-07-01T08:00 2026-08-01T08:00"},
		{"hard working", 0.9, "2026-05-20T00:00:00Z", "2026-05-22T08:00 2026-07-01T08:00 2026-08-01T08:00"},
		{"pulled no earlier than now", 0.9, "2026-05-28T00:00:00Z", "2026-05-28T00:00 2026-07-01T08:00 2026-08-01T08:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openSQLite(t)
			ctx := context.Background()
			s, err := pm.ParseSchedule([]byte(sched))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.PutPMSchedule(ctx, s, 0); err != nil {
				t.Fatal(err)
			}
			now, _ := time.Parse(time.RFC3339, tc.now)
			var samples []pm.Sample
			for h := range 24 * 7 {
				samples = append(samples, pm.Sample{Asset: "rack1", At: now.Add(-time.Duration(h) * time.Hour), Hours: 1, RunHours: tc.duty})
			}
			if err := db.RecordRuntime(ctx, "s1", samples); err != nil {
				t.Fatal(err)
			}
			items, err := pm.Forecast(ctx, db, "s1", now, time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC), now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.DueAt.Format("2006-01-02T15:04"))
				if it.Note != "" && it.Occurrence != "2026-06-01T08:00" {
					t.Errorf("visit %s moved (%s): only the next one may be", it.Occurrence, it.Note)
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("due %s, want %s", g, tc.want)
			}
		})
	}
}
