package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

const loadtestUsage = `usage: frostline loadtest --nats URL --api URL --token TOKEN [flags]

Emulates a fleet of edge gateways against a running deployment: each store
publishes what a real one sends to NATS JetStream (incident events with
updates and clears, a telemetry batch a minute, a heartbeat every 30 s),
and the run reports intake lag, incident-to-work-order and dispatch
latency (p50, p99), the API's p99 for an FM's list query under the load,
the replicas' CPU and memory, and JetStream's storage growth. It counts
every incident against the work orders the cloud announces: any lost or
doubled one fails the run.
`

type loadFlags struct {
	nats, api, token string
	metrics          multiFlag // replicas' /metrics URLs
	metricsToken     string
	pgDSN            string // the cloud's PostgreSQL, for its CPU and memory
	stores, assets   int
	duration, drain  time.Duration
	perDay           float64 // incidents per store per day
	outage           int     // stores that come back from an outage
	outageFor        time.Duration
	prefix           string
	seed             uint64
	json             bool
}

func parseLoadFlags(args []string, stderr io.Writer) (*loadFlags, error) {
	f := &loadFlags{}
	fl := flag.NewFlagSet("frostline loadtest", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, loadtestUsage); fl.PrintDefaults() }
	fl.StringVar(&f.nats, "nats", "nats://127.0.0.1:4222", "NATS server the gateways publish to")
	fl.StringVar(&f.api, "api", "http://127.0.0.1:8080", "a cloud replica's base URL (the FM's list query)")
	fl.StringVar(&f.token, "token", "", "an admin token: registers the stores and reads work orders")
	fl.Var(&f.metrics, "metrics", "a replica's /metrics URL, for its CPU and memory (repeatable)")
	fl.StringVar(&f.metricsToken, "metrics-token", "", "bearer token for /metrics, when it needs one")
	fl.StringVar(&f.pgDSN, "pg-dsn", "", "the cloud's PostgreSQL (on this machine): its server's CPU and memory are reported")
	fl.IntVar(&f.stores, "stores", 200, "stores (one gateway each)")
	fl.IntVar(&f.assets, "assets", 10, "assets per store (telemetry series)")
	fl.DurationVar(&f.duration, "duration", time.Minute, "how long the stores publish")
	fl.DurationVar(&f.drain, "drain", 2*time.Minute, "how long to wait afterwards for the last work orders")
	fl.Float64Var(&f.perDay, "incidents-per-day", 5, "incidents per store per day (real stores: a handful)")
	fl.IntVar(&f.outage, "outage", 0, "regional outage: this many stores are silent until a third of the run, then drain a backlog")
	fl.DurationVar(&f.outageFor, "outage-for", 6*time.Hour, "how long the regional outage lasted (the backlog each store drains)")
	fl.StringVar(&f.prefix, "prefix", "lt", "site id prefix (keeps runs apart)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed: the same seed sends the same fleet")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fl.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	case f.token == "":
		return nil, errors.New("--token is required")
	case f.stores < 1 || f.assets < 1 || f.duration <= 0 || f.perDay < 0:
		return nil, errors.New("--stores, --assets and --duration must be positive")
	case f.outage < 0 || f.outage > f.stores:
		return nil, errors.New("--outage must be between 0 and --stores")
	case !cloudID(f.prefix):
		return nil, fmt.Errorf("--prefix %q: letters, digits and dashes", f.prefix)
	}
	return f, nil
}

func cloudID(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// LoadReport is what a load test measured.
type LoadReport struct {
	Stores, Assets   int
	Duration         string
	IncidentsSent    int // incidents (each a distinct problem on its asset)
	EventsSent       int // their opened, updated and cleared events
	TelemetrySent    int
	HeartbeatsSent   int
	WorkOrders       int // incidents that became a work order
	NoticesMissed    int // of those, found through the API, their notice not seen
	Lost, Doubled    int
	ToWorkOrder      Quantiles // incident published -> work order created, seconds
	ToDispatch       Quantiles // incident published -> dispatched, seconds
	API              Quantiles // the FM's list query, seconds
	APIErrors        int
	IntakePendingMax uint64        // incident messages waiting for intake, most seen
	Outage           *OutageReport `json:",omitempty"`
	Replicas         []ReplicaUse
	Postgres         *ReplicaUse      `json:",omitempty"` // the server's processes: CPU seconds and peak PSS (in PeakRSSMB)
	JetStreamBytes   map[string]int64 // growth per stream
}

// OutageReport is the regional-outage scenario's part.
type OutageReport struct {
	Stores        int
	Backlog       int     // incidents the returning stores sent
	DrainedAfter  float64 // seconds from their return until every one was a work order
	LiveDuringP99 float64 // the other stores' incident-to-work-order p99 meanwhile, seconds
}

// ReplicaUse is one replica's CPU and memory over the run.
type ReplicaUse struct {
	URL        string
	CPUSeconds float64
	PeakRSSMB  float64
}

// Quantiles of a latency sample, seconds.
type Quantiles struct {
	N             int
	P50, P99, Max float64
}

func quantiles(xs []float64) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)] }
	return Quantiles{N: len(s), P50: at(0.5), P99: at(0.99), Max: s[len(s)-1]}
}

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseLoadFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		fmt.Fprintf(stderr, "frostline loadtest: %v\n", err)
		return exitError(2)
	}
	rep, err := loadtest(ctx, f, stderr)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if rep.Lost > 0 || rep.Doubled > 0 {
		return fmt.Errorf("loadtest: %d incidents lost and %d doubled", rep.Lost, rep.Doubled)
	}
	return nil
}

// sent is one incident the fleet published, and what became of it.
type sent struct {
	at         time.Time // its opening event acknowledged by JetStream
	outage     bool      // sent by a store returning from the outage
	workOrders []string  // the work orders announced for it
	created    time.Time
	dispatched time.Time
	confirmed  bool // its work order found through the API, its notice not seen
}

type fleet struct {
	f      *loadFlags
	js     jetstream.JetStream
	log    io.Writer
	client *http.Client
	mu     sync.Mutex
	inc    map[string]*sent // by site/asset
	counts struct{ events, telemetry, heartbeats int }
	back   time.Time // when the outage stores came back
}

func loadtest(ctx context.Context, f *loadFlags, log io.Writer) (*LoadReport, error) {
	nc, err := nats.Connect(f.nats, nats.Name("frostline loadtest"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", f.nats, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	fl := &fleet{f: f, js: js, log: log, client: &http.Client{Timeout: 30 * time.Second}, inc: map[string]*sent{}}
	for _, s := range []string{wire.IncidentStream, wire.TelemetryStream, relay.Stream} {
		if _, err := js.Stream(ctx, s); err != nil {
			return nil, fmt.Errorf("stream %s (is the cloud running?): %w", s, err)
		}
	}
	if err := fl.register(ctx); err != nil {
		return nil, err
	}
	before, err := fl.streamBytes(ctx)
	if err != nil {
		return nil, err
	}
	// Work-order notices from now on, in order, through JetStream.
	cons, err := js.OrderedConsumer(ctx, relay.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{workorder.NoticeSubject("*")}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	watch, err := cons.Consume(fl.notice)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	defer watch.Stop()

	rep := &LoadReport{Stores: f.stores, Assets: f.assets, Duration: f.duration.String()}
	pgPid := 0
	var pgStartCPU float64
	if f.pgDSN != "" {
		if pgPid, err = pgServer(ctx, f.pgDSN); err != nil {
			return nil, err
		}
		rep.Postgres = &ReplicaUse{URL: "postgres pid " + strconv.Itoa(pgPid)}
		pgStartCPU, rep.Postgres.PeakRSSMB = processTree(pgPid)
	}
	runCtx, stop := context.WithCancel(ctx)
	var probes sync.WaitGroup
	var apiLat []float64
	var apiErrs int
	var pendingMax uint64
	use := make([]ReplicaUse, len(f.metrics))
	startCPU := make([]float64, len(f.metrics))
	for i, u := range f.metrics {
		use[i].URL = u
		startCPU[i], use[i].PeakRSSMB = fl.scrape(ctx, u)
	}
	probes.Add(1)
	go func() { // the FM's list query, the intake's backlog, the replicas' memory
		defer probes.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			t0 := time.Now()
			if err := fl.get(runCtx, "/api/v1/workorders?open=true&limit=50"); err != nil {
				if runCtx.Err() != nil {
					return
				}
				apiErrs++
			} else {
				apiLat = append(apiLat, time.Since(t0).Seconds())
			}
			if p, err := fl.intakePending(runCtx); err == nil {
				pendingMax = max(pendingMax, p)
			}
			if n%10 == 0 {
				if pgPid != 0 {
					_, pss := processTree(pgPid)
					rep.Postgres.PeakRSSMB = max(rep.Postgres.PeakRSSMB, pss)
				}
				for i, u := range f.metrics {
					_, rss := fl.scrape(runCtx, u)
					use[i].PeakRSSMB = max(use[i].PeakRSSMB, rss)
				}
			}
		}
	}()

	fmt.Fprintf(log, "loadtest: %d stores x %d assets for %s, %.1f incidents per store per day, %d returning from a %s outage\n",
		f.stores, f.assets, f.duration, f.perDay, f.outage, f.outageFor)
	start := time.Now()
	var gw sync.WaitGroup
	errs := make(chan error, f.stores)
	for i := range f.stores {
		gw.Add(1)
		go func() {
			defer gw.Done()
			if err := fl.gateway(runCtx, i, start); err != nil && runCtx.Err() == nil {
				errs <- err
			}
		}()
	}
	gw.Wait()
	close(errs)
	if err := <-errs; err != nil {
		stop()
		probes.Wait()
		return nil, err
	}
	fmt.Fprintf(log, "loadtest: published for %s; waiting for the work orders (up to %s once intake has caught up)\n", time.Since(start).Round(time.Second), f.drain)
	// Intake may still be working through a backlog: the wait starts
	// over while it shrinks, and ends drain after it stopped shrinking.
	last := ^uint64(0)
	for deadline := time.Now().Add(f.drain); time.Now().Before(deadline) && fl.missing() > 0; {
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-time.After(time.Second):
		}
		if p, err := fl.intakePending(ctx); err == nil && p < last {
			last, deadline = p, time.Now().Add(f.drain)
		}
	}
	// What the notices did not show, the store may still hold: a notice
	// can be missed, a work order cannot. Ask the API for each.
	if err := fl.confirm(ctx); err != nil {
		fmt.Fprintf(log, "loadtest: confirming work orders through the API: %v\n", err)
	}
	// The last dispatches trail their work orders.
	time.Sleep(2 * time.Second)
	stop()
	probes.Wait()

	after, err := fl.streamBytes(ctx)
	if err != nil {
		return nil, err
	}
	rep.JetStreamBytes = map[string]int64{}
	for k, v := range after {
		rep.JetStreamBytes[k] = v - before[k]
	}
	for i, u := range f.metrics {
		cpu, rss := fl.scrape(ctx, u)
		use[i].CPUSeconds = cpu - startCPU[i]
		use[i].PeakRSSMB = max(use[i].PeakRSSMB, rss)
	}
	rep.Replicas = use
	if pgPid != 0 {
		cpu, pss := processTree(pgPid)
		rep.Postgres.CPUSeconds = cpu - pgStartCPU
		rep.Postgres.PeakRSSMB = max(rep.Postgres.PeakRSSMB, pss)
	}
	rep.API, rep.APIErrors, rep.IntakePendingMax = quantiles(apiLat), apiErrs, pendingMax

	fl.mu.Lock()
	defer fl.mu.Unlock()
	rep.EventsSent, rep.TelemetrySent, rep.HeartbeatsSent = fl.counts.events, fl.counts.telemetry, fl.counts.heartbeats
	var toWO, toDispatch, live []float64
	var out *OutageReport
	if f.outage > 0 {
		out = &OutageReport{Stores: f.outage}
	}
	var drained time.Time
	for _, s := range fl.inc {
		rep.IncidentsSent++
		if s.outage {
			out.Backlog++
		}
		switch {
		case len(s.workOrders) == 0:
			rep.Lost++
			continue
		case len(s.workOrders) > 1:
			rep.Doubled++
		}
		rep.WorkOrders++
		if s.outage && s.created.After(drained) {
			drained = s.created
		}
		if s.confirmed {
			rep.NoticesMissed++
			continue // no notice, so no latency to count
		}
		toWO = append(toWO, s.created.Sub(s.at).Seconds())
		if !s.dispatched.IsZero() {
			toDispatch = append(toDispatch, s.dispatched.Sub(s.at).Seconds())
		}
	}
	if out != nil {
		for _, s := range fl.inc {
			if !s.outage && !s.confirmed && !s.created.IsZero() && !s.at.Before(fl.back) && !s.at.After(drained) {
				live = append(live, s.created.Sub(s.at).Seconds())
			}
		}
		if !drained.IsZero() {
			out.DrainedAfter = drained.Sub(fl.back).Seconds()
		}
		out.LiveDuringP99 = quantiles(live).P99
		rep.Outage = out
	}
	rep.ToWorkOrder, rep.ToDispatch = quantiles(toWO), quantiles(toDispatch)
	return rep, nil
}

// register puts the stores in the cloud's site register, in regions of
// 50, eight at a time.
func (fl *fleet) register(ctx context.Context) error {
	ids := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				body := fmt.Sprintf(`{"name":"Load store %d","region":"%s-r%d","timezone":"UTC","location":{"lat":%.4f,"lon":-87.63}}`, i, fl.f.prefix, i/50, 41.5+float64(i%100)/100)
				if err := fl.do(ctx, "PUT", "/api/v1/sites/"+fl.site(i), body); err != nil {
					errs <- fmt.Errorf("register %s: %w", fl.site(i), err)
					return
				}
			}
		}()
	}
	var err error
	for i := 0; i < fl.f.stores && err == nil; i++ {
		select {
		case ids <- i:
		case err = <-errs:
		}
	}
	close(ids)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func (fl *fleet) site(i int) string { return fmt.Sprintf("%s-%05d", fl.f.prefix, i) }

// gateway is store i's edge agent: heartbeats, a telemetry batch a minute
// and its incidents, each with updates and perhaps a clear. A store in
// the outage is silent until a third of the run and then drains what it
// held for outageFor: incidents first, then telemetry.
func (fl *fleet) gateway(ctx context.Context, i int, start time.Time) error {
	f := fl.f
	rng := rand.New(rand.NewPCG(f.seed, uint64(i)))
	site, gateway := fl.site(i), fmt.Sprintf("gw-%s", fl.site(i))
	// Seconds of fleet time per second of the run: a minute of telemetry
	// every minute, incidents at their daily rate.
	next := map[string]time.Time{
		"heartbeat": start.Add(time.Duration(rng.Float64() * float64(30*time.Second))),
		"telemetry": start.Add(time.Duration(rng.Float64() * float64(time.Minute))),
		"incident":  start.Add(expDelay(rng, f.perDay)),
	}
	incidents := 0 // the store's incidents so far, each on an asset of its own
	if i < f.outage {
		back := start.Add(f.duration/3 + time.Duration(rng.Float64()*float64(time.Minute)))
		if err := sleepUntil(ctx, back); err != nil {
			return err
		}
		fl.mu.Lock()
		if fl.back.IsZero() || back.Before(fl.back) {
			fl.back = back
		}
		fl.mu.Unlock()
		// The outbox drains incidents first: the incidents of outageFor.
		n := int(f.perDay * f.outageFor.Hours() / 24)
		if frac := f.perDay*f.outageFor.Hours()/24 - float64(n); rng.Float64() < frac {
			n++
		}
		for range n {
			if err := fl.incident(ctx, rng, site, gateway, incidents, true); err != nil {
				return err
			}
			incidents++
		}
		batches := int(f.outageFor / time.Minute)
		for b := range batches {
			if err := fl.telemetry(ctx, rng, site, gateway, back.Add(-f.outageFor+time.Duration(b)*time.Minute)); err != nil {
				return err
			}
		}
		// Back online: heartbeats and telemetry at once, incidents on
		// their own schedule again.
		now := time.Now()
		next["heartbeat"], next["telemetry"], next["incident"] = now, now, now.Add(expDelay(rng, f.perDay))
	}
	end := start.Add(f.duration)
	for {
		kind, at := "", end
		for k, t := range next {
			if t.Before(at) {
				kind, at = k, t
			}
		}
		if kind == "" {
			return nil
		}
		if err := sleepUntil(ctx, at); err != nil {
			return err
		}
		var err error
		switch kind {
		case "heartbeat":
			err = fl.publish(ctx, wire.HeartbeatSubject(site), "", wire.NewHeartbeat(gateway, site, time.Now(), start, 0, nil), &fl.counts.heartbeats)
			next[kind] = at.Add(30 * time.Second)
		case "telemetry":
			err = fl.telemetry(ctx, rng, site, gateway, at.Truncate(time.Minute))
			next[kind] = at.Add(time.Minute)
		case "incident":
			err = fl.incident(ctx, rng, site, gateway, incidents, false)
			incidents++
			next[kind] = at.Add(expDelay(rng, f.perDay))
		}
		if err != nil {
			return err
		}
	}
}

// expDelay is the wait to a store's next incident at perDay a day, run
// at the fleet's pace: a day of incidents in a day of the run.
func expDelay(rng *rand.Rand, perDay float64) time.Duration {
	if perDay <= 0 {
		return 1 << 62
	}
	return time.Duration(rng.ExpFloat64() / perDay * float64(24*time.Hour))
}

// incident publishes one incident on a fresh asset of the store: opened,
// one or two updates, and a clear for two in five (a self-recovering
// alarm the cloud may hold off and avoid).
func (fl *fleet) incident(ctx context.Context, rng *rand.Rand, site, gateway string, n int, outage bool) error {
	asset := fmt.Sprintf("lt-asset-%d", fl.f.assets+n) // not a telemetry asset: one work order each
	now := time.Now().UTC()
	priority := []string{"P1", "P2", "P2", "P3"}[rng.IntN(4)]
	ev := rules.Event{Event: rules.Opened, Site: site, Asset: asset, AssetClass: "walk_in_cooler", Rule: "loadtest",
		Problem: "temp_high", Priority: priority, Trade: "refrigeration", Title: "load test", Started: now.Add(-10 * time.Minute), At: now,
		Value: 9, Peak: 9}
	ev.Incident = rules.IncidentID(site, asset, ev.Rule, ev.Started)
	steps := []rules.EventType{rules.Opened, rules.Updated}
	if rng.IntN(2) == 0 {
		steps = append(steps, rules.Updated)
	}
	if rng.IntN(5) < 2 {
		steps = append(steps, rules.Cleared)
	}
	for k, typ := range steps {
		ev.Event, ev.Seq = typ, k+1
		ev.At = now.Add(time.Duration(k) * time.Second)
		in := wire.NewIncident(gateway, ev)
		if err := fl.publish(ctx, wire.IncidentSubject(site), in.MsgID(), in, &fl.counts.events); err != nil {
			return err
		}
		if k == 0 {
			fl.mu.Lock()
			fl.inc[site+"/"+asset] = &sent{at: time.Now(), outage: outage}
			fl.mu.Unlock()
		}
	}
	return nil
}

// telemetry publishes a minute's batch: each asset's air temperature.
func (fl *fleet) telemetry(ctx context.Context, rng *rand.Rand, site, gateway string, minute time.Time) error {
	t := wire.Telemetry{Schema: wire.TelemetrySchema, Site: site, Gateway: gateway, Batch: site + "-" + strconv.FormatInt(minute.Unix(), 10)}
	for a := range fl.f.assets {
		v := 3 + rng.NormFloat64()*0.5
		t.Rollups = append(t.Rollups, wire.Rollup{Asset: fmt.Sprintf("lt-asset-%d", a), Class: "walk_in_cooler", Metric: "air_temp",
			Start: minute.UTC(), Period: 60, Min: v - 0.3, Mean: v, Max: v + 0.3, Last: v, Count: 6})
	}
	return fl.publish(ctx, wire.TelemetrySubject(site), t.Batch, t, &fl.counts.telemetry)
}

func (fl *fleet) publish(ctx context.Context, subject, msgID string, v any, count *int) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	if msgID != "" {
		msg.Header.Set(wire.MsgIDHeader, msgID)
	}
	for attempt := 0; ; attempt++ {
		if _, err = fl.js.PublishMsg(ctx, msg); err == nil {
			fl.mu.Lock()
			*count++
			fl.mu.Unlock()
			return nil
		}
		// A NATS outage or a full pipe: the edge's forwarder retries
		// with backoff, and so does the emulated one.
		if ctx.Err() != nil || attempt == 60 {
			return fmt.Errorf("publish %s: %w", subject, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(time.Duration(min(attempt+1, 10))*100*time.Millisecond)); err != nil {
			return err
		}
	}
}

// notice takes a work-order notice of the fleet's stores.
func (fl *fleet) notice(m jetstream.Msg) {
	var n workorder.Notice
	if err := json.Unmarshal(m.Data(), &n); err != nil {
		return
	}
	now := time.Now()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	s := fl.inc[n.Site+"/"+n.Asset]
	if s == nil {
		return
	}
	if n.Event.Kind == workorder.Created && !slices.Contains(s.workOrders, n.ID) {
		s.workOrders = append(s.workOrders, n.ID)
		if s.created.IsZero() {
			s.created = now
		}
	}
	if n.Status == workorder.Dispatched && s.dispatched.IsZero() {
		s.dispatched = now
	}
}

// intakePending is how many incident messages the cloud's intake has
// not acknowledged yet.
func (fl *fleet) intakePending(ctx context.Context) (uint64, error) {
	c, err := fl.js.Consumer(ctx, wire.IncidentStream, "frostline-cloud-intake")
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// confirm asks the API about each incident no notice announced a work
// order for: the store's answer is the one that counts.
func (fl *fleet) confirm(ctx context.Context) error {
	fl.mu.Lock()
	var keys []string
	for k, s := range fl.inc {
		if len(s.workOrders) == 0 {
			keys = append(keys, k)
		}
	}
	fl.mu.Unlock()
	for _, k := range keys {
		site, asset, _ := strings.Cut(k, "/")
		var page struct {
			Items []struct {
				ID        string    `json:"id"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"items"`
		}
		if err := fl.getJSON(ctx, "/api/v1/workorders?site="+site+"&asset="+asset, &page); err != nil {
			return err
		}
		fl.mu.Lock()
		s := fl.inc[k]
		for _, w := range page.Items {
			s.workOrders = append(s.workOrders, w.ID)
			s.confirmed = true
			if s.created.IsZero() || w.CreatedAt.Before(s.created) {
				s.created = w.CreatedAt
			}
		}
		fl.mu.Unlock()
	}
	return nil
}

// missing counts incidents without a work order yet.
func (fl *fleet) missing() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	n := 0
	for _, s := range fl.inc {
		if len(s.workOrders) == 0 {
			n++
		}
	}
	return n
}

func (fl *fleet) streamBytes(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, name := range []string{wire.IncidentStream, wire.TelemetryStream, relay.Stream} {
		s, err := fl.js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		out[name] = int64(info.State.Bytes)
	}
	return out, nil
}

func (fl *fleet) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(fl.f.api, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+fl.f.token)
	resp, err := fl.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (fl *fleet) do(ctx context.Context, method, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(fl.f.api, "/")+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+fl.f.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := fl.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

func (fl *fleet) get(ctx context.Context, path string) error { return fl.do(ctx, "GET", path, "") }

// scrape reads a replica's process CPU seconds and resident memory (MB)
// from its /metrics; zeros when it cannot.
func (fl *fleet) scrape(ctx context.Context, url string) (cpu, rssMB float64) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, 0
	}
	if fl.f.metricsToken != "" {
		req.Header.Set("Authorization", "Bearer "+fl.f.metricsToken)
	}
	resp, err := fl.client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			cpu = v
		case "process_resident_memory_bytes":
			rssMB = v / (1 << 20)
		}
	}
	return cpu, rssMB
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	return cloud.Sleep(ctx, d)
}

func (r *LoadReport) print(w io.Writer) {
	ms := func(s float64) string { return strconv.FormatFloat(s*1000, 'f', 0, 64) + " ms" }
	fmt.Fprintf(w, "stores %d x %d assets, %s\n", r.Stores, r.Assets, r.Duration)
	fmt.Fprintf(w, "sent: %d incidents (%d events), %d telemetry batches, %d heartbeats\n", r.IncidentsSent, r.EventsSent, r.TelemetrySent, r.HeartbeatsSent)
	fmt.Fprintf(w, "work orders: %d   lost %d   doubled %d   (notices not seen: %d)\n", r.WorkOrders, r.Lost, r.Doubled, r.NoticesMissed)
	fmt.Fprintf(w, "incident -> work order: p50 %s  p99 %s  max %s (n=%d)\n", ms(r.ToWorkOrder.P50), ms(r.ToWorkOrder.P99), ms(r.ToWorkOrder.Max), r.ToWorkOrder.N)
	fmt.Fprintf(w, "incident -> dispatched: p50 %s  p99 %s (n=%d)\n", ms(r.ToDispatch.P50), ms(r.ToDispatch.P99), r.ToDispatch.N)
	fmt.Fprintf(w, "FM list query: p50 %s  p99 %s (n=%d, errors %d)\n", ms(r.API.P50), ms(r.API.P99), r.API.N, r.APIErrors)
	fmt.Fprintf(w, "intake backlog: at most %d messages\n", r.IntakePendingMax)
	if o := r.Outage; o != nil {
		fmt.Fprintf(w, "outage: %d stores drained %d incidents; all work orders %.1f s after the first came back; other stores' p99 meanwhile %s\n",
			o.Stores, o.Backlog, o.DrainedAfter, ms(o.LiveDuringP99))
	}
	for _, u := range r.Replicas {
		fmt.Fprintf(w, "replica %s: %.1f CPU s, peak RSS %.0f MB\n", u.URL, u.CPUSeconds, u.PeakRSSMB)
	}
	if p := r.Postgres; p != nil {
		fmt.Fprintf(w, "PostgreSQL (%s): %.1f CPU s, peak PSS %.0f MB\n", p.URL, p.CPUSeconds, p.PeakRSSMB)
	}
	for _, k := range slices.Sorted(maps.Keys(r.JetStreamBytes)) {
		fmt.Fprintf(w, "JetStream %s: +%.1f MB\n", k, float64(r.JetStreamBytes[k])/(1<<20))
	}
}
