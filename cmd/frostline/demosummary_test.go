package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud/workorder"
)

func TestTally(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	wos := []*workorder.WorkOrder{
		{Source: workorder.Sensor, Status: workorder.Verified, DispatchedAt: &at, VerifiedAt: &at, Reports: 2},
		{Source: workorder.Sensor, Status: workorder.Avoided},
		{Source: workorder.Manual, Status: workorder.InProgress, DispatchedAt: &at, Reports: 3},
		{Source: workorder.Manual, Status: workorder.Duplicate, Reports: 1},
		{Source: workorder.Preventive, Status: workorder.New},
	}
	got := tally(wos)
	want := demoTally{Created: 5, Dispatched: 2, Verified: 1, Avoided: 1, Duplicates: 1, Joined: 4}
	if got != want {
		t.Fatalf("tally = %+v, want %+v", got, want)
	}
	if got.TruckRolls() != 6 {
		t.Errorf("truck rolls saved = %d, want 6 (1 avoided + 1 duplicate + 4 joined reports)", got.TruckRolls())
	}
	var b strings.Builder
	printSummary(&b, got)
	for _, line := range []string{"created         5", "dispatched      2", "verified        1", "avoided         1",
		"Truck rolls saved: 6   (1 avoided, 1 duplicates, 4 staff reports joined"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("summary lacks %q:\n%s", line, b.String())
		}
	}
	if n := strings.Count(b.String(), "\n"); n > 24 {
		t.Errorf("summary is %d lines, more than a screen", n)
	}
}

// readingsBy is frostline_edge_readings_total{result} in reg.
func readingsBy(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "frostline_edge_readings_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDemoHandReading publishes the banner's mosquitto_pub line, as a
// newcomer following the README does, while the simulation runs twenty
// times ahead of the wall clock. The edge must evaluate it, not refuse
// it as late, and the demo must say that it arrived. Then the demo
// stops and its summary counts what the store holds.
func TestDemoHandReading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about ten seconds")
	}
	f, err := parseDemoFlags([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0",
		"--speed", "1200", "--preroll", "1h"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	d, err := newDemo(f, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(60 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("no %s within 60s:\n%s", what, out.String())
			}
		}
	}
	waitFor("live simulation", func() bool { return strings.Contains(out.String(), "simulation live") })
	// Two real seconds live are forty simulated minutes: a reading
	// stamped with the wall clock is well past the rules' lateness.
	time.Sleep(2 * time.Second)
	if ahead := d.clock.now().Sub(time.Now()); ahead < 10*time.Minute {
		t.Fatalf("the simulation is only %s ahead of the wall clock; the test proves nothing", ahead)
	}
	m := regexp.MustCompile(`mosquitto_pub -h (\S+) -p (\d+) -u (\S+) -P (\S+) -q 1 -t (\S+) -m '([^']+)'`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no mosquitto_pub line in the banner:\n%s", out.String())
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s:%s", m[1], m[2])).
		SetClientID("by-hand").SetUsername(m[3]).SetPassword(m[4]).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect with the banner's credentials: %v", tok.Error())
	}
	defer c.Disconnect(0)
	reg := d.regs[0] // the banner's store is the first
	lateBefore, okBefore := readingsBy(t, reg, "late"), readingsBy(t, reg, "ok")
	if tok := c.Publish(m[5], 1, false, m[6]); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitFor("notice of the reading by hand", func() bool { return strings.Contains(out.String(), "reading by hand on "+m[5]) })
	waitFor("evaluated reading", func() bool { return readingsBy(t, reg, "ok") > okBefore })
	// The simulator publishes on too; give the agent a moment to take
	// (or refuse) the reading by hand.
	time.Sleep(500 * time.Millisecond)
	if late := readingsBy(t, reg, "late"); late != lateBefore {
		t.Errorf("%v readings refused as late after the reading by hand (was %v)", late, lateBefore)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	wos, err := allWorkOrders(context.Background(), d.cloud.Store())
	if err != nil {
		t.Fatal(err)
	}
	want := tally(wos)
	line := fmt.Sprintf("Truck rolls saved: %d   (%d avoided, %d duplicates, %d staff reports joined", want.TruckRolls(),
		want.Avoided, want.Duplicates, want.Joined)
	for _, s := range []string{fmt.Sprintf("created      %4d", want.Created), fmt.Sprintf("verified     %4d", want.Verified), line} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
}
