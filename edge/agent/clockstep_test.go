package agent

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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

// fakeClocks are a wall clock the test steps and a monotonic clock that
// only moves on.
type fakeClocks struct {
	wall time.Time
	mono time.Duration
}

func (f *fakeClocks) advance(d time.Duration) { f.wall, f.mono = f.wall.Add(d), f.mono+d }

func (f *fakeClocks) clock(reg prometheus.Registerer) *steadyClock {
	return newSteadyClock(func() time.Time { return f.wall }, func() time.Duration { return f.mono }, quiet, reg)
}

// TestSteadyClock: a step of the wall clock is slewed, never taken: back,
// the clock runs at half speed until the wall clock catches up; forward,
// at double speed until it has caught up. Steps beyond maxSlew are taken.
func TestSteadyClock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		step      time.Duration
		catchUp   time.Duration // how long until it tells the wall time again
		taken     bool
		maxBehind time.Duration
	}{
		{"back 3h", -3 * time.Hour, 6 * time.Hour, false, 0},
		{"forward 3h", 3 * time.Hour, 3 * time.Hour, false, 3 * time.Hour},
		{"back 2 days", -48 * time.Hour, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeClocks{wall: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
			reg := prometheus.NewRegistry()
			c := f.clock(reg)
			prev := c.Now()
			f.advance(30 * time.Second)
			f.wall = f.wall.Add(tc.step)
			var caught time.Duration
			for elapsed := time.Duration(0); elapsed < 8*time.Hour; elapsed += 30 * time.Second {
				now := c.Now()
				if now.Before(prev) && !tc.taken {
					t.Fatalf("clock went back from %v to %v", prev, now)
				}
				if b := c.Behind(); b > tc.maxBehind+time.Minute {
					t.Fatalf("behind the wall clock by %v", b)
				}
				if now.Equal(f.wall) && caught == 0 {
					caught = elapsed
				}
				prev = now
				f.advance(30 * time.Second)
			}
			if d := caught - tc.catchUp; d < -time.Minute || d > time.Minute {
				t.Errorf("caught up with the wall clock after %v, want %v", caught, tc.catchUp)
			}
			if got := testutil.ToFloat64(c.step); got != 1 {
				t.Errorf("frostline_edge_clock_steps_total = %v, want 1", got)
			}
		})
	}
}

// TestClockStepKeepsEventTime: the gateway's wall clock is stepped by hours
// either way (NTP correcting a drifted clock) while a cooler is too warm,
// its readings stamped by the gateway (they carry no time). With the
// steady clock nothing is refused as late, no missing-data rule speaks,
// and the warm episode opens once and clears once under one incident id
// with contiguous sequences. On the raw wall clock the same run loses
// readings as late (a step back) or raises a false gateway_offline (a step
// forward): the test would catch a regression.
//
// The restart cases kill the agent 20 minutes after the step, while the
// clock still slews, and start a new one (a new monotonic clock, the
// outbox's checkpoint and input log): it resumes the clock's offset from
// them and the run is as without the restart. Without the resume (the
// "clock not kept" cases) the restart takes the step at once, and the same
// faults appear.
func TestClockStepKeepsEventTime(t *testing.T) {
	const (
		kept    = 1 // a restart while slewing, the clock resumed
		notKept = 2 // a restart while slewing, the clock not resumed
	)
	for _, tc := range []struct {
		name    string
		step    time.Duration
		steady  bool
		restart int
	}{
		{"back 3h", -3 * time.Hour, true, 0},
		{"forward 3h", 3 * time.Hour, true, 0},
		{"back 6h", -6 * time.Hour, true, 0},
		{"forward 5h", 5 * time.Hour, true, 0},
		{"back 3h, raw wall clock", -3 * time.Hour, false, 0},
		{"forward 3h, raw wall clock", 3 * time.Hour, false, 0},
		{"back 3h, restart while slewing", -3 * time.Hour, true, kept},
		{"forward 3h, restart while slewing", 3 * time.Hour, true, kept},
		{"back 3h, restart while slewing, clock not kept", -3 * time.Hour, false, notKept},
		{"forward 3h, restart while slewing, clock not kept", 3 * time.Hour, false, notKept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeClocks{wall: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
			now := func() time.Time { return f.wall }
			var clock *steadyClock
			if tc.steady || tc.restart != 0 {
				clock = f.clock(nil)
				now = clock.Now
			}
			var arrival time.Time
			skew := DefaultConfig().Ingest.MaxFutureSkew
			ob := &memOutbox{}
			p, m := clockProcessorOn(t, skew, &arrival, ob, clock)
			var late float64
			sent := 0
			send := func(temp float64) {
				t.Helper()
				arrival = now() // the decoder stamps with the clock, as it does a reading with no time
				var rs []rules.Reading
				for _, a := range []string{"wic1", "wic2"} {
					v := 3.5
					if a == "wic1" {
						v = temp
					}
					rs = append(rs,
						rules.Reading{Site: "s1", Asset: a, Metric: rules.LookupMetric("air_temp"), At: arrival, Value: v},
						rules.Reading{Site: "s1", Asset: a, Metric: rules.LookupMetric("door_open"), At: arrival, Value: 0})
				}
				p.handleAt(ingest.NewMessage(rs, func() {}), arrival)
				sent += len(rs)
				p.tick(now())
				if err := p.commit(); err != nil {
					t.Fatal(err)
				}
			}
			// 40 minutes: warm from minute 20; the step at minute 30; warm
			// until minute 60, then 90 minutes in range.
			for i := range 300 {
				if i == 60 {
					f.wall = f.wall.Add(tc.step)
				}
				if i == 100 && tc.restart != 0 {
					// A new process: a monotonic clock from zero.
					late += testutil.ToFloat64(m.readings.WithLabelValues("late"))
					base := f.mono
					clock = newSteadyClock(func() time.Time { return f.wall }, func() time.Duration { return f.mono - base }, quiet, nil)
					now = clock.Now
					keep := clock
					if tc.restart == notKept {
						keep = nil
					}
					p, m = clockProcessorOn(t, skew, &arrival, ob, keep)
				}
				temp := 3.5
				if i >= 40 && i < 120 {
					temp = 9.5
				}
				send(temp)
				f.advance(30 * time.Second)
				if i%2 == 0 { // ticks between readings too
					p.tick(now())
				}
			}
			late += testutil.ToFloat64(m.readings.WithLabelValues("late"))
			var warm []string
			var other []string
			ids := map[string]bool{}
			var lastAt time.Time
			for i, d := range ob.data {
				inc, err := wire.DecodeIncident(d)
				if err != nil {
					t.Fatal(err)
				}
				if ids[ob.incidents[i]] {
					t.Errorf("message id %s twice", ob.incidents[i])
				}
				ids[ob.incidents[i]] = true
				if inc.At.Before(lastAt) {
					t.Errorf("incident event at %v after one at %v", inc.At, lastAt)
				}
				lastAt = inc.At
				if inc.Rule == "temp-high" && inc.Asset == "wic1" {
					warm = append(warm, ob.incidents[i]+" "+string(inc.Event.Event))
				} else {
					other = append(other, inc.Rule+" "+inc.Asset+" "+string(inc.Event.Event))
				}
			}
			t.Logf("late %v, warm cooler %v, others %v", late, warm, other)
			if !tc.steady {
				if late == 0 && len(other) == 0 {
					t.Errorf("on the raw wall clock the step lost nothing and raised nothing: the test no longer shows the fault")
				}
				return
			}
			if late != 0 {
				t.Errorf("%v readings refused as late after the step", late)
			}
			if got := testutil.ToFloat64(m.readingsOK); got != float64(sent) && tc.restart == 0 {
				t.Errorf("readings ok = %v, want all %d", got, sent)
			}
			if len(other) > 0 {
				t.Errorf("incidents other than the warm cooler's: %v", other)
			}
			if len(warm) < 2 || warm[0][len(warm[0])-6:] != "opened" || warm[len(warm)-1][len(warm[len(warm)-1])-7:] != "cleared" {
				t.Fatalf("warm cooler's events %v, want one episode opened then cleared", warm)
			}
			id := warm[0][:len(warm[0])-len("-1 opened")]
			for i, w := range warm {
				if want := id + "-" + strconv.Itoa(i+1); w[:len(want)] != want {
					t.Errorf("event %d is %s, want %s...: one incident, contiguous sequences", i, w, want)
				}
			}
		})
	}
}

// TestAgentClockStepMosquitto: a real agent behind Debian's mosquitto, its
// wall clock stepped back 3 hours and then forward 5 while devices publish
// readings with no time of their own. On the agent's steady clock every
// reading is taken and none refused as late, the steps are counted, and no
// incident reaches JetStream; on the raw wall clock the step back loses
// readings as late.
func TestAgentClockStepMosquitto(t *testing.T) {
	broker := testserver.Mosquitto(t)
	for _, steady := range []bool{true, false} {
		t.Run(map[bool]string{true: "steady clock", false: "raw wall clock"}[steady], func(t *testing.T) {
			ns := testserver.NATS(t, t.TempDir(), -1)
			dir := t.TempDir()
			cfg := testConfig(t, dir, broker, ns.ClientURL())
			cfg.MQTT.ClientID = "clock-" + strconv.FormatBool(steady)
			cfg.Rules.Tick = 20 * time.Millisecond
			writeFile(t, filepath.Join(dir, "rules", "test.yaml"), edgetest.Rules+gatewayRule)
			var offset atomic.Int64
			start := time.Now()
			wall := func() time.Time { return time.Now().Round(0).Add(time.Duration(offset.Load())) }
			reg := prometheus.NewRegistry()
			c := newSteadyClock(wall, func() time.Duration { return time.Since(start) }, quiet, reg)
			now := wall
			if steady {
				now = c.Now
			}
			ctx, cancel := context.WithCancel(context.Background())
			r := &running{cancel: cancel, done: make(chan error, 1), addr: make(chan string, 1)}
			r.agent = New(cfg, quiet, Options{Now: now, Registry: reg, HTTPListening: func(a string) { r.addr <- a }})
			go func() { r.done <- r.agent.Run(ctx) }()
			base := "http://" + <-r.addr
			waitReady(t, base)
			pub := edgetest.NewPublisher(t, broker)
			burst := func() {
				var msgs []edgetest.Message
				for range 10 {
					msgs = append(msgs, edgetest.Message{Topic: "sites/s1/assets/wic1", Payload: []byte(`{"values":{"air_temp":3.5,"door_open":0}}`)})
				}
				for _, m := range msgs {
					pub.Publish(t, []edgetest.Message{m})
					time.Sleep(10 * time.Millisecond)
				}
			}
			burst()
			offset.Store(int64(-3 * time.Hour))
			burst()
			offset.Store(int64(2 * time.Hour)) // 5 h forward from there
			burst()
			metric := func(name string) string {
				_, body := get(t, base+"/metrics")
				for _, l := range strings.Split(body, "\n") {
					if v, ok := strings.CutPrefix(l, name+" "); ok {
						return v
					}
				}
				return ""
			}
			ok, late := `frostline_edge_readings_total{result="ok"}`, `frostline_edge_readings_total{result="late"}`
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if n, _ := strconv.Atoi(metric(ok)); n+func() int { n, _ := strconv.Atoi(metric(late)); return n }() >= 60 {
					break
				}
			}
			gotOK, gotLate := metric(ok), metric(late)
			steps := metric("frostline_edge_clock_steps_total")
			r.stop(t)
			_, data := edgetest.StreamMessages(t, ns.ClientURL(), wire.IncidentStream)
			if !steady {
				if gotLate == "0" || gotLate == "" {
					t.Errorf("raw wall clock: ok %s, late %s; the step back no longer loses readings: the test shows nothing", gotOK, gotLate)
				}
				return
			}
			if gotOK != "60" || gotLate != "0" {
				t.Errorf("readings ok %s late %s, want 60 and 0", gotOK, gotLate)
			}
			if steps != "2" {
				t.Errorf("frostline_edge_clock_steps_total = %s, want 2", steps)
			}
			for _, d := range data {
				inc, err := wire.DecodeIncident(d)
				if err != nil {
					t.Fatal(err)
				}
				t.Errorf("incident from a clock step: %s %s %s at %v", inc.Rule, inc.Asset, inc.Event.Event, inc.At)
			}
		})
	}
}

// TestSteadyClockResume: a new process's clock resumes the offset a
// checkpoint recorded (State) and slews on from it; time while down is
// what the wall clock says passed; a wall clock stepped back while down
// leaves the clock where it was; an offset beyond maxSlew is dropped.
func TestSteadyClockResume(t *testing.T) {
	w0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		at         time.Time // the state: the clock's time and the wall's
		wall       time.Time
		wallNow    time.Time // the wall clock at the restart
		want       time.Time
		wantBehind time.Duration
	}{
		{"ahead, down a minute", w0.Add(3 * time.Hour), w0, w0.Add(time.Minute), w0.Add(3*time.Hour + time.Minute), 0},
		{"behind, down a minute", w0, w0.Add(3 * time.Hour), w0.Add(3*time.Hour + time.Minute), w0.Add(time.Minute), 3 * time.Hour},
		{"in step", w0, w0, w0.Add(time.Minute), w0.Add(time.Minute), 0},
		{"wall stepped back while down", w0, w0, w0.Add(-2 * time.Hour), w0, 0},
		{"beyond maxSlew", w0.Add(48 * time.Hour), w0, w0, w0, 0},
		{"no state", time.Time{}, time.Time{}, w0, w0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeClocks{wall: tc.wallNow, mono: 5 * time.Second}
			c := f.clock(nil)
			c.Resume(tc.at, tc.wall)
			if got := c.Now(); !got.Equal(tc.want) {
				t.Errorf("Now() = %v, want %v", got, tc.want)
			}
			if got := c.Behind(); got != tc.wantBehind {
				t.Errorf("Behind() = %v, want %v", got, tc.wantBehind)
			}
			// It slews on from there, never back.
			prev := c.Now()
			for range 100 {
				f.advance(time.Minute)
				now := c.Now()
				if now.Before(prev) {
					t.Fatalf("went back from %v to %v", prev, now)
				}
				prev = now
			}
		})
	}
}

// TestCheckpointCarriesClock: a checkpoint (not only the input log) keeps
// the clock's state, and a restart resumes it.
func TestCheckpointCarriesClock(t *testing.T) {
	f := &fakeClocks{wall: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
	c := f.clock(nil)
	c.Now()
	f.advance(time.Minute)
	f.wall = f.wall.Add(-3 * time.Hour)
	ahead := c.Now() // slewing: 3 h ahead of the wall clock
	ob := &memOutbox{}
	var arrival time.Time
	p, _ := clockProcessorOn(t, time.Minute, &arrival, ob, c)
	p.forceCheckpoint = true
	if err := p.commit(); err != nil {
		t.Fatal(err)
	}
	if len(ob.input) != 0 || ob.cp == nil {
		t.Fatalf("want a checkpoint and no input log, have %d inputs", len(ob.input))
	}
	f.advance(time.Minute)
	base := f.mono
	c2 := newSteadyClock(func() time.Time { return f.wall }, func() time.Duration { return f.mono - base }, quiet, nil)
	clockProcessorOn(t, time.Minute, &arrival, ob, c2)
	if got, want := c2.Now(), ahead.Add(time.Minute); !got.Equal(want) {
		t.Errorf("resumed clock %v, want %v (3 h ahead of the wall clock %v)", got, want, f.wall)
	}
}
