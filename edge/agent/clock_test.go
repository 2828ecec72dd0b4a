package agent

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// gatewayRule is the default pack's whole-store silence rule, added to the
// test rules so that a clock moved ahead shows as a false gateway_offline.
const gatewayRule = `
  - id: gateway-offline
    kind: missing
    scope: site
    after: 10m
    factor: 3
    problem: gateway_offline
    priority: P2
    trade: controls
    title: "{{.Site}}: store gateway offline"
`

// clockProcessor is a processor over the test store with the gateway
// rule, on a wall clock the test moves.
func clockProcessor(t *testing.T, skew time.Duration, wall *time.Time) (*processor, *metrics, *memOutbox) {
	t.Helper()
	ob := &memOutbox{}
	p, m := clockProcessorOn(t, skew, wall, ob, nil)
	return p, m, ob
}

// clockProcessorOn is clockProcessor on an outbox (a restart's), with the
// steady clock it checkpoints and resumes, if any.
func clockProcessorOn(t *testing.T, skew time.Duration, wall *time.Time, ob *memOutbox, clock *steadyClock) (*processor, *metrics) {
	t.Helper()
	dir := t.TempDir()
	site, rulesFile := edgetest.WriteFiles(t, dir)
	writeFile(t, rulesFile, edgetest.Rules+gatewayRule)
	cfg := DefaultConfig()
	cfg.Gateway = "gw"
	cfg.Sites = []string{site}
	cfg.Rules.DefaultPack = false
	cfg.Rules.Paths = []string{rulesFile}
	cfg.Outbox.Path = filepath.Join(dir, "outbox.db")
	cfg.Ingest.MaxFutureSkew = skew
	cfg.NATS.URL = "nats://127.0.0.1:4222" // not dialled
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l, err := loadRules(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(prometheus.NewRegistry())
	p := newProcessor(&cfg, quiet, func() time.Time { return *wall }, m, ob)
	if clock != nil {
		p.behind, p.clock = clock.Behind, clock
	}
	if err := p.start(l); err != nil {
		t.Fatal(err)
	}
	return p, m
}

// storeMessage is one reading of each cooler's temperature and door at at.
func storeMessage(at time.Time, door float64) []rules.Reading {
	var rs []rules.Reading
	for _, a := range []string{"wic1", "wic2"} {
		rs = append(rs,
			rules.Reading{Site: "s1", Asset: a, Metric: rules.LookupMetric("air_temp"), At: at, Value: 3.5},
			rules.Reading{Site: "s1", Asset: a, Metric: rules.LookupMetric("door_open"), At: at, Value: door})
	}
	return rs
}

// TestFarFutureReadingsDropped is issue 15 item 11's repro: three readings
// stamped 2199-01-01 (door open) among a store's real ones. They are
// counted and dropped; the real readings before and after are all taken,
// none refused as late; and no gateway_offline or door_ajar opens, at 2199
// or at all, while the clock ticks on for an hour. Without the bound the
// first two 2199 readings moved the site's event clock to 2199: every real
// reading after was late, and the tick raised both false incidents.
func TestFarFutureReadingsDropped(t *testing.T) {
	future := time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		skew time.Duration
		// wantFuture is how many readings are dropped as future; falsePos
		// whether the false incidents are expected (the bound is off).
		wantFuture float64
		falsePos   bool
	}{
		{"default bound", DefaultConfig().Ingest.MaxFutureSkew, 3 * 4, false},
		{"bound off", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wall := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
			p, m, ob := clockProcessor(t, tc.skew, &wall)
			acks, sent := 0, 0
			send := func(rs []rules.Reading) {
				t.Helper()
				p.handleAt(ingest.NewMessage(rs, func() { acks++ }), wall)
				sent++
				if err := p.commit(); err != nil {
					t.Fatal(err)
				}
			}
			// Ten minutes of real readings, each at the wall clock.
			for range 20 {
				wall = wall.Add(30 * time.Second)
				send(storeMessage(wall, 0))
				p.tick(wall)
			}
			for range 3 {
				send(storeMessage(future, 1))
			}
			// An hour more of real readings, the clock ticking between.
			for range 120 {
				wall = wall.Add(30 * time.Second)
				send(storeMessage(wall, 0))
				p.tick(wall.Add(10 * time.Second))
				if err := p.commit(); err != nil {
					t.Fatal(err)
				}
			}
			if acks != sent {
				t.Errorf("%d messages acknowledged, want all %d (dropped readings are acknowledged)", acks, sent)
			}
			if got := testutil.ToFloat64(m.readingsFuture); got != tc.wantFuture {
				t.Errorf(`readings{result="future"} = %v, want %v`, got, tc.wantFuture)
			}
			var bad []string
			for _, d := range ob.data {
				inc, err := wire.DecodeIncident(d)
				if err != nil {
					t.Fatal(err)
				}
				if inc.Problem == "gateway_offline" || inc.Problem == "door_ajar" || inc.At.Year() > 2100 {
					bad = append(bad, inc.Rule+" "+string(inc.Event.Event)+" at "+inc.At.Format(time.RFC3339))
				}
			}
			late := testutil.ToFloat64(m.readings.WithLabelValues("late"))
			if !tc.falsePos {
				if late != 0 {
					t.Errorf("%v real readings refused as late after the 2199 ones", late)
				}
				if got, want := testutil.ToFloat64(m.readingsOK), float64(140*4); got != want {
					t.Errorf(`readings{result="ok"} = %v, want %v`, got, want)
				}
				if len(bad) > 0 {
					t.Errorf("false incidents: %v", bad)
				}
				if wm := p.eng.Watermark(); wm.After(wall.Add(tc.skew)) {
					t.Errorf("event clock %v is past the wall clock %v plus the skew", wm, wall)
				}
				return
			}
			// The bound off shows what the repro did: the test would
			// catch it.
			if late == 0 || len(bad) == 0 {
				t.Errorf("without the bound: %v late, false incidents %v; the repro no longer reproduces", late, bad)
			}
		})
	}
}

// TestEventNowBounded: the clock tick never moves event time past the wall
// clock plus the skew, even from a rule state that is already ahead (one
// restored from before the bound).
func TestEventNowBounded(t *testing.T) {
	wall := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	p := processor{maxAhead: 5 * time.Minute}
	p.lastEvent, p.lastArrival = time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC), wall
	if at, ok := p.eventNow(wall.Add(time.Minute)); !ok || !at.Equal(wall.Add(6*time.Minute)) {
		t.Errorf("eventNow = %v, want the wall clock plus 5m", at)
	}
	p.maxAhead = 0
	if at, _ := p.eventNow(wall.Add(time.Minute)); at.Year() != 2199 {
		t.Errorf("unbounded eventNow = %v, want 2199", at)
	}
}

// TestAgentFutureReadingsMosquitto runs the repro through Debian's
// mosquitto and a real agent on the real wall clock: three messages
// stamped 2199-01-01 among real ones. They are dropped and counted; every
// real reading after them is taken (before the bound, all were refused as
// late); nothing stamped 2199 reaches JetStream.
func TestAgentFutureReadingsMosquitto(t *testing.T) {
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	dir := t.TempDir()
	cfg := testConfig(t, dir, broker, ns.ClientURL())
	cfg.Rules.Tick = 20 * time.Millisecond
	writeFile(t, filepath.Join(dir, "rules", "test.yaml"), edgetest.Rules+gatewayRule)
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	msg := func(at time.Time, door int) edgetest.Message {
		payload := fmt.Sprintf(`{"ts":%q,"values":{"air_temp":3.5,"door_open":%d}}`, at.Format(time.RFC3339Nano), door)
		return edgetest.Message{Topic: "sites/s1/assets/wic1", Payload: []byte(payload)}
	}
	pub := edgetest.NewPublisher(t, broker)
	var real []edgetest.Message
	for range 5 {
		real = append(real, msg(time.Now(), 0))
		time.Sleep(5 * time.Millisecond)
	}
	pub.Publish(t, real)
	future := time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)
	pub.Publish(t, []edgetest.Message{msg(future, 1), msg(future, 1), msg(future, 1)})
	real = real[:0]
	for range 5 {
		time.Sleep(5 * time.Millisecond)
		real = append(real, msg(time.Now(), 0))
	}
	pub.Publish(t, real)

	metric := func(body, name string) string {
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				return v
			}
		}
		return ""
	}
	var body string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body = get(t, base+"/metrics")
		ok := metric(body, `frostline_edge_readings_total{result="ok"}`)
		late := metric(body, `frostline_edge_readings_total{result="late"}`)
		if ok == "20" || late != "0" || time.Now().After(deadline) {
			break
		}
	}
	for name, want := range map[string]string{
		`frostline_edge_readings_total{result="ok"}`:     "20",
		`frostline_edge_readings_total{result="future"}`: "6",
		`frostline_edge_readings_total{result="late"}`:   "0",
	} {
		if got := metric(body, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	r.stop(t)
	_, data := edgetest.StreamMessages(t, ns.ClientURL(), wire.IncidentStream)
	for _, d := range data {
		inc, err := wire.DecodeIncident(d)
		if err != nil {
			t.Fatal(err)
		}
		if inc.At.Year() > 2100 {
			t.Errorf("incident event stamped %v reached JetStream: %s %s", inc.At, inc.Rule, inc.Event.Event)
		}
	}
}
