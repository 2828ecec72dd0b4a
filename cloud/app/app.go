// Package app assembles the cloud service: store, intake consumer,
// hold-off sweeper, notice relay and HTTP server, started together by Run
// and released by Close. cmd/frostline-cloud is a thin main around it; `frostline demo`
// embeds it in-process with an in-process NATS URL and a data directory.
package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/dispatch"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Store is everything the service needs of a store: the domains' needs
// (store.Store), the API's and intake's, and the replica's own. Both
// stores are one, or this does not compile.
type Store interface {
	store.Store
	cloudhttp.Store
	cloudhttp.BootstrapStore
	intake.Store
	// People and their notifications (cloud/notify).
	PutPerson(ctx context.Context, p *notify.Person) error
	NotifyPeople(p *notify.Planner)
	notify.Outbox
	notify.PeopleStore
	PruneClaims(ctx context.Context, before time.Time) (int64, error)
	CountByStatus(ctx context.Context) (map[string]int, error)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, c DatabaseConfig) (Store, error) {
	switch c.Driver {
	case "postgres":
		db, err := postgres.Open(ctx, c.DSN)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return db, nil
	case "sqlite", "":
		if dir := filepath.Dir(c.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("app: %w", err)
			}
		}
		db, err := sqlite.Open(ctx, c.Path)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	return nil, fmt.Errorf("app: unknown database driver %q", c.Driver)
}

// App is one running cloud replica.
type App struct {
	cfg Config
	log *slog.Logger
	// mu guards store: set by New, or by Run once the database comes
	// back, and read by /readyz and Store.
	mu       sync.Mutex
	store    Store
	nc       *nats.Conn
	consumer *intake.Consumer
	// Telemetry into InfluxDB, when configured: one writer, one consumer
	// per stream.
	influx    *telemetry.Writer
	telemetry []*telemetry.Consumer
	relay     *relay.Relay
	silence   *intake.Silence // gateway_offline for stores whose heartbeats stopped
	// silenceP is silence for the sweeper's sensor verification, set once
	// NATS is set up.
	silenceP atomic.Pointer[intake.Silence]
	webhooks *notify.Worker // delivers work-order events to registered webhooks
	// notify tells people (email), when a channel is configured.
	notify  *notifications
	sweeper *intake.Sweeper
	// pm generates preventive work orders; pmRuntime counts run-hours
	// from the telemetry stream for runtime schedules.
	pm        *pm.Generator[store.Tx]
	pmRuntime *pm.RuntimeConsumer
	dispatch  *dispatch.Service
	sla       *sla.Sweeper[store.Tx]
	intake    *workorder.Intake[store.Tx]
	intakeM   *intake.Metrics
	server    *http.Server
	listener  net.Listener
	// mux routes /healthz, /readyz, /metrics and the API; embedding
	// programs add their own pages to it (Handle).
	mux *http.ServeMux
	// metrics and metricsListener serve /metrics on metrics.listen, when
	// set; otherwise /metrics is on server.
	metrics         *http.Server
	metricsListener net.Listener
	// api serves everything but /metrics, /healthz and /readyz: a 503
	// while the database is away at start, the API once it is there.
	api atomic.Pointer[http.Handler]
	// deps is what /readyz reports; natsReady is set once the streams
	// and consumers exist.
	deps      *deps
	natsReady atomic.Bool
	// Registry holds the service's metrics; never the default registry.
	Registry *prometheus.Registry

	// kpis writes the daily KPI points, when telemetry is configured;
	// rollup keeps the KPI rollup fresh.
	kpis   *analytics.Daily
	rollup *analytics.Refresher
}

// New validates the config and listens. It opens the store and seeds the
// registers when the database answers; a PostgreSQL that does not is
// waited for by Run, as NATS always is: the replica serves /healthz at
// once and names on /readyz what it waits for. A local SQLite file that
// cannot be opened is an error. On error everything opened is closed.
func New(ctx context.Context, cfg Config, log *slog.Logger) (a *App, err error) {
	// Calendars are compiled in place by Validate: give this replica its
	// own, so that replicas built from one Config share nothing mutable.
	for _, c := range []**sla.Calendar{&cfg.SLA.BusinessHours, &cfg.Dispatch.BusinessHours} {
		if *c != nil {
			cp := **c
			*c = &cp
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, log: log, Registry: prometheus.NewRegistry()}
	opened := a // the returns below set a to nil before this runs
	defer func() {
		if err != nil {
			opened.Close()
			a = nil
		}
	}()
	names := []string{depDatabase}
	if cfg.NATS.URL != "" {
		names = append(names, depNATS)
	}
	if cfg.Telemetry != nil && cfg.NATS.URL != "" {
		names = append(names, depInflux)
	}
	a.deps = newDeps(a.Registry, names...)
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.NATS.URL != "" {
		if err := a.connectNATS(); err != nil {
			return nil, err
		}
	}
	if cfg.Telemetry != nil && a.nc != nil {
		// It does not contact the server: InfluxDB may be away.
		if a.influx, err = telemetry.NewWriter(cfg.Telemetry.Config); err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	var starting http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"starting: waiting for the database"}`)
	})
	a.api.Store(&starting)
	mux := http.NewServeMux()
	metrics, err := metricsHandler(cfg.Metrics, promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{Registry: a.Registry}))
	if err != nil {
		return nil, err
	}
	if cfg.Metrics.Listen == "" {
		mux.Handle("GET /metrics", metrics)
	} else {
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", metrics)
		a.metrics = &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		if a.metricsListener, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return nil, fmt.Errorf("app: metrics listen: %w", err)
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*a.api.Load()).ServeHTTP(w, r) }))
	a.mux = mux
	a.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("app: listen: %w", err)
	}
	store, err := OpenStore(ctx, cfg.Database)
	switch {
	case err == nil:
		if err := a.build(ctx, store); err != nil {
			return nil, err // the deferred Close closes the store
		}
	case cfg.Database.Driver == "postgres" && ctx.Err() == nil:
		a.deps.set(depDatabase, fmt.Sprintf("waiting (%v)", err))
		log.Warn("database unavailable at start; serving not-ready until it answers", "err", err)
	default:
		return nil, err
	}
	return a, nil
}

// connectNATS dials NATS without waiting for it: a server that is away
// is retried in the background (nats.RetryOnFailedConnect), and Run sets
// up the streams and consumers once it answers.
func (a *App) connectNATS() error {
	log := a.log.With("component", "nats")
	opts := []nats.Option{nats.Name("frostline-cloud"), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second), nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if a.natsReady.Load() {
				a.deps.set(depNATS, "disconnected, reconnecting")
			}
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if a.natsReady.Load() {
				a.deps.set(depNATS, "")
			}
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
	}
	if a.cfg.NATS.Creds != "" {
		opts = append(opts, nats.UserCredentials(a.cfg.NATS.Creds))
	}
	nc, err := nats.Connect(a.cfg.NATS.URL, opts...)
	if err != nil {
		return fmt.Errorf("app: nats %s: %w", a.cfg.NATS.URL, err)
	}
	a.nc = nc
	a.deps.set(depNATS, "setting up streams and consumers")
	return nil
}

// build seeds the registers into a just-opened store and assembles what
// needs only the store: the API, the sweepers, the webhook worker, PM.
// Its database work comes first, so that a failure there (the database
// going away again) leaves nothing registered and can be retried.
func (a *App) build(ctx context.Context, db Store) error {
	cfg, log := a.cfg, a.log
	a.store = db
	if err := a.seed(ctx); err != nil {
		return err
	}
	if cfg.AdminToken != "" {
		n, err := cloudhttp.BootstrapAdmin(ctx, db, cfg.AdminToken, time.Now())
		if err != nil {
			return fmt.Errorf("app: admin token: %w", err)
		}
		if n > 0 {
			log.Info("bootstrap admin token rotated: the previous one is revoked", "revoked", n)
		}
	}
	if err := a.seedVendors(ctx); err != nil {
		return err
	}
	if err := a.seedPeople(ctx); err != nil {
		return err
	}
	nt, err := a.buildNotifications(db)
	if err != nil {
		return err
	}
	a.notify = nt
	if nt != nil {
		db.NotifyPeople(nt.planner) // every saved event is planned from now on
	}
	a.Registry.MustRegister(&statusCollector{store: db}, &documentsCollector{store: db},
		&analytics.Collector{Source: db}) // live KPI counts
	a.rollup = &analytics.Refresher{Store: db, Log: log}
	in := &workorder.Intake[store.Tx]{Policy: cfg.Triage}
	in.Readings = func(ctx context.Context, site, asset string) (time.Time, bool) {
		if s := a.silenceP.Load(); s != nil {
			return s.Newest(ctx, site, asset)
		}
		return time.Time{}, false
	}
	a.intake = in
	a.dispatch = &dispatch.Service{Register: db, Rules: cfg.Dispatch, Policy: &in.Policy, SLA: cfg.SLA,
		Log: log.With("component", "dispatch")}
	in.Dispatcher = dispatch.For[store.Tx](a.dispatch)
	a.sla = &sla.Sweeper[store.Tx]{Store: db, Policy: cfg.SLA, Commitment: a.dispatch.Commitment, Location: a.siteLocation,
		Every: cfg.SweepEvery, Log: log, M: sla.NewSweepMetrics(a.Registry)}
	a.intakeM = intake.NewMetrics(a.Registry)
	if a.influx != nil {
		a.kpis = &analytics.Daily{Source: db, Sink: a.influx, Log: log, Scores: a.dispatch.Scorecards}
	}
	if !cfg.PM.Disabled {
		a.pm = pm.NewGenerator(db, in, cfg.PM, log, a.Registry)
	}
	a.sweeper = &intake.Sweeper{Store: db, Intake: in, Every: cfg.SweepEvery, Log: log, M: a.intakeM, Prune: db.PruneClaims,
		HoldFor: cfg.Intake.Defaults().HoldFor}
	a.webhooks = notify.NewWorker(db, &notify.Deliverer{Client: notify.NewClient(cfg.Webhooks.AllowPrivateTargets),
		UserAgent: "Frostline-Webhooks/1"}, cfg.Webhooks, log, a.Registry)
	proxies, _ := cloudhttp.ParseProxies(cfg.TrustedProxies) // validated in New
	var links *notify.Links
	var planner *notify.Planner
	if a.notify != nil {
		links, planner = a.notify.links, a.notify.planner
	}
	// The charts read trends back from InfluxDB when telemetry goes there.
	var trends cloudhttp.Trends
	if cfg.Telemetry != nil {
		if r, err := telemetry.NewReader(cfg.Telemetry.Config); err != nil {
			log.Warn("charts will not read trends from InfluxDB", "err", err)
		} else {
			trends = r
		}
	}
	var api http.Handler = cloudhttp.New(cloudhttp.Options{Store: db, Intake: in, Log: log, Registry: a.Registry, Dispatch: a.dispatch,
		AllowPrivateTargets: cfg.Webhooks.AllowPrivateTargets, Auth: &cfg.Auth, TrustedProxies: proxies, Links: links,
		Invoices: &cfg.Invoices, Planner: planner, Trends: trends})
	a.api.Store(&api)
	a.deps.set(depDatabase, "")
	return nil
}

// openStore is one attempt, from Run, at the database that was away at
// start.
func (a *App) openStore(ctx context.Context) error {
	store, err := OpenStore(ctx, a.cfg.Database)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.build(ctx, store); err != nil {
		a.store = nil
		store.Close()
		return err
	}
	return nil
}

// setupNATS creates what is still missing of the streams and durable
// consumers, keeping what an earlier attempt created.
func (a *App) setupNATS(ctx context.Context) error {
	if !a.nc.IsConnected() {
		return errors.New("not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	if a.consumer == nil {
		if a.consumer, err = intake.New(ctx, a.nc, a.store, a.intake, a.intakeM, a.log, a.cfg.Intake); err != nil {
			return err
		}
	}
	if a.relay == nil {
		if a.relay, err = relay.New(ctx, a.nc, a.store, a.log, a.Registry); err != nil {
			return err
		}
	}
	if a.influx != nil {
		for _, src := range []*telemetry.Source{telemetry.TelemetrySource, telemetry.IncidentSource, telemetry.WorkOrderSource}[len(a.telemetry):] {
			m := telemetry.NewMetrics(nil, src.Stream)
			c, err := telemetry.NewConsumer(ctx, a.nc, src, a.influx, m,
				a.log.With("component", "telemetry", "stream", src.Stream), a.cfg.Telemetry.Config)
			if err != nil {
				return fmt.Errorf("app: telemetry %s: %w", src.Stream, err)
			}
			m.Register(a.Registry)
			a.telemetry = append(a.telemetry, c)
		}
	}
	if a.cfg.Gateways.OfflineAfter > 0 && a.silence == nil {
		if a.silence, err = intake.NewSilence(ctx, a.nc, a.store, a.intake, a.cfg.Gateways, a.log, a.Registry); err != nil {
			return err
		}
		a.silenceP.Store(a.silence)
	}
	if a.pm != nil && a.pmRuntime == nil {
		if a.pmRuntime, err = pm.NewRuntimeConsumer(ctx, a.nc, a.store, a.log, a.Registry); err != nil {
			return fmt.Errorf("app: %w", err)
		}
	}
	return nil
}

// Handle serves pattern with h beside the API, for embedding programs
// (the demo's mail room). Call it before Run.
func (a *App) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// Addr is the address the HTTP server listens on (useful with port 0).
func (a *App) Addr() string { return a.listener.Addr().String() }

// MetricsAddr is where /metrics is served: metrics.listen's address when
// set, else Addr.
func (a *App) MetricsAddr() string {
	if a.metricsListener != nil {
		return a.metricsListener.Addr().String()
	}
	return a.Addr()
}

// metricsHandler guards /metrics with the bearer token in
// metrics.token_file, when set.
func metricsHandler(c MetricsConfig, next http.Handler) (http.Handler, error) {
	if c.TokenFile == "" {
		return next, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("app: metrics.token_file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < 16 {
		return nil, fmt.Errorf("app: metrics.token_file: the token must be at least 16 characters")
	}
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="frostline-metrics"`)
			http.Error(w, "metrics need the bearer token in metrics.token_file", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// Store returns the app's store, for embedding programs: nil while a
// database that was away at start has not answered yet.
func (a *App) Store() Store {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.store
}

// seed loads the configured site files into the asset register.
func (a *App) seed(ctx context.Context) error {
	for _, pattern := range a.cfg.Sites {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return fmt.Errorf("app: sites %q: %w", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			s, err := rules.ParseSite(file, data)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			site, assets := cloud.FromSiteFile(s)
			if err := a.store.PutSite(ctx, &site); err != nil {
				return err
			}
			for i := range assets {
				// The site file owns what the edge needs (class, name,
				// make, model); the register keeps what people entered
				// through the API (warranty, life, costs).
				next := &assets[i]
				if old, err := a.store.Asset(ctx, next.Site, next.ID); err == nil {
					next.Warranty, next.ExpectedLife = old.Warranty, old.ExpectedLife
					if next.ReplacementCost == 0 {
						next.ReplacementCost = old.ReplacementCost
					}
					if next.InstalledOn == "" {
						next.InstalledOn = old.InstalledOn
					}
					if next.Serial == "" {
						next.Serial = old.Serial
					}
				}
				if err := a.store.PutAsset(ctx, next); err != nil {
					return err
				}
			}
			a.log.Info("site seeded", "site", site.ID, "assets", len(assets), "file", file)
		}
	}
	return nil
}

// siteLocation is a site's time zone, UTC when unknown.
func (a *App) siteLocation(ctx context.Context, site string) *time.Location {
	if s, err := a.store.Site(ctx, site); err == nil && s.Timezone != "" {
		if loc, err := time.LoadLocation(s.Timezone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// seedVendors loads the configured vendor files into the vendor register.
// Every vendor is validated first; a bad file changes nothing.
func (a *App) seedVendors(ctx context.Context) error {
	var all []dispatch.Vendor
	for _, pattern := range a.cfg.Vendors {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return fmt.Errorf("app: vendors %q: %w", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			vs, err := dispatch.ParseVendors(file, data)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			all = append(all, vs...)
		}
	}
	now := time.Now().UTC()
	for i := range all {
		if err := a.store.PutVendor(ctx, &all[i], now); err != nil {
			return err
		}
	}
	if len(all) > 0 {
		a.log.Info("vendors seeded", "vendors", len(all))
	}
	return nil
}

// ready answers /readyz: 200 when the database, NATS (with its streams
// and consumers) and InfluxDB are usable, else 503 naming each that is
// not, one a line ("nats: setting up streams and consumers").
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if store := a.Store(); store != nil {
		if err := store.Ping(ctx); err != nil {
			a.deps.set(depDatabase, "unavailable")
		} else {
			a.deps.set(depDatabase, "")
		}
	}
	if a.natsReady.Load() {
		if a.nc.IsConnected() {
			a.deps.set(depNATS, "")
		} else {
			a.deps.set(depNATS, "disconnected, reconnecting")
		}
	}
	if a.influx != nil {
		if err := a.influx.Ping(ctx); err != nil {
			a.deps.set(depInflux, "unreachable")
		} else {
			a.deps.set(depInflux, "")
		}
	}
	if missing := a.deps.problems(); len(missing) > 0 {
		http.Error(w, "not ready\n"+strings.Join(missing, "\n"), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Run serves until ctx is done, then shuts down gracefully: the HTTP
// server finishes its requests (up to ShutdownTimeout) and the consumer
// stops after its current batch. Run returns the first component failure.
//
// What waits for a dependency waits here, with the HTTP server already
// serving: a database that was away at start (then everything that needs
// it starts), and NATS's streams and consumers (then intake, the relay,
// the telemetry consumers and PM's run-hour counter start).
func (a *App) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	a.log.Info("serving", "addr", a.Addr(), "database", a.cfg.Database.Driver, "nats", a.cfg.NATS.URL != "")
	g.Go(func() error {
		if err := a.server.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("app: http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		defer cancel()
		return a.server.Shutdown(sctx)
	})
	if a.metrics != nil {
		g.Go(func() error {
			if err := a.metrics.Serve(a.metricsListener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("app: metrics: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
			defer cancel()
			return a.metrics.Shutdown(sctx)
		})
	}
	// Starts the rest once the database is there; it outlives nothing it
	// starts (errgroup waits for all).
	g.Go(func() error {
		if a.Store() == nil {
			if a.deps.retry(ctx, a.log, depDatabase, a.openStore) != nil {
				return nil // ctx ended
			}
			a.log.Info("database connected", "driver", a.cfg.Database.Driver)
		}
		a.runStoreLoops(ctx, g)
		if a.nc != nil {
			g.Go(func() error { return a.runNATS(ctx, g) })
		}
		return nil
	})
	err := g.Wait()
	a.log.Info("stopped", "err", err)
	return err
}

// runStoreLoops starts, in g, the loops that need only the store.
func (a *App) runStoreLoops(ctx context.Context, g *errgroup.Group) {
	if a.kpis != nil {
		g.Go(func() error { return a.kpis.Run(ctx) })
	}
	if a.rollup != nil {
		g.Go(func() error { return a.rollup.Run(ctx) })
	}
	g.Go(func() error { return a.sweeper.Run(ctx) })
	if a.pm != nil {
		g.Go(func() error { return a.pm.Run(ctx) })
	}
	g.Go(func() error { return a.webhooks.Run(ctx) })
	g.Go(func() error { return a.sla.Run(ctx) })
	if a.notify != nil {
		g.Go(func() error { return a.notify.sender.Run(ctx) })
		g.Go(func() error { return a.notify.chains.Run(ctx) })
	}
}

// runNATS waits for NATS, sets up its streams and consumers (retrying
// with backoff), then starts, in g, the consumers that read them.
func (a *App) runNATS(ctx context.Context, g *errgroup.Group) error {
	if a.deps.retry(ctx, a.log, depNATS, a.setupNATS) != nil {
		return nil // ctx ended
	}
	a.natsReady.Store(true)
	a.log.Info("nats streams and consumers ready", "url", a.nc.ConnectedUrlRedacted())
	g.Go(func() error { return a.consumer.Run(ctx) })
	g.Go(func() error { return a.relay.Run(ctx) })
	if a.silence != nil {
		g.Go(func() error { return a.silence.Run(ctx) })
	}
	for _, c := range a.telemetry {
		g.Go(func() error { return c.Run(ctx) })
	}
	if a.pmRuntime != nil {
		g.Go(func() error { return a.pmRuntime.Run(ctx) })
	}
	return nil
}

// Close releases the NATS connection and the store. Call it after Run
// returns.
func (a *App) Close() error {
	var err error
	if a.listener != nil {
		a.listener.Close() // closed already if Run served
	}
	if a.metricsListener != nil {
		a.metricsListener.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
	if a.influx != nil {
		a.influx.Close()
	}
	if store := a.Store(); store != nil {
		err = store.Close()
	}
	return err
}

// statusCollector reports work orders by status at scrape time.
type statusCollector struct{ store Store }

var woDesc = prometheus.NewDesc("frostline_workorders", "Work orders by status.", []string{"status"}, nil)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- woDesc }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.CountByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(woDesc, err)
		return
	}
	for _, s := range workorder.Statuses {
		ch <- prometheus.MustNewConstMetric(woDesc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
	}
}

// documentsCollector reports vendor documents that block dispatch
// (expired) or soon will (expiring within 30 days), at scrape time.
type documentsCollector struct{ store Store }

var docsDesc = prometheus.NewDesc("frostline_vendor_documents", "Vendor and technician documents that have expired or expire within 30 days.", []string{"state"}, nil)

func (c *documentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- docsDesc }

func (c *documentsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	vendors, err := c.store.Vendors(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(docsDesc, err)
		return
	}
	var expired, expiring int
	for _, d := range dispatch.ExpiringDocuments(vendors, time.Now(), 30*24*time.Hour) {
		if d.Expired {
			expired++
		} else {
			expiring++
		}
	}
	ch <- prometheus.MustNewConstMetric(docsDesc, prometheus.GaugeValue, float64(expired), "expired")
	ch <- prometheus.MustNewConstMetric(docsDesc, prometheus.GaugeValue, float64(expiring), "expiring_30d")
}
