package dispatch

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/rules"
)

func TestVendorExample(t *testing.T) {
	data, err := os.ReadFile("testdata/vendors/arctic.json")
	if err != nil {
		t.Fatal(err)
	}
	var v Vendor
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if c := v.CommitmentFor("P1"); c == nil || c.Acknowledge.D() != 15*time.Minute {
		t.Errorf("P1 commitment %+v", c)
	}
	if n, ok := v.NTEFor("refrigeration", "P2"); !ok || n != 1500 {
		t.Errorf("NTE %v %v", n, ok)
	}
	if r := v.RankAt("s0042", "refrigeration"); r != 1 {
		t.Errorf("rank at s0042 %d", r)
	}
	if r := v.RankAt("s0099", "hvac"); r != 2 {
		t.Errorf("rank for hvac %d", r)
	}
	if r := v.RankAt("s0099", "refrigeration"); r != 0 {
		t.Errorf("unranked %d", r)
	}
}

func TestVendorValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Vendor)
		fields []string
	}{
		{"valid", func(*Vendor) {}, nil},
		{"bad id and name", func(v *Vendor) { v.ID, v.Name = "no spaces", " " }, []string{"id", "name"}},
		{"kind", func(v *Vendor) { v.Kind = "partner" }, []string{"kind"}},
		{"trades", func(v *Vendor) { v.Trades = []string{"refrigeration", "roofing"} }, []string{"trades[1]"}},
		{"no coverage", func(v *Vendor) { v.Coverage = Coverage{} }, []string{"coverage"}},
		{"radius without centre", func(v *Vendor) { v.Coverage = Coverage{Sites: []string{"s1"}, RadiusKM: 5} }, []string{"coverage.radius_km"}},
		{"centre without radius", func(v *Vendor) { v.Coverage.RadiusKM = 0 }, []string{"coverage.radius_km"}},
		{"centre off the globe", func(v *Vendor) { v.Coverage.Center = &rules.Location{Lat: 95} }, []string{"coverage.center"}},
		{"document", func(v *Vendor) { v.Documents[1] = Document{Type: "coi_auto"} }, []string{"documents[1].expires_at", "documents[1].type"}},
		{"technician", func(v *Vendor) {
			v.Technicians = append(v.Technicians, Technician{ID: v.Technicians[0].ID, Trades: []string{"plumbing"}})
		}, []string{"technicians[1].id", "technicians[1].trades[0]"}},
		{"rates", func(v *Vendor) { v.Rates["electrical"] = Rate{Hourly: -1, AfterHours: 0.5} }, []string{"rates.electrical", "rates.electrical.after_hours_multiplier", "rates.electrical.hourly"}},
		{"rates out of range", func(v *Vendor) {
			v.Rates["refrigeration"] = Rate{Hourly: math.Inf(1), TripCharge: math.NaN()}
			v.Coverage.Center, v.Coverage.RadiusKM = &rules.Location{Lat: math.NaN(), Lon: 0}, 10
		}, []string{"coverage.center", "rates.refrigeration.hourly", "rates.refrigeration.trip_charge"}},
		{"nte of 0 is not no limit", func(v *Vendor) { v.NTE = map[string]map[string]float64{"refrigeration": {"P1": 0, "P2": 1e12}} }, []string{"nte.refrigeration.P1", "nte.refrigeration.P2"}},
		{"nte", func(v *Vendor) { v.NTE = map[string]map[string]float64{"refrigeration": {"P7": 100, "P1": -5}} }, []string{"nte.refrigeration.P1", "nte.refrigeration.P7"}},
		{"sla", func(v *Vendor) {
			v.SLA = map[string]sla.Targets{"P1": {Acknowledge: sla.Duration(time.Hour), Arrive: sla.Duration(30 * time.Minute)}}
		}, []string{"sla.P1.arrive"}},
		{"do not dispatch needs a reason", func(v *Vendor) { v.DoNotDispatch = &DoNotDispatch{} }, []string{"do_not_dispatch.reason"}},
		{"contact", func(v *Vendor) { v.Contacts = []Contact{{Name: "x"}} }, []string{"contacts[0]"}},
		{"capacity", func(v *Vendor) { v.Capacity = -1 }, []string{"capacity"}},
		{"ranks", func(v *Vendor) { v.Ranks = []Rank{{Rank: 0}, {Trade: "plumbing", Rank: 1}} }, []string{"ranks[0].rank", "ranks[1].trade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vendor("v1")
			tt.edit(&v)
			err := v.Validate()
			var got []string
			for _, e := range unjoin(err) {
				if cloud.ErrorCode(e) != cloud.EINVALID {
					t.Errorf("%v: code %s", e, cloud.ErrorCode(e))
				}
				got = append(got, cloud.ErrorField(e))
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields %q, want %q (%v)", got, tt.fields, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestExpiringDocuments(t *testing.T) {
	vs := []Vendor{
		vendor("a", func(v *Vendor) { v.Documents[0].ExpiresAt = day(10) }),
		vendor("b", func(v *Vendor) { v.Technicians[0].Documents[0].ExpiresAt = day(-2) }),
		vendor("c", func(v *Vendor) { v.Documents[1].ExpiresAt = day(31) }),
		vendor("d"),
	}
	got := ExpiringDocuments(vs, t0, 30*24*time.Hour)
	var s []string
	for _, e := range got {
		s = append(s, strings.Join([]string{e.Vendor, e.Technician, string(e.Type)}, "/"))
	}
	want := []string{"b/b-t1/epa_608", "a//coi_general_liability"}
	if !slices.Equal(s, want) || !got[0].Expired || got[1].Expired {
		t.Errorf("got %v %+v, want %v", s, got, want)
	}
}
