package rules_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// TestEventJSON: each event line a replay prints carries at least what
// the rules issue promises, with times in RFC 3339 UTC, and the same
// event always has the same message id.
func TestEventJSON(t *testing.T) {
	eng := newEngine(t, coolerHigh, testSites, rules.Options{})
	evs := observeAll(t, eng, cooler(steps(2, 60, 6, 120, 9, 150, 3), 240))
	if len(evs) != 3 {
		t.Fatalf("events %v", briefs(evs))
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		b, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"event", "incident", "site", "asset", "rule", "problem", "priority", "trade", "at", "summary"} {
			if s, ok := m[k].(string); !ok || s == "" {
				t.Errorf("%s: %q is %v, want a non-empty string", brief(ev), k, m[k])
			}
		}
		for _, k := range []string{"at", "started"} {
			ts, err := time.Parse(time.RFC3339, m[k].(string))
			if err != nil || ts.Location() != time.UTC {
				t.Errorf("%s: %s %q is not RFC 3339 UTC (%v)", brief(ev), k, m[k], err)
			}
		}
		if ids[ev.MsgID()] {
			t.Errorf("%s: message id %s given twice", brief(ev), ev.MsgID())
		}
		ids[ev.MsgID()] = true
	}
	again := observeAll(t, newEngine(t, coolerHigh, testSites, rules.Options{}), cooler(steps(2, 60, 6, 120, 9, 150, 3), 240))
	for i := range evs {
		if evs[i].MsgID() != again[i].MsgID() {
			t.Errorf("message id %s, then %s", evs[i].MsgID(), again[i].MsgID())
		}
	}
}
