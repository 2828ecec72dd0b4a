package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/frostline/frostline/edge/forward"
	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/outbox"
)

// Options are what the caller injects.
type Options struct {
	// Now is the wall clock (readings' arrival, telemetry closing).
	// Default: the system clock, with steps of it slewed (clock.go).
	Now func() time.Time
	// Stamp is the time given to readings that carry none; default Now.
	// The demo's simulated sensors run ahead of the wall clock, so it
	// stamps a reading published by hand with the simulation's time:
	// stamped with the wall clock it would be hours late and refused.
	Stamp func() time.Time
	// Registry receives the agent's metrics; nil makes a fresh one with
	// Go and process collectors.
	Registry *prometheus.Registry
	// HTTPListening, when set, is told the address /metrics listens on.
	HTTPListening func(addr string)
}

// Agent is the edge agent.
type Agent struct {
	cfg    *Config
	log    *slog.Logger
	opts   Options
	clock  *steadyClock // nil when Options.Now was injected
	reg    *prometheus.Registry
	reload chan struct{}
	// ready is set once the rule state is restored and cleared on the way
	// out; /readyz reads it from the HTTP goroutine.
	ready atomic.Bool
}

// New returns an agent for a validated config.
func New(cfg *Config, log *slog.Logger, opts Options) *Agent {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var clock *steadyClock
	if opts.Now == nil {
		clock = systemClock(log, reg)
		opts.Now = clock.Now
	}
	if opts.Stamp == nil {
		opts.Stamp = opts.Now
	}
	return &Agent{cfg: cfg, log: log, opts: opts, clock: clock, reg: reg, reload: make(chan struct{}, 1)}
}

// Reload asks the running agent to reload its rules and sites (main calls
// it on SIGHUP). It never blocks; requests made while one is pending merge.
func (a *Agent) Reload() {
	select {
	case a.reload <- struct{}{}:
	default:
	}
}

// Run runs the agent until ctx is done, then shuts down in order: the
// processor commits and acknowledges its last batch, the MQTT session is
// closed, the forwarder keeps sending what is queued for up to
// nats.flush_timeout, and the outbox is closed.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	ob, err := outbox.Open(cfg.Outbox.Path, outbox.Options{
		MaxTelemetry: cfg.Outbox.MaxTelemetryBatches, MaxTelemetryBytes: cfg.Outbox.MaxTelemetryBytes,
	}, a.reg)
	if err != nil {
		return err
	}
	defer ob.Close()

	l, err := loadRules(cfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	m := newMetrics(a.reg)
	proc := newProcessor(cfg, a.log.With("component", "rules"), a.opts.Now, m, ob)
	if a.clock != nil {
		proc.behind, proc.clock = a.clock.Behind, a.clock
	}
	if err := proc.start(l); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.log.Info("rules loaded", "version", l.version, "rules", l.set.Len(), "sites", len(l.sites))
	// Before the first heartbeat: it carries the restored state's newest
	// readings, not none.
	proc.snapshotNewest()
	// Loading sites and rules and restoring the checkpoint leave
	// megabytes of garbage at once (YAML trees, the checkpoint's JSON);
	// hand it back now rather than carry it as resident memory until the
	// runtime's scavenger gets to it.
	debug.FreeOSMemory()

	sub, err := a.subscriber()
	if err != nil {
		return err
	}
	proc.pauseMQTT, proc.resumeMQTT = sub.Pause, sub.Resume
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "frostline_edge_ingest_queue_depth", Help: "Messages waiting between MQTT and the rule engine."},
		func() float64 { return float64(sub.QueueLen()) }))
	fwd, err := a.forwarder(ob, proc)
	if err != nil {
		return err
	}

	var ln net.Listener
	if cfg.HTTP.Listen != "" {
		if ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("agent: http: %w", err)
		}
		if a.opts.HTTPListening != nil {
			a.opts.HTTPListening(ln.Addr().String())
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	// The MQTT session outlives the processor so that its last acks go
	// out; the forwarder outlives both to flush. Each has its own context,
	// cancelled in that order.
	subCtx, stopSub := context.WithCancel(context.WithoutCancel(ctx))
	fwdCtx, stopFwd := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSub()
	defer stopFwd()
	procDone := make(chan struct{})

	// Processor: owns the engine.
	g.Go(func() error {
		defer close(procDone)
		defer stopSub()
		a.ready.Store(true)
		defer a.ready.Store(false)
		return proc.run(gctx, sub.Messages(), a.reload)
	})
	// MQTT session.
	g.Go(func() error { return sub.Run(subCtx) })
	// Forwarder, and the flush that ends it.
	g.Go(func() error { return fwd.Run(fwdCtx) })
	g.Go(func() error {
		defer stopFwd()
		<-procDone
		deadline := time.NewTimer(cfg.NATS.FlushTimeout)
		defer deadline.Stop()
		poll := time.NewTicker(20 * time.Millisecond)
		defer poll.Stop()
		for ob.Len(outbox.Incidents)+ob.Len(outbox.Telemetry) > 0 {
			select {
			case <-deadline.C:
				a.log.Warn("shutdown: outbox not empty, kept for the next start",
					"incidents", ob.Len(outbox.Incidents), "telemetry", ob.Len(outbox.Telemetry))
				return nil
			case <-poll.C:
			}
		}
		return nil
	})
	// Watcher: reload on rule or site file changes.
	if cfg.Rules.Watch > 0 {
		g.Go(func() error { return a.watch(gctx) })
	}
	// HTTP: metrics and health.
	if ln != nil {
		srv := &http.Server{Handler: a.handler(sub, fwd, ob, proc), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("agent: http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	a.log.Info("edge agent running", "gateway", cfg.Gateway, "mqtt", cfg.MQTT.Broker, "nats", cfg.NATS.URL, "outbox", cfg.Outbox.Path)
	err = g.Wait()
	a.log.Info("edge agent stopped", "err", err)
	return err
}

func (a *Agent) subscriber() (*ingest.Subscriber, error) {
	cfg := a.cfg
	var templates []ingest.Template
	for _, t := range cfg.MQTT.Topics {
		tp, err := ingest.ParseTemplate(t.Template, t.Site)
		if err != nil {
			return nil, err
		}
		templates = append(templates, tp)
	}
	var statuses []ingest.Template
	for _, t := range cfg.MQTT.StatusTopics {
		tp, err := ingest.ParseStatusTemplate(t.Template, t.Site)
		if err != nil {
			return nil, err
		}
		statuses = append(statuses, tp)
	}
	tlsCfg, err := cfg.MQTT.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("agent: mqtt: %w", err)
	}
	password := ""
	if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("agent: mqtt: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	clientID := cfg.MQTT.ClientID
	if clientID == "" {
		clientID = "frostline-edge-" + cfg.Gateway
	}
	dec := ingest.NewDecoder(templates, a.opts.Stamp)
	if cfg.MQTT.Sparkplug {
		dec.EnableSparkplug()
	}
	dec.SetStatusTopics(statuses)
	return ingest.New(ingest.Config{
		Broker: cfg.MQTT.Broker, ClientID: clientID, Username: cfg.MQTT.Username, Password: password,
		TLS: tlsCfg, QoS: byte(cfg.MQTT.QoS), Queue: cfg.MQTT.Queue, QueueWait: cfg.MQTT.QueueWait, ReadGap: cfg.MQTT.ReadGap, KeepAlive: cfg.MQTT.KeepAlive,
		MaxPayload: cfg.Ingest.MaxPayloadBytes,
	}, dec, a.log, ingest.NewMetrics(a.reg)), nil
}

// forwarder drains ob; its heartbeats name proc's sites and their newest
// readings.
func (a *Agent) forwarder(ob *outbox.Outbox, proc *processor) (*forward.Forwarder, error) {
	cfg := a.cfg
	tlsCfg, err := cfg.NATS.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("agent: nats: %w", err)
	}
	return forward.New(forward.Config{
		URL: cfg.NATS.URL, Name: "frostline-edge " + cfg.Gateway, CredsFile: cfg.NATS.CredsFile, TLS: tlsCfg,
		EnsureStreams: cfg.NATS.EnsureStreams, MaxBackoff: cfg.NATS.MaxBackoff,
		Heartbeat: cfg.NATS.Heartbeat, Gateway: cfg.Gateway, Sites: func() []string { return *proc.sites.Load() },
		Backlog: func() int { return ob.Len(outbox.Incidents) }, Readings: proc.newestOf,
	}, ob, a.log, forward.NewMetrics(a.reg)), nil
}

// handler serves /metrics, /healthz (the process is up) and /readyz (the
// rules are running, the broker connection is subscribed and NATS is
// connected; each that is not is named, one a line).
func (a *Agent) handler(sub *ingest.Subscriber, fwd *forward.Forwarder, ob *outbox.Outbox, proc *processor) http.Handler {
	mux := http.NewServeMux()
	// Uncompressed: a store's metrics are a few kilobytes read over the
	// LAN, and the gzip writer promhttp would keep is most of a megabyte
	// of a small gateway's memory.
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg, DisableCompression: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var missing []string
		if !a.ready.Load() {
			missing = append(missing, "rules not running")
		}
		if !sub.Ready() {
			missing = append(missing, "mqtt not connected and subscribed")
		}
		if proc.blocked.Load() {
			missing = append(missing, "outbox disk full: not acknowledging, the broker holds new messages until there is room")
		}
		if !fwd.Connected() {
			missing = append(missing, fmt.Sprintf("nats not connected (the outbox keeps %d incident events until it is)", ob.Len(outbox.Incidents)))
		}
		if len(missing) > 0 {
			http.Error(w, strings.Join(missing, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// watch asks for a reload when a rule or site file changes. Polling file
// stamps, rather than inotify, needs no extra dependency and also sees
// files replaced by renames or on network mounts.
func (a *Agent) watch(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Rules.Watch)
	defer t.Stop()
	last := sourcesStamp(a.cfg)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if s := sourcesStamp(a.cfg); s != last {
				last = s
				a.log.Info("rule or site files changed, reloading")
				a.Reload()
			}
		}
	}
}
