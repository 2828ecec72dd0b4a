package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
)

// loadReport is the part of `frostline loadtest --json` the test reads.
type loadReport struct {
	IncidentsSent, EventsSent, TelemetrySent, WorkOrders, Lost, Doubled int
	ToWorkOrder, ToDispatch, API                                        struct{ N int }
	Outage                                                              *struct{ Stores, Backlog int }
	Postgres                                                            *struct{ CPUSeconds, PeakRSSMB float64 }
}

// TestLoad runs `frostline loadtest` against a real deployment (a 3-node
// nats-server cluster, PostgreSQL, InfluxDB and two frostline-cloud
// replicas, each its own process): a fleet of stores publishes incidents, telemetry and
// heartbeats, a share of them come back from a regional outage with a
// backlog, and one replica is killed with SIGKILL mid-run and started
// again. Every incident must become exactly one work order. It checks
// correctness only; the figures are the loadtest's report (make loadtest,
// docs/benchmarks.md). FROSTLINE_LOAD_STORES, FROSTLINE_LOAD_DURATION,
// FROSTLINE_LOAD_PER_DAY and FROSTLINE_LOAD_OUTAGE_FOR make it bigger.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the load test builds the binaries and starts four servers")
	}
	stores := envInt(t, "FROSTLINE_LOAD_STORES", 150)
	duration := envDuration(t, "FROSTLINE_LOAD_DURATION", 40*time.Second)
	outageFor := envDuration(t, "FROSTLINE_LOAD_OUTAGE_FOR", 20*time.Minute)
	perDay := os.Getenv("FROSTLINE_LOAD_PER_DAY")
	if perDay == "" {
		perDay = "3000" // a short run at real rates would send next to no incidents
	}
	dsn := pgtest.DSN(t)
	influx := influxtest.StartInfluxDB(t, "frostline")
	r := newRig(t)
	bins := build(t, filepath.Join(r.dir, "bin"))
	ports := freePorts(t, 2)
	// Three nats-servers clustered on loopback, as deploy/nats describes:
	// the cloud's streams keep 3 replicas.
	_, natsURL := r.startNATSCluster(natsServer(t), 3)

	// Every store is near Chicago; one contractor covers them all.
	valid := time.Now().UTC().AddDate(2, 0, 0).Format(time.RFC3339)
	vendorsPath := filepath.Join(r.dir, "vendors", "vendors.yaml")
	writeFile(t, vendorsPath, fmt.Sprintf(`- id: fleet-refrigeration
  name: Fleet Refrigeration
  kind: external
  trades: [refrigeration]
  coverage: {center: {lat: 41.88, lon: -87.63}, radius_km: 500}
  documents:
    - {type: coi_general_liability, expires_at: %[1]s}
    - {type: coi_workers_comp, expires_at: %[1]s}
    - {type: license, expires_at: %[1]s}
  technicians:
    - {id: tess, name: Tess, documents: [{type: epa_608, expires_at: %[1]s}]}
  rates: {refrigeration: {hourly: 120}}
  nte: {refrigeration: {P1: 2000, P2: 1200, P3: 600, P4: 400}}
`, valid))
	sitePath := filepath.Join(r.dir, "sites", site+".yaml")
	writeFile(t, sitePath, siteYAML)
	token := randomToken(t)
	replica := func(name string, port int) (*proc, string) {
		path := filepath.Join(r.dir, name+".yaml")
		writeFile(t, path, cloudConfig(port, dsn, natsURL, sitePath, influx, vendors{config: fmt.Sprintf("vendors: [%q]\n", vendorsPath)}))
		return r.start(name, bins.cloud, []string{"FROSTLINE_ADMIN_TOKEN=" + token}, "--config", path),
			fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	cloudA, urlA := replica("cloud-a", ports[0])
	cloudB, urlB := replica("cloud-b", ports[1])
	waitReady(t, cloudA, urlA+"/readyz", 60*time.Second)
	waitReady(t, cloudB, urlB+"/readyz", 60*time.Second)

	var out, errb bytes.Buffer
	cmd := exec.Command(bins.cli, "loadtest", "--nats", natsURL, "--api", urlB, "--token", token,
		"--metrics", urlA+"/metrics", "--metrics", urlB+"/metrics", "--pg-dsn", dsn,
		"--stores", strconv.Itoa(stores), "--assets", "5", "--duration", duration.String(), "--drain", "3m",
		"--incidents-per-day", perDay, "--outage", strconv.Itoa(stores/5), "--outage-for", outageFor.String(), "--json")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Replica A dies with SIGKILL half-way and comes back: what it held
	// unacknowledged goes to B, and nothing may be lost or doubled.
	time.Sleep(duration / 2)
	cloudA.kill()
	time.Sleep(2 * time.Second)
	cloudA.start()
	waitReady(t, cloudA, urlA+"/readyz", 60*time.Second)
	err := cmd.Wait()
	t.Logf("loadtest:\n%s%s", errb.String(), out.String())
	var rep loadReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("loadtest report: %v (exit %v)", jerr, err)
	}
	if err != nil && rep.Lost == 0 && rep.Doubled == 0 {
		t.Fatalf("loadtest: %v", err)
	}
	if rep.IncidentsSent < 20 || rep.TelemetrySent < stores || rep.Outage == nil || rep.Outage.Backlog == 0 {
		t.Errorf("the fleet sent %d incidents (%d from the outage), %d telemetry batches: too few to test anything", rep.IncidentsSent, backlog(rep), rep.TelemetrySent)
	}
	if rep.Lost != 0 || rep.Doubled != 0 || rep.WorkOrders != rep.IncidentsSent {
		t.Errorf("%d incidents sent, %d work orders: %d lost, %d doubled", rep.IncidentsSent, rep.WorkOrders, rep.Lost, rep.Doubled)
	}
	if rep.Postgres == nil || rep.Postgres.CPUSeconds <= 0 || rep.Postgres.PeakRSSMB <= 0 {
		t.Errorf("PostgreSQL's CPU and memory not measured: %+v", rep.Postgres)
	}
	if rep.ToDispatch.N == 0 || rep.API.N == 0 {
		t.Errorf("nothing dispatched (%d) or no FM query answered (%d)", rep.ToDispatch.N, rep.API.N)
	}
	r.checkLogs("cloud-a", "cloud-b")
}

func backlog(r loadReport) int {
	if r.Outage == nil {
		return 0
	}
	return r.Outage.Backlog
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration", name, v)
	}
	return d
}
