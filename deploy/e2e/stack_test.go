package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
)

// stack is what every end-to-end run stands on: the servers (mosquitto,
// NATS, PostgreSQL and InfluxDB), the binaries built from this tree, and
// the processes of the system on top: two cloud replicas on one
// PostgreSQL and one NATS, and the edge agent. The one-store run (world)
// and the fleet (fleet) each add their own sites, oracle and actors.
type stack struct {
	t      *testing.T
	r      *rig
	step   func(format string, args ...any)
	bins   binaries
	dsn    string
	influx *influxtest.InfluxDB
	// mqttURL and natsURL are the brokers'; nats is NATS's process, for
	// its outages.
	mqttURL, natsURL string
	nats             *proc
	// The cloud replicas and the edge agent, once started, with their
	// addresses.
	cloudA, cloudB        *proc
	edge                  *proc
	urlA, urlB, edgeReady string
	// Free ports for the replicas and the edge agent's health server.
	portA, portB, edgePort int
}

// startStack starts the servers and builds the binaries. A missing server
// skips the test, or fails it on CI, before anything is built; -short
// skips it, saying why (what the run is).
func startStack(t *testing.T, what string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s builds the binaries and starts six servers", what)
	}
	began := time.Now()
	s := &stack{t: t, step: func(format string, args ...any) {
		t.Logf("%7.1fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}}
	mosquitto := need(t, "mosquitto", "/usr/sbin/mosquitto")
	s.dsn = pgtest.DSN(t)
	s.influx = influxtest.StartInfluxDB(t, "frostline")
	// The rig's cleanup runs before InfluxDB's: the replicas stop while
	// their telemetry can still be written.
	s.r = newRig(t)
	s.bins = build(t, filepath.Join(s.r.dir, "bin"))
	s.step("binaries built (race detector: %v)", raceEnabled)
	// Every port at once (see freePorts).
	ports := freePorts(t, 5)
	var mqttPort, natsPort int
	mqttPort, natsPort, s.portA, s.portB, s.edgePort = ports[0], ports[1], ports[2], ports[3], ports[4]
	_, s.mqttURL = s.r.startMosquitto(mosquitto, mqttPort)
	s.nats, s.natsURL = s.r.startNATS(natsServer(t), natsPort)
	s.step("mosquitto %s, nats-server %s, postgres, influxd %s", s.mqttURL, s.natsURL, s.influx.URL)
	return s
}

// startReplicas starts the two cloud replicas, each on the config
// config(port) writes, and waits until both are ready.
func (s *stack) startReplicas(adminToken string, config func(port int) string) {
	s.t.Helper()
	replica := func(name string, port int) (*proc, string) {
		path := filepath.Join(s.r.dir, name+".yaml")
		writeFile(s.t, path, config(port))
		return s.r.start(name, s.bins.cloud, []string{"FROSTLINE_ADMIN_TOKEN=" + adminToken}, "--config", path),
			fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	s.cloudA, s.urlA = replica("cloud-a", s.portA)
	s.cloudB, s.urlB = replica("cloud-b", s.portB)
	waitReady(s.t, s.cloudA, s.urlA+"/readyz", 60*time.Second)
	waitReady(s.t, s.cloudB, s.urlB+"/readyz", 60*time.Second)
	s.step("cloud replicas ready at %s and %s", s.urlA, s.urlB)
}

// startEdge starts the edge agent on config and waits until it is ready.
func (s *stack) startEdge(config string) {
	s.t.Helper()
	path := filepath.Join(s.r.dir, "edge.yaml")
	writeFile(s.t, path, config)
	s.edge = s.r.start("edge", s.bins.edge, nil, "--config", path)
	s.edgeReady = fmt.Sprintf("http://127.0.0.1:%d/readyz", s.edgePort)
	waitReady(s.t, s.edge, s.edgeReady, 30*time.Second)
	s.step("edge agent ready")
}

// outbox is the edge agent's outbox file.
func (s *stack) outbox() string { return filepath.Join(s.r.dir, "edge", "outbox.db") }

// alive fails the test if any of the processes has exited.
func (s *stack) alive(ps ...*proc) {
	s.t.Helper()
	for _, p := range ps {
		if gone, how := p.exited(); gone {
			s.t.Fatalf("%s exited (%s):\n%s", p.name, how, tail(p.log, 40))
		}
	}
}
