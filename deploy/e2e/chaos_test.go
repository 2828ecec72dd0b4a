package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/postgres/pgtest"
)

// TestChaos is the chaos drill of issue 20: a fleet of stores on one
// gateway, two cloud replicas on PostgreSQL 15, NATS, InfluxDB and a
// webhook receiver, each a real server, through a seeded schedule of
// faults while the stores' equipment fails and recovers: SIGKILLs of the
// edge agent and of either replica, nats-server outages and immediate
// PostgreSQL restarts, each followed by a restart. Meanwhile a bot plays
// the people (bot), and the vendor register and triage timers (fleetTriage)
// are set so that hold-offs end, offers are made and time out, work
// orders are dispatched by hand, completed, verified by the sensors or a
// person, and recalled, all under the faults; the test counts each.
//
// Then, against the oracle (the same readings replayed offline): every
// incident event in JetStream exactly once; every incident on exactly one
// work order, which carries its last event; every notable work-order
// event published once as a notice and delivered to each webhook
// subscription that sees it (at least once, always under the same
// Frostline-Delivery id: exactly once after the receiver's dedup, which
// is the contract); every minute of every asset's air temperature in
// InfluxDB once (none lost at an edge SIGKILL), and none the oracle lacks.
//
// By default (make test) it runs two stores for 36 s of simulation at
// 1200x (12 simulated hours) with a fault every few seconds: about a
// minute and a half in all. `make chaos` runs it longer:
// FROSTLINE_CHAOS_STORES, FROSTLINE_CHAOS_DURATION (real time of the
// simulation), FROSTLINE_CHAOS_SPEED (simulated minutes per real minute)
// and FROSTLINE_CHAOS_SEED (the schedule and the readings); a failure
// names the seed and every fault is in the log.
func TestChaos(t *testing.T) {
	seedS := envOr("FROSTLINE_CHAOS_SEED", "1")
	seed, err := strconv.ParseUint(seedS, 10, 64)
	if err != nil {
		t.Fatalf("FROSTLINE_CHAOS_SEED=%q: %v", seedS, err)
	}
	stores := envInt(t, "FROSTLINE_CHAOS_STORES", 2)
	duration := envDuration(t, "FROSTLINE_CHAOS_DURATION", 36*time.Second)
	speed, err := strconv.ParseFloat(envOr("FROSTLINE_CHAOS_SPEED", speed), 64)
	if err != nil || speed <= 0 {
		t.Fatalf("FROSTLINE_CHAOS_SPEED: want a positive number")
	}
	span := time.Duration(float64(duration) * speed).Truncate(time.Hour)
	if span < 12*time.Hour {
		t.Fatalf("%s at %gx is %s of simulated time; the drill needs 12 h at least", duration, speed, span)
	}
	f := setUpFleet(t, stores, span, speed, seed)
	b := f.startBot()
	defer b.stop()

	rng := rand.New(rand.NewPCG(seed, 20))
	pause := func(lo, hi time.Duration) { time.Sleep(lo + time.Duration(rng.Int64N(int64(hi-lo)))) }
	faults := map[string]int{}
	var order []int // each kind of fault once per round, in a shuffled order
	began := time.Now()
	for {
		pause(1500*time.Millisecond, 4*time.Second)
		if gone, how := f.sim.exited(); gone {
			if !strings.Contains(how, "exit status 0") {
				t.Fatalf("the simulator failed (%s):\n%s", how, tail(f.sim.log, 40))
			}
			break
		}
		if len(order) == 0 {
			order = rng.Perm(5)
		}
		k := order[0]
		order = order[1:]
		switch k {
		case 0:
			f.edge.kill()
			f.edgeKills++
			pause(200*time.Millisecond, 2*time.Second)
			f.edge.start()
			waitReady(t, f.edge, f.edgeReady, 30*time.Second)
			faults["edge SIGKILL"]++
		case 1, 2:
			p, url := f.cloudA, f.urlA
			if k == 2 {
				p, url = f.cloudB, f.urlB
			}
			p.kill()
			pause(200*time.Millisecond, 2*time.Second)
			p.start()
			waitReady(t, p, url+"/readyz", 60*time.Second)
			faults[p.name+" SIGKILL"]++
		case 3:
			f.nats.kill()
			pause(2*time.Second, 6*time.Second)
			f.nats.start()
			waitTCP(t, f.nats, strings.TrimPrefix(f.natsURL, "nats://"), 15*time.Second)
			faults["nats-server outage"]++
		case 4:
			// Immediate shutdown: every connection cut mid-transaction,
			// crash recovery at start. The replicas must ride through it
			// without a restart.
			pgtest.Restart(t, 500*time.Millisecond+time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
			faults["postgres restart"]++
			waitReady(t, f.cloudA, f.urlA+"/readyz", 60*time.Second)
			waitReady(t, f.cloudB, f.urlB+"/readyz", 60*time.Second)
		}
		f.alive(f.edge, f.cloudA, f.cloudB, f.nats)
		f.step("faults so far (seed %d): %v", seed, faults)
	}
	simulated := time.Since(began)
	total := 0
	for _, c := range faults {
		total += c
	}
	if total < 5 {
		t.Fatalf("only %d faults while the simulation ran (seed %d): the drill drilled nothing", total, seed)
	}
	f.step("simulation over after %s: %d faults %v", simulated.Round(time.Second), total, faults)

	// The drain: the bot carries on until every incident the oracle names
	// is on a work order carrying its last event, and every work order is
	// at rest (verified, avoided, closed, or in progress on a problem
	// that has not cleared).
	var wos []workOrder
	poll(t, 3*time.Minute, "every incident on a work order and every work order at rest", func() string {
		f.alive(f.edge, f.cloudA, f.cloudB, f.nats)
		var err error
		if wos, err = b.listAll(); err != nil {
			return err.Error()
		}
		if d := fleetEvidenceDiff(wos, f.want.last()); d != "" {
			return d
		}
		for _, w := range wos {
			switch {
			case w.Status == "verified" || w.Status == "avoided" || w.Status == "closed":
			case w.Status == "in_progress" && !allCleared(w):
			default:
				acts, fails := b.counts()
				var trail []string
				var evs struct {
					Items []woEvent `json:"items"`
				}
				if _, err := b.call(b.admins, "GET", "/api/v1/workorders/"+w.ID+"/events", nil, &evs); err == nil {
					for _, e := range evs.Items {
						trail = append(trail, fmt.Sprintf("%s %s %s->%s %s (%s)", e.Kind, e.Action, e.From, e.To, e.Vendor, e.Reason))
					}
				}
				return fmt.Sprintf("work order #%d (%s %s %s) is %s %s (the bot's actions %v, refused or failed %v); its events: %s",
					w.Number, w.Site, w.Asset, w.Priority, w.Status, w.Vendor, acts, fails, strings.Join(trail, "; "))
			}
		}
		return ""
	})
	b.stop()
	acts, fails := b.counts()
	f.step("drained: %d work orders; the bot's actions %v, refused or failed %v", len(wos), acts, fails)

	timers, evs := f.checkWorkOrders(wos)
	f.checkFleetStreams(wos, evs)
	deliveries, dups := f.checkWebhooks(wos, evs)
	points, lost := f.checkFleetInflux()
	f.r.checkLogs("edge", "cloud-a", "cloud-b", "sim")

	notable := 0
	for _, es := range evs {
		for _, e := range es {
			if notableEvent(e) {
				notable++
			}
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.step("FIGURES seed %d, %d stores, %s simulated in %s at %gx: faults %d %v; incident events %d, incidents %d; "+
		"work orders %d, work-order events %d (notable %d); timers %v; webhook deliveries %d (%d redelivered under the same id); "+
		"rollup points %d (%d missing, 0 doubled); children CPU %.0f s user + %.0f s sys, peak child RSS %d MB",
		seed, stores, span, simulated.Round(time.Second), speed, total, faults, len(f.want.events), len(f.want.last()),
		len(wos), countEvents(evs), notable, timers, deliveries, dups, points, lost,
		float64(ru.Utime.Sec), float64(ru.Stime.Sec), ru.Maxrss/1024)
}

func countEvents(evs map[string][]woEvent) int {
	n := 0
	for _, es := range evs {
		n += len(es)
	}
	return n
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
