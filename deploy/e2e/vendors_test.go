package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vendors is the vendor side of the test in one place: what the cloud
// replicas are told about service providers, who must be sent, and how
// the dispatch decision is checked.
type vendors struct {
	// config is YAML added to each replica's configuration.
	config string
	// want is the vendor the P1 refrigeration work order must go to, and
	// technician the one of its people who goes.
	want, technician string
	// skipped is a vendor ranked first for the work that dispatch must
	// pass over, and why.
	skipped, skippedFor string
}

// setupVendors writes the vendor register the replicas seed at start (the
// `vendors:` files of the cloud config). Two refrigeration contractors
// cover the store: Frosty Fix, ranked first, whose general liability
// certificate expired a month ago, and Polar Refrigeration, in order. A
// compliance-checked dispatch must skip the first and send the second.
// Documents are dated from today, so the register does not age.
func setupVendors(t *testing.T, dir string) vendors {
	t.Helper()
	now := time.Now().UTC()
	valid := now.AddDate(2, 0, 0).Format(time.RFC3339)
	expired := now.AddDate(0, -1, 0).Format(time.RFC3339)
	register := fmt.Sprintf(`# The end-to-end test's vendor register.
- id: frosty-fix
  name: Frosty Fix
  kind: external
  trades: [refrigeration]
  coverage: {sites: [%[1]s]}
  documents:
    - {type: coi_general_liability, expires_at: %[3]s}
    - {type: coi_workers_comp, expires_at: %[2]s}
    - {type: license, expires_at: %[2]s}
  technicians:
    - {id: fred, name: Fred Frost, documents: [{type: epa_608, expires_at: %[2]s}]}
  ranks: [{site: %[1]s, trade: refrigeration, rank: 1}]
- id: polar-refrigeration
  name: Polar Refrigeration
  kind: external
  trades: [refrigeration]
  coverage: {sites: [%[1]s]}
  documents:
    - {type: coi_general_liability, expires_at: %[2]s}
    - {type: coi_workers_comp, expires_at: %[2]s}
    - {type: license, expires_at: %[2]s}
  technicians:
    - {id: ana, name: Ana Polar, documents: [{type: epa_608, expires_at: %[2]s}]}
  rates: {refrigeration: {hourly: 125, trip_charge: 85}}
  nte: {refrigeration: {P1: 2500, P2: 1500, P3: 800, P4: 500}}
  ranks: [{site: %[1]s, trade: refrigeration, rank: 2}]
- id: netfix-controls
  name: NetFix Controls
  kind: external
  trades: [controls]
  coverage: {sites: [%[1]s]}
  documents:
    - {type: coi_general_liability, expires_at: %[2]s}
    - {type: coi_workers_comp, expires_at: %[2]s}
`, site, valid, expired)
	path := filepath.Join(dir, "vendors", "vendors.yaml")
	writeFile(t, path, register)
	return vendors{
		config:     fmt.Sprintf("vendors: [%q]\n", path),
		want:       "polar-refrigeration",
		technician: "ana",
		skipped:    "frosty-fix",
		skippedFor: "document_expired",
	}
}

// checkDecision reads the work order's dispatch decision (as an FM would,
// to see why it went where it went): the expired vendor excluded for its
// certificate, the compliant one first among the eligible.
func (v vendors) checkDecision(t *testing.T, admin *api, woID string) {
	t.Helper()
	var book struct {
		Decision struct {
			Eligible []struct {
				Vendor   string `json:"vendor"`
				Position int    `json:"position"`
			} `json:"eligible"`
			Excluded []struct {
				Vendor string `json:"vendor"`
				Reason string `json:"excluded"`
			} `json:"excluded"`
		} `json:"decision"`
	}
	code, body, err := admin.do("GET", "/api/v1/workorders/"+woID+"/dispatch", nil, &book)
	if err != nil || code != http.StatusOK {
		t.Errorf("GET the dispatch decision: %d %s %v", code, body, err)
		return
	}
	d := book.Decision
	if len(d.Eligible) == 0 || d.Eligible[0].Vendor != v.want {
		t.Errorf("dispatch decision: eligible %+v, want %s first", d.Eligible, v.want)
	}
	var why []string
	for _, x := range d.Excluded {
		if x.Vendor == v.skipped {
			why = append(why, x.Reason)
		}
	}
	if len(why) != 1 || why[0] != v.skippedFor {
		t.Errorf("dispatch decision: %s excluded for %v, want %s (decision: %s)", v.skipped, why, v.skippedFor, strings.TrimSpace(string(body)))
	}
}
