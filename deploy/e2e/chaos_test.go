package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChaos is the chaos drill of issue 20: the store of
// TestCompressorFailure, with a seeded schedule of faults while its
// compressor fails and recovers: SIGKILLs of the edge agent and of either
// cloud replica, and outages of nats-server, each followed by a restart.
// Then the same checks against the oracle: every incident event in
// JetStream once, each incident on one work order, every notice once, the
// rollups and annotations in InfluxDB, the work order through dispatch,
// acceptance, completion and verification.
//
// By default (make test) it runs the 10.5 simulated hours in about half a
// minute with a fault every few seconds. `make chaos` runs it longer:
// FROSTLINE_CHAOS_SPEED (simulated minutes per real minute, default 1200)
// slows the store down and FROSTLINE_CHAOS_SEED (default 1) picks the
// schedule; a failure names the seed and every fault in the log.
func TestChaos(t *testing.T) {
	seed, speed := envOr("FROSTLINE_CHAOS_SEED", "1"), envOr("FROSTLINE_CHAOS_SPEED", speed)
	n, err := strconv.ParseUint(seed, 10, 64)
	if err != nil {
		t.Fatalf("FROSTLINE_CHAOS_SEED=%q: %v", seed, err)
	}
	w := setUp(t, speed)
	rng := rand.New(rand.NewPCG(n, 20))
	pause := func(lo, hi time.Duration) { time.Sleep(lo + time.Duration(rng.Int64N(int64(hi-lo)))) }
	counts := map[string]int{}
	var order []int // each kind of fault once per round, in a shuffled order
	for {
		pause(1500*time.Millisecond, 4*time.Second)
		if gone, how := w.sim.exited(); gone {
			if !strings.Contains(how, "exit status 0") {
				t.Fatalf("the simulator failed (%s):\n%s", how, tail(w.sim.log, 40))
			}
			break
		}
		if len(order) == 0 {
			order = rng.Perm(4)
		}
		f := order[0]
		order = order[1:]
		switch f {
		case 0:
			w.edge.kill()
			w.edgeKills++
			pause(200*time.Millisecond, 2*time.Second)
			w.edge.start()
			waitReady(t, w.edge, w.edgeReady, 30*time.Second)
			counts["edge SIGKILL"]++
		case 1, 2:
			p, url := w.cloudA, w.urlA
			if f == 2 {
				p, url = w.cloudB, w.urlB
			}
			p.kill()
			pause(200*time.Millisecond, 2*time.Second)
			p.start()
			waitReady(t, p, url+"/readyz", 60*time.Second)
			counts[p.name+" SIGKILL"]++
		case 3:
			w.nats.kill()
			pause(2*time.Second, 6*time.Second)
			w.nats.start()
			waitTCP(t, w.nats, strings.TrimPrefix(w.natsURL, "nats://"), 15*time.Second)
			counts["nats-server outage"]++
		}
		w.step("faults so far (seed %s): %v", seed, counts)
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	if total < 3 {
		t.Fatalf("only %d faults while the simulation ran (seed %s): the drill drilled nothing", total, seed)
	}
	w.alive(w.edge, w.cloudA, w.cloudB, w.nats)

	var wo workOrder
	poll(t, 120*time.Second, "a dispatched P1 work order for the cooler", func() string {
		wos, err := w.admin.workOrders(cooler())
		if err != nil {
			return err.Error()
		}
		if len(wos) > 1 {
			t.Fatalf("%d work orders for the cooler, want one: %s", len(wos), describe(wos))
		}
		if len(wos) == 0 || wos[0].Priority != "P1" || wos[0].Status != "dispatched" {
			return "no dispatched P1 yet: " + describe(wos)
		}
		wo = wos[0]
		return ""
	})
	w.vendor.act(wo.ID, "accept", map[string]any{"technician": w.vend.technician})
	w.vendor.act(wo.ID, "check_in", map[string]any{"lat": 41.8784, "lon": -87.6302})
	w.step("work order #%d dispatched to %s, accepted and checked in on", wo.Number, wo.Vendor)
	w.finish(wo)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
