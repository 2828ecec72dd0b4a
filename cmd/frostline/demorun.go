package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// demoBroker is the embedded MQTT broker the stores' sensors publish to.
type demoBroker struct {
	srv  *mqtt.Server
	addr string
	// passwords are the broker's users' (gw-<site>, ctl-<site>), made
	// afresh at each start.
	passwords map[string]string
}

// demoMaxPacket is the largest MQTT packet the demo's broker takes, as
// max_packet_size in deploy/edge/mosquitto.conf: a client sending a
// larger one is disconnected.
const demoMaxPacket = 256 << 10

// demoLedger is deploy/edge/frostline.acl for the demo's stores: per
// store, its edge agent (gw-<site>) reads sites/<site>/# and its
// controllers (ctl-<site>) write sites/<site>/assets/#. A client without
// one of these users and its password is refused, and a topic outside a
// user's own is denied (the last rule: mochi allows what no rule names).
// The demo's simulator publishes in process, as the broker itself.
func demoLedger(sites []string, passwords map[string]string) *auth.Ledger {
	l := &auth.Ledger{Users: auth.Users{}, ACL: auth.ACLRules{{Filters: auth.Filters{"#": auth.Deny}}}}
	for _, s := range sites {
		gw, ctl := "gw-"+s, "ctl-"+s
		l.Users[gw] = auth.UserRule{Username: auth.RString(gw), Password: auth.RString(passwords[gw]),
			ACL: auth.Filters{auth.RString("sites/" + s + "/#"): auth.ReadOnly}}
		l.Users[ctl] = auth.UserRule{Username: auth.RString(ctl), Password: auth.RString(passwords[ctl]),
			ACL: auth.Filters{auth.RString("sites/" + s + "/assets/#"): auth.WriteOnly}}
	}
	return l
}

func startBroker(addr string, log *slog.Logger, sites []string) (*demoBroker, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %s is not free (is another broker running? use --mqtt): %w", addr, err)
	}
	addr = ln.Addr().String()
	ln.Close()
	passwords := map[string]string{}
	for _, s := range sites {
		for _, u := range []string{"gw-" + s, "ctl-" + s} {
			b := make([]byte, 12)
			rand.Read(b)
			passwords[u] = hex.EncodeToString(b)
		}
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = demoMaxPacket
	s := mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: log.With("component", "mqtt")})
	if err := s.AddHook(new(auth.Hook), &auth.Options{Ledger: demoLedger(sites, passwords)}); err != nil {
		return nil, err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, err
	}
	if err := s.Serve(); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return &demoBroker{srv: s, addr: addr, passwords: passwords}, nil
}

func (b *demoBroker) close() error { return b.srv.Close() }

// simClock is the simulation's time, for readings published by hand: the
// simulated sensors run --speed times ahead of the wall clock, and a
// reading stamped with the wall clock would be hours behind them and
// refused as late (the README's first mosquitto_pub did just that).
type simClock struct {
	speed float64
	// mu guards at and wall: the simulator sets them, the edge agents'
	// decoders read them.
	mu   sync.Mutex
	at   time.Time // the time of the last readings published
	wall time.Time // when they were published
}

// set records that the readings of simulated time at were just published.
func (c *simClock) set(at time.Time) {
	c.mu.Lock()
	c.at, c.wall = at, time.Now()
	c.mu.Unlock()
}

// now is the simulation's time now: the last published readings' time,
// advanced at the simulation's speed but never to the next step's (a
// reading by hand lands between two simulated ones). Before the
// simulation publishes anything, or without one, it is the wall clock.
func (c *simClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	ahead := min(time.Duration(float64(time.Since(c.wall))*c.speed), time.Minute-time.Second)
	return c.at.Add(ahead)
}

// demoNATS is the embedded NATS server with JetStream.
type demoNATS struct {
	srv *server.Server
	url string
}

func startNATS(dir string) (*demoNATS, error) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
		SyncAlways: true}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	go s.Start() // the server owns this goroutine; Shutdown ends it
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats: not ready after 10s")
	}
	return &demoNATS{srv: s, url: s.ClientURL()}, nil
}

func (n *demoNATS) close() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// simState is what a demo remembers of its simulation, so that a restart
// with the same data folder continues it rather than starting over.
type simState struct {
	Start     time.Time `json:"start"`
	Live      time.Time `json:"live"`
	Seed      uint64    `json:"seed"`
	Published time.Time `json:"published"`
}

// newSimState is a new demo's simulation, going live at live after
// preroll of history; the seed is the minute it goes live, so each demo
// plays a different day.
func newSimState(live time.Time, preroll time.Duration) simState {
	return simState{Start: live.Add(-preroll), Live: live, Seed: uint64(live.Unix())}
}

func (d *demo) loadSimState() (simState, error) {
	path := filepath.Join(d.f.data, "sim.json")
	var st simState
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &st); err == nil && !st.Start.IsZero() {
			return st, nil
		}
	}
	live := time.Now().UTC().Truncate(time.Minute)
	st = newSimState(live, d.f.preroll)
	return st, d.saveSimState(st)
}

func (d *demo) saveSimState(st simState) error {
	b, _ := json.Marshal(st)
	tmp := filepath.Join(d.f.data, "sim.json.tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.f.data, "sim.json"))
}

// demoSim is the demo's simulation of its stores: a fifth of the
// refrigerated assets on retrofit probes, a rare glitch, and demoFaults.
func demoSim(sites []*rules.Site, st simState) (*sim.Sim, error) {
	return sim.New(sim.Config{Sites: sites, Start: st.Start, Seed: st.Seed, Retrofit: 0.2, Glitches: 0.0005,
		Faults: demoFaults(sites, st.Live)})
}

// simulate drives the stores: the history first, fast, then live at the
// chosen speed. The simulation is deterministic, so a resumed demo runs it
// silently up to where the last run stopped publishing.
func (d *demo) simulate(ctx context.Context) error {
	st, err := d.loadSimState()
	if err != nil {
		return err
	}
	s, err := demoSim(d.sites, st)
	if err != nil {
		return err
	}
	var buf []sim.Reading
	for s.Now().Before(st.Published) {
		buf = s.Step(buf[:0])
	}
	publish := func() error {
		buf = s.Step(buf[:0])
		for i := range buf {
			topic, payload, err := simMessage("sites/{site}/assets/{asset}/{metric}", false, &buf[i])
			if err != nil {
				return err
			}
			if err := d.broker.srv.Publish(topic, payload, false, 1); err != nil {
				return fmt.Errorf("sim: publish: %w", err)
			}
		}
		st.Published = s.Now()
		d.clock.set(s.Now().Add(-time.Minute))
		return nil
	}
	// History: an hour of the stores a second, so that the edge keeps up.
	hist := time.NewTicker(time.Second / 60)
	defer hist.Stop()
	for s.Now().Before(st.Live) {
		select {
		case <-ctx.Done():
			return d.saveSimState(st)
		case <-hist.C:
		}
		if err := publish(); err != nil {
			return err
		}
	}
	if err := d.saveSimState(st); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s  simulation live at %gx\n", time.Now().Format("15:04:05"), d.f.speed)
	live := time.NewTicker(time.Duration(float64(time.Minute) / d.f.speed))
	defer live.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return d.saveSimState(st)
		case <-live.C:
		}
		if err := publish(); err != nil {
			return err
		}
		if i%30 == 0 {
			if err := d.saveSimState(st); err != nil {
				return err
			}
		}
	}
}

// demoWatch prints, for a person, what happens: incidents as the edge
// raises them and work orders as they move.
type demoWatch struct {
	out   io.Writer
	nats  string
	store interface {
		WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
	}
	seen map[string]workorder.Status
	// explained is the vendor whose dispatch was last explained, per
	// work order.
	explained map[string]string
}

func (w *demoWatch) run(ctx context.Context) error {
	nc, err := nats.Connect(w.nats, nats.Name("frostline-demo-watch"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(wire.IncidentSubjects, msgs)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer sub.Unsubscribe()
	w.seen, w.explained = map[string]workorder.Status{}, map[string]string{}
	prio := map[string]string{} // each open incident's priority, to show escalations
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			inc, err := wire.DecodeIncident(m.Data)
			if err != nil {
				continue
			}
			what := string(inc.Event.Event)
			if inc.Event.Event == "updated" {
				// Only an update that raises the priority is news.
				if p, ok := prio[inc.Incident]; !ok || p == inc.Priority {
					continue
				}
				what = "raised"
			}
			prio[inc.Incident] = inc.Priority
			if inc.Event.Event == "cleared" {
				delete(prio, inc.Incident)
			}
			line := fmt.Sprintf("%s  incident %-7s %s %-15s %s/%s  %s  (sensor time %s)", time.Now().Format("15:04:05"),
				what, inc.Priority, inc.Problem, inc.Site, inc.Asset, inc.Title, inc.At.Format("01-02 15:04"))
			if b := breachWords(&inc.Event); b != "" && inc.Event.Event != "cleared" {
				line += "\n                    " + b
			}
			fmt.Fprintln(w.out, line)
		case <-tick.C:
			w.poll(ctx)
		}
	}
}

func (w *demoWatch) poll(ctx context.Context) {
	wos, err := w.store.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Limit: 500})
	if err != nil {
		return
	}
	sort.Slice(wos, func(i, j int) bool { return wos[i].Number < wos[j].Number })
	for _, wo := range wos {
		prev, known := w.seen[wo.ID]
		if known && prev == wo.Status {
			continue
		}
		w.seen[wo.ID] = wo.Status
		what := "created"
		if known {
			what = fmt.Sprintf("%s -> %s", strings.ToUpper(string(prev)), strings.ToUpper(string(wo.Status)))
		} else {
			what = "created " + strings.ToUpper(string(wo.Status))
		}
		vendor := ""
		if wo.Vendor != "" {
			vendor = "  vendor " + wo.Vendor
		}
		fmt.Fprintf(w.out, "%s  work order #%d %s: %s %s %s %s/%s (%s)%s\n", time.Now().Format("15:04:05"), wo.Number, what,
			wo.Priority, wo.Source, wo.Problem, wo.Site, wo.Asset, wo.Trade, vendor)
		if wo.Vendor != "" && w.explained[wo.ID] != wo.Vendor {
			w.explained[wo.ID] = wo.Vendor // each vendor the work went to, once
			w.explain(ctx, wo)
		}
	}
}

// explain prints who dispatch passed over for a work order, and why.
func (w *demoWatch) explain(ctx context.Context, wo *workorder.WorkOrder) {
	st, ok := w.store.(interface {
		DispatchBook(ctx context.Context, wo string) (*dispatch.Book, error)
	})
	if !ok {
		return
	}
	b, err := st.DispatchBook(ctx, wo.ID)
	if err != nil || b == nil {
		return
	}
	for _, c := range b.Decision.Excluded {
		fmt.Fprintf(w.out, "%10s  dispatch passed over %s: %s (%s)\n", "", c.Vendor, c.Reason, c.Detail())
	}
}
