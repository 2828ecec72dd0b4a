package e2e

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fleet is TestChaos's system: n stores on one edge agent (one gateway
// serving every site), two cloud replicas, and the servers, with the
// simulation running behind the wall clock (see setUpFleet).
type fleet struct {
	*stack
	sites          []fleetSite
	start          time.Time
	span           time.Duration
	want           *fleetOracle
	sim            *proc
	admin, vendor  *api
	arctic, boreal *api
	hooks          *hookSink
	webhooks       []webhook
	edgeKills      int
}

// fleetSite is one store of the fleet.
type fleetSite struct {
	id       string
	path     string
	lat, lon float64
}

// The vendors of the drill: Slow Freeze, ranked first everywhere, never
// accepts, so every offer it gets times out and goes to Polar
// Refrigeration, which the bot accepts at once. Arctic Backup and Boreal Backup, third and fourth, take a work order whose
// offer to Polar lapsed anyway (a replica and PostgreSQL down together
// for longer than the window): a vendor that lapsed is not offered the
// work order again, and with none left a work order waits for an FM.
const (
	slowVendor   = "slow-freeze"
	polarVendor  = "polar-refrigeration"
	arcticVendor = "arctic-backup"
	borealVendor = "boreal-backup"
	technician   = "ana"
)

// The drill's triage timers. The simulation runs hours behind the wall
// clock (setUpFleet), and the cloud's sweepers compare a timer with the
// wall clock: a hold-off (event time + hold-off) is due at the first
// sweep after the work order opens. An offer made by a sweeper (at the
// end of a hold-off, or after a lapse) or by a person is made at the wall
// clock and lapses acceptWithin later. A P1 is offered at intake, for an
// event hours ago: its window runs from when the offer is made (the wall
// clock), as any work order's from a backlog does, so a P1 times out with
// Slow Freeze like the rest. The verification window starts at the
// completion, on the wall clock too.
const (
	acceptWithin = "6s"
	fleetVerify  = "1s"
	// lagMargin is how far the simulation's end stays behind the wall
	// clock: beyond every hold-off and acceptance window.
	lagMargin = 2 * time.Hour
)

var fleetTriage = fmt.Sprintf(`triage:
  hold_off: {P1: 0s, P2: 15m, P3: 30m, P4: 30m}
  accept_within: {P1: %[1]s, P2: %[1]s, P3: %[1]s, P4: %[1]s}
  verify_window: {"*": %[2]s, walk_in_freezer: %[2]s, compressor_rack: %[2]s, rooftop_unit: %[2]s}
webhooks: {allow_private_targets: true}   # the receiver is the test's, on loopback
`, acceptWithin, fleetVerify)

// fleetSiteYAML is store i of the fleet: the end-to-end store's assets,
// a few hundred metres apart.
func fleetSiteYAML(id string, lat, lon float64) string {
	return fmt.Sprintf(`site: %s
name: Chaos drill store %s
timezone: America/Chicago
region: midwest
location: {lat: %.5f, lon: %.5f}
hours:
  daily: "06:00-22:00"
assets:
  - {id: wic-1, class: walk_in_cooler, name: Dairy walk-in cooler}
  - {id: wif-2, class: walk_in_freezer, name: Frozen walk-in freezer}
  - {id: dmt-3, class: display_case_mt, name: Produce case}
  - {id: rtu-1, class: rooftop_unit, name: Sales floor RTU}
`, id, id, lat, lon)
}

// fleetVendors writes the vendor register: Slow Freeze ranked first for
// every trade at every store, Polar second; both compliant.
func fleetVendors(t *testing.T, dir string, sites []fleetSite) vendors {
	t.Helper()
	valid := time.Now().UTC().AddDate(2, 0, 0).Format(time.RFC3339)
	ranks := func(rank int) string {
		var b strings.Builder
		for _, s := range sites {
			for _, trade := range []string{"refrigeration", "hvac", "controls"} {
				fmt.Fprintf(&b, "    - {site: %s, trade: %s, rank: %d}\n", s.id, trade, rank)
			}
		}
		return b.String()
	}
	vendor := func(id, name, tech string, rank int) string {
		return fmt.Sprintf(`- id: %[1]s
  name: %[2]s
  kind: external
  trades: [refrigeration, hvac, controls]
  coverage: {center: {lat: 41.88, lon: -87.63}, radius_km: 500}
  documents:
    - {type: coi_general_liability, expires_at: %[4]s}
    - {type: coi_workers_comp, expires_at: %[4]s}
    - {type: license, expires_at: %[4]s}
  technicians:
    - {id: %[3]s, name: %[3]s, documents: [{type: epa_608, expires_at: %[4]s}]}
  rates: {refrigeration: {hourly: 125}, hvac: {hourly: 125}, controls: {hourly: 125}}
  nte: {refrigeration: {P1: 2500, P2: 1500, P3: 800, P4: 500}}
  ranks:
%[5]s`, id, name, tech, valid, ranks(rank))
	}
	path := filepath.Join(dir, "vendors", "vendors.yaml")
	writeFile(t, path, "# The chaos drill's vendor register.\n"+vendor(slowVendor, "Slow Freeze", "sam", 1)+
		vendor(polarVendor, "Polar Refrigeration", technician, 2)+vendor(arcticVendor, "Arctic Backup", "ari", 3)+
		vendor(borealVendor, "Boreal Backup", "ari", 4))
	return vendors{config: fmt.Sprintf("vendors: [%q]\n", path), want: polarVendor, technician: technician}
}

// fleetOracle is what the rules make of the fleet's readings when nothing
// fails (runOracle, for every store): the incident events, and the minutes
// in which each asset reported its air temperature.
type fleetOracle struct {
	events  []incidentEvent
	minutes map[string]map[time.Time]bool // "site/asset" -> minutes
}

func (o *fleetOracle) last() map[string]incidentEvent {
	return (&oracle{events: o.events}).last()
}

// runFleetOracle simulates with simArgs into a CSV file and replays it
// through the default rules of every site.
func runFleetOracle(t *testing.T, cli, dir string, sites []fleetSite, simArgs []string) *fleetOracle {
	t.Helper()
	var siteArgs []string
	for _, s := range sites {
		siteArgs = append(siteArgs, "--site", s.path)
	}
	csv, events, summary := simulateAndReplay(t, cli, dir, simArgs, siteArgs...)
	o := &fleetOracle{minutes: map[string]map[time.Time]bool{}, events: events}
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ts,site,asset,metric,value
		parts := strings.Split(sc.Text(), ",")
		if len(parts) != 5 || parts[3] != "air_temp" {
			continue
		}
		ts, err := time.Parse(time.RFC3339, parts[0])
		if err != nil {
			t.Fatalf("oracle CSV: %q: %v", sc.Text(), err)
		}
		key := parts[1] + "/" + parts[2]
		if o.minutes[key] == nil {
			o.minutes[key] = map[time.Time]bool{}
		}
		o.minutes[key][ts.Truncate(time.Minute)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(csv); err != nil {
		t.Fatal(err)
	}
	t.Logf("oracle: %d incident events over %d stores; %s", len(o.events), len(sites), summary)
	return o
}

// setUpFleet starts the servers, two replicas, one edge agent serving n
// stores, a webhook receiver with two subscriptions, and the simulator:
// span of simulated time at speed simulated minutes per real minute.
//
// The simulation starts span+lagMargin before now, so that it runs behind
// the wall clock throughout: the cloud's timers (event time + a duration,
// compared with the wall clock) come due while it runs, which a
// simulation ahead of the clock never lets them (TestCompressorFailure).
func setUpFleet(t *testing.T, n int, span time.Duration, speed float64, seed uint64) *fleet {
	t.Helper()
	st := startStack(t, "the chaos drill")
	r, step := st.r, st.step

	sites := make([]fleetSite, n)
	var quoted []string
	for i := range sites {
		s := fleetSite{id: fmt.Sprintf("chaos-%02d", i+1), lat: 41.80 + 0.004*float64(i%25), lon: -87.70 + 0.004*float64(i/25)}
		s.path = filepath.Join(r.dir, "sites", s.id+".yaml")
		writeFile(t, s.path, fleetSiteYAML(s.id, s.lat, s.lon))
		sites[i] = s
		quoted = append(quoted, fmt.Sprintf("%q", s.path))
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(-span - lagMargin)
	days := span.Hours() / 24
	simArgs := []string{"--start", start.Format(time.RFC3339), "--days", fmt.Sprintf("%.6f", days),
		"--retrofit", "0", "--seed", fmt.Sprint(seed), "--faults", fmt.Sprint(max(1, int(math.Round(days*2)))),
		// The first store's cooler fails twice, far enough apart for the
		// first work order to be verified before the second failure: a
		// recall. Each lasts long enough to be called whatever falls
		// with it: a 30 min failure under a door's 15 min of suppression,
		// or an hour's mostly inside a defrost, may end before a rule
		// can tell it from the door or the defrost (the long run's
		// required recall then never came).
		"--fault", "compressor_failure:wic-1@" + sites[0].id + ":2h:1h",
		"--fault", "compressor_failure:wic-1@" + sites[0].id + ":" + fmt.Sprint(span.Minutes()-150) + "m:90m"}
	for _, s := range sites {
		simArgs = append(simArgs, "--site", s.path)
	}
	want := runFleetOracle(t, st.bins.cli, r.dir, sites, simArgs)
	step("oracle: %d incident events, %d incidents", len(want.events), len(want.last()))

	adminToken := randomToken(t)
	vend := fleetVendors(t, r.dir, sites)
	st.startReplicas(adminToken, func(port int) string {
		return cloudConfigWith(port, st.dsn, st.natsURL, strings.Join(quoted, ", "), st.influx, vend, fleetTriage)
	})
	admin := newAPI(t, st.urlB, adminToken, "admin")
	vendor := admin.as(admin.issueToken(map[string]any{"role": "vendor", "vendor": polarVendor, "name": polarVendor + " dispatch"}), "vendor "+polarVendor)
	arctic := admin.as(admin.issueToken(map[string]any{"role": "vendor", "vendor": arcticVendor, "name": arcticVendor + " dispatch"}), "vendor "+arcticVendor)
	boreal := admin.as(admin.issueToken(map[string]any{"role": "vendor", "vendor": borealVendor, "name": borealVendor + " dispatch"}), "vendor "+borealVendor)

	// Two webhook subscriptions on one receiver: everything, and the
	// first store's work orders.
	hooks := startHookSink(t)
	hooksAll := hooks.register(t, admin, "/all", map[string]any{"all": true}, nil)
	hooksSite := hooks.register(t, admin, "/"+sites[0].id, map[string]any{"sites": []string{sites[0].id}}, []string{sites[0].id})

	st.startEdge(edgeConfigWith("chaos", strings.Join(quoted, ", "), st.mqttURL, st.natsURL, st.outbox(), st.edgePort))
	sim := r.start("sim", st.bins.cli, nil, append(append([]string{"sim"}, simArgs...),
		"--mqtt", st.mqttURL, "--speed", fmt.Sprint(speed), "--client-id", "chaos-sim")...)
	step("%d stores: simulator started, %s of simulated time from %s at %gx", n, span, start.Format(time.RFC3339), speed)
	return &fleet{stack: st, sites: sites, start: start, span: span, want: want, sim: sim, admin: admin, vendor: vendor,
		arctic: arctic, boreal: boreal, hooks: hooks, webhooks: []webhook{hooksAll, hooksSite}}
}

// site returns the fleet's store by id.
func (f *fleet) site(id string) fleetSite {
	for _, s := range f.sites {
		if s.id == id {
			return s
		}
	}
	return fleetSite{}
}
