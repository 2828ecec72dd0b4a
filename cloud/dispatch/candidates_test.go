package dispatch

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCandidates(t *testing.T) {
	rl := DefaultRules()
	warrantied := &cloud.Asset{Site: "s1", ID: "a1", Class: "walk_in_cooler", Warranty: &cloud.Warranty{Provider: "oem", Expires: "2027-06-30"}}
	expiredWarranty := &cloud.Asset{Site: "s1", ID: "a1", Class: "walk_in_cooler", Warranty: &cloud.Warranty{Provider: "oem", Expires: "2026-01-31"}}
	tests := []struct {
		name     string
		trade    string
		asset    *cloud.Asset
		pool     []Standing
		declined []string
		want     []string          // eligible, in order
		excluded map[string]Reason // vendor -> reason
	}{
		{
			name: "expired insurance is never chosen", trade: "refrigeration",
			pool: standings(vendor("a", func(v *Vendor) { v.Documents[0].ExpiresAt = day(-1) }), vendor("b")),
			want: []string{"b"}, excluded: map[string]Reason{"a": ReasonDocumentExpired},
		},
		{
			name: "insurance expiring on the day still counts", trade: "refrigeration",
			pool: standings(vendor("a", func(v *Vendor) { v.Documents[0].ExpiresAt = t0 })),
			want: []string{"a"},
		},
		{
			name: "missing workers comp", trade: "refrigeration",
			pool: standings(vendor("a", func(v *Vendor) { v.Documents = v.Documents[:1] })),
			want: []string{}, excluded: map[string]Reason{"a": ReasonDocumentMissing},
		},
		{
			name: "wrong trade is never chosen", trade: "controls",
			pool: standings(vendor("a"), vendor("ctl", func(v *Vendor) { v.Trades = []string{"controls"} })),
			want: []string{"ctl"}, excluded: map[string]Reason{"a": ReasonWrongTrade},
		},
		{
			name: "refrigeration needs a technician with EPA 608", trade: "refrigeration",
			pool: standings(
				vendor("nocert", func(v *Vendor) { v.Technicians[0].Documents = nil }),
				vendor("expired", func(v *Vendor) { v.Technicians[0].Documents[0].ExpiresAt = day(-3) }),
				vendor("notech", func(v *Vendor) { v.Technicians = nil }),
				vendor("second", func(v *Vendor) { v.Technicians = append([]Technician{{ID: "x"}}, v.Technicians...) }),
			),
			want:     []string{"second"},
			excluded: map[string]Reason{"nocert": ReasonNoTechnician, "expired": ReasonNoTechnician, "notech": ReasonNoTechnician},
		},
		{
			name: "electrical needs no EPA 608", trade: "electrical",
			pool: standings(vendor("el", func(v *Vendor) { v.Trades = []string{"electrical"}; v.Technicians = nil })),
			want: []string{"el"},
		},
		{
			name: "internal staff are exempt from insurance, not from EPA 608", trade: "refrigeration",
			pool: standings(
				vendor("own", func(v *Vendor) { v.Kind = Internal; v.Documents = nil }),
				vendor("own-nocert", func(v *Vendor) { v.Kind = Internal; v.Documents = nil; v.Technicians[0].Documents = nil }),
			),
			want: []string{"own"}, excluded: map[string]Reason{"own-nocert": ReasonNoTechnician},
		},
		{
			name: "do not dispatch", trade: "refrigeration",
			pool: standings(vendor("a", func(v *Vendor) { v.DoNotDispatch = &DoNotDispatch{Reason: "billing dispute"} }), vendor("b")),
			want: []string{"b"}, excluded: map[string]Reason{"a": ReasonDoNotDispatch},
		},
		{
			name: "at capacity", trade: "refrigeration",
			pool: func() []Standing {
				s := standings(vendor("a", func(v *Vendor) { v.Capacity = 3 }), vendor("b", func(v *Vendor) { v.Capacity = 3 }))
				s[0].Open, s[1].Open = 3, 2
				return s
			}(),
			want: []string{"b"}, excluded: map[string]Reason{"a": ReasonAtCapacity},
		},
		{
			name: "coverage by radius and by site list", trade: "refrigeration",
			pool: standings(
				vendor("far", func(v *Vendor) { v.Coverage.Center = &rules.Location{Lat: 43.04, Lon: -87.91} }), // Milwaukee, ~130 km
				vendor("listed", func(v *Vendor) { v.Coverage = Coverage{Sites: []string{"s1"}} }),
				vendor("other", func(v *Vendor) { v.Coverage = Coverage{Sites: []string{"s2"}} }),
			),
			want: []string{"listed"}, excluded: map[string]Reason{"far": ReasonOutOfCoverage, "other": ReasonOutOfCoverage},
		},
		{
			name: "declined vendors are skipped", trade: "refrigeration", declined: []string{"a"},
			pool: standings(vendor("a"), vendor("b")),
			want: []string{"b"}, excluded: map[string]Reason{"a": ReasonDeclined},
		},
		{
			name: "warranty goes first, even unranked and out of coverage", trade: "refrigeration", asset: warrantied,
			pool: standings(
				vendor("a", func(v *Vendor) { v.Ranks = []Rank{{Site: "s1", Rank: 1}} }),
				vendor("oem", func(v *Vendor) {
					v.WarrantyProvider = true
					v.Coverage = Coverage{Sites: []string{"elsewhere"}}
				}),
			),
			want: []string{"oem", "a"},
		},
		{
			name: "warranty matched by name only for a flagged provider", trade: "refrigeration",
			asset: &cloud.Asset{Site: "s1", ID: "a1", Class: "walk_in_cooler", Warranty: &cloud.Warranty{Provider: "Hussmann Service", Expires: "2027-06-30"}},
			pool: standings(
				vendor("z-agent", func(v *Vendor) { v.Name, v.WarrantyProvider = "Hussmann Service", true }),
				vendor("a-namesake", func(v *Vendor) { v.Name = "Hussmann Service" }),
			),
			want: []string{"z-agent", "a-namesake"},
		},
		{
			name: "expired warranty dispatches normally", trade: "refrigeration", asset: expiredWarranty,
			pool: standings(vendor("a", func(v *Vendor) { v.Ranks = []Rank{{Site: "s1", Rank: 1}} }), vendor("oem")),
			want: []string{"a", "oem"},
		},
		{
			name: "warranty provider must still be compliant", trade: "refrigeration", asset: warrantied,
			pool: standings(vendor("a"), vendor("oem", func(v *Vendor) { v.Documents = nil })),
			want: []string{"a"}, excluded: map[string]Reason{"oem": ReasonDocumentMissing},
		},
		{
			name: "explicit rank, most specific first, then unranked", trade: "refrigeration",
			pool: standings(
				vendor("any", func(v *Vendor) { v.Ranks = []Rank{{Rank: 1}} }),
				vendor("site", func(v *Vendor) { v.Ranks = []Rank{{Rank: 5}, {Site: "s1", Trade: "refrigeration", Rank: 2}} }),
				vendor("none"),
				vendor("third", func(v *Vendor) { v.Ranks = []Rank{{Site: "s1", Rank: 3}} }),
			),
			want: []string{"any", "site", "third", "none"},
		},
		{
			name: "score, then distance within a score bucket, then cost", trade: "refrigeration",
			pool: func() []Standing {
				s := standings(
					vendor("good-far", func(v *Vendor) { v.Coverage.Center = &rules.Location{Lat: 42.2, Lon: -87.8} }),
					vendor("good-near"),
					vendor("best"),
					vendor("good-near-cheap", func(v *Vendor) { v.Rates["refrigeration"] = Rate{Hourly: 80, TripCharge: 50} }),
					vendor("new"),
				)
				for i, sc := range []float64{0.81, 0.82, 0.95, 0.83, -1} {
					if sc >= 0 {
						s[i].Scorecard = &Scorecard{Outcomes: 20, Score: sc, Components: map[string]float64{"sla": sc}}
					}
				}
				return s
			}(),
			want: []string{"best", "good-near-cheap", "good-near", "good-far", "new"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wo := workOrder(tt.trade)
			wo.Declined = tt.declined
			d := Candidates(wo, site1, tt.asset, tt.pool, t0, &rl)
			if got := d.Queue(); !slices.Equal(got, tt.want) {
				t.Errorf("eligible %v, want %v", got, tt.want)
			}
			for _, c := range d.Excluded {
				if want, ok := tt.excluded[c.Vendor]; ok && c.Reason != want {
					t.Errorf("%s excluded for %s (%s), want %s", c.Vendor, c.Reason, c.Detail(), want)
				}
			}
			for v, want := range tt.excluded {
				if !slices.ContainsFunc(d.Excluded, func(c Candidate) bool { return c.Vendor == v && c.Reason == want }) {
					t.Errorf("%s not excluded for %s: %+v", v, want, d.Excluded)
				}
			}
			if len(d.Eligible)+len(d.Excluded) != len(tt.pool) {
				t.Errorf("%d eligible + %d excluded != %d vendors: every vendor must be explained", len(d.Eligible), len(d.Excluded), len(tt.pool))
			}
		})
	}
}

func TestAfterHoursCost(t *testing.T) {
	rl := DefaultRules()
	rl.BusinessHours = nil
	pool := standings(vendor("a"))
	d := Candidates(workOrder("refrigeration"), site1, nil, pool, t0, &rl)
	if c := d.Eligible[0].Breakdown.Cost; c == nil || *c != 90+120*2 {
		t.Fatalf("cost %v, want 330", c)
	}
	if err := yamlInto(&rl, "business_hours: {hours: {mon: '08:00-17:00', tue: '08:00-17:00', wed: '08:00-17:00', thu: '08:00-17:00', fri: '08:00-17:00'}}"); err != nil {
		t.Fatal(err)
	}
	night := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC) // 22:00 Thursday in Chicago
	d = Candidates(workOrder("refrigeration"), site1, nil, pool, night, &rl)
	if b := d.Eligible[0].Breakdown; !b.AfterHours || *b.Cost != 90+120*1.5*2 {
		t.Fatalf("after hours: %+v cost %v, want 450", b, *b.Cost)
	}
}

// TestDecisionGolden pins the explained decision for a mixed pool: the
// JSON a person reads on the work order's page.
func TestDecisionGolden(t *testing.T) {
	rl := DefaultRules()
	pool := standings(
		vendor("arctic", func(v *Vendor) { v.Ranks = []Rank{{Site: "s1", Trade: "refrigeration", Rank: 1}} }),
		vendor("polar", func(v *Vendor) { v.Documents[1].ExpiresAt = day(-10) }),
		vendor("sparky", func(v *Vendor) { v.Trades = []string{"electrical"} }),
		vendor("coolco", func(v *Vendor) { v.Capacity = 1 }),
		vendor("frosty", func(v *Vendor) { v.DoNotDispatch = &DoNotDispatch{Reason: "failed site audit"} }),
		vendor("north", func(v *Vendor) { v.Coverage.Center = &rules.Location{Lat: 44.98, Lon: -93.27} }),
		vendor("icebox"),
	)
	pool[3].Open = 1
	pool[6].Scorecard = &Scorecard{Outcomes: 12, Score: 0.7321, Components: map[string]float64{"sla": 0.7321}}
	d := Candidates(workOrder("refrigeration"), site1, nil, pool, t0, &rl)
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "decision", "mixed_pool.json"), got)
	// A stored decision reads back as it was written.
	var back Decision
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.MarshalIndent(back, "", "  ")
	if string(again) != string(got) {
		t.Errorf("round trip differs:\n%s", again)
	}
	c := d.Compact()
	if len(c.Excluded) != 3 || c.Omitted[ReasonWrongTrade] != 1 || c.Omitted[ReasonOutOfCoverage] != 1 || len(c.Eligible) != 2 || len(d.Excluded) != 5 {
		t.Errorf("compact: %d excluded, omitted %v", len(c.Excluded), c.Omitted)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, got)
	}
}

func TestHaversine(t *testing.T) {
	// Chicago Loop to Milwaukee City Hall: about 130 km.
	km := haversineKM(rules.Location{Lat: 41.8781, Lon: -87.6298}, rules.Location{Lat: 43.0389, Lon: -87.9065})
	if km < 128 || km > 132 {
		t.Errorf("got %.1f km", km)
	}
}
