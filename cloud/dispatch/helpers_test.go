package dispatch

import (
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// t0 is a Thursday afternoon in the stores' time zone.
var t0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// insured returns a valid set of vendor documents.
func insured(exp time.Time) []Document {
	return []Document{{Type: COIGeneralLiability, ExpiresAt: exp}, {Type: COIWorkersComp, ExpiresAt: exp}}
}

// tech returns a technician with an EPA 608 certification.
func tech(id string, exp time.Time) Technician {
	return Technician{ID: id, Documents: []Document{{Type: EPA608, ExpiresAt: exp}}}
}

// vendor returns a compliant refrigeration vendor covering site s1 by
// radius; opts edit it.
func vendor(id string, opts ...func(*Vendor)) Vendor {
	v := Vendor{
		ID: id, Name: "Vendor " + id, Kind: External, Trades: []string{"refrigeration", "hvac"},
		Coverage:    Coverage{Center: &rules.Location{Lat: 41.88, Lon: -87.63}, RadiusKM: 80},
		Documents:   insured(day(365)),
		Technicians: []Technician{tech(id+"-t1", day(365))},
		Rates:       map[string]Rate{"refrigeration": {Hourly: 120, TripCharge: 90, AfterHours: 1.5}},
	}
	for _, o := range opts {
		o(&v)
	}
	return v
}

var site1 = &cloud.Site{ID: "s1", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.90, Lon: -87.65}}

func workOrder(trade string) *workorder.WorkOrder {
	return &workorder.WorkOrder{ID: "wo_1", Number: 1, Site: "s1", Asset: "a1", Trade: trade, Priority: "P2", Status: workorder.Ready}
}

func standings(vs ...Vendor) []Standing {
	out := make([]Standing, len(vs))
	for i := range vs {
		out[i] = Standing{Vendor: &vs[i]}
	}
	return out
}
