// Package forward drains the edge agent's outbox to NATS JetStream.
//
// Each entry is published with its deterministic id as Nats-Msg-Id and
// removed from the outbox only once JetStream has acknowledged it, so a
// crash between the two re-sends a message the stream recognises as a
// duplicate. Publishing is one message at a time, in outbox order: that is
// what keeps the order per asset through an outage, and incidents go
// before any telemetry because the outbox hands them out first. While the
// cloud is unreachable the forwarder backs off exponentially.
package forward

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/wire"
)

// Source is the outbox as the forwarder uses it.
type Source interface {
	Next(max int) (outbox.Kind, []outbox.Entry, error)
	Remove(k outbox.Kind, seqs ...uint64) error
	Ready() <-chan struct{}
	// Len is how many entries wait in a queue: telemetry stops for an
	// incident that waits.
	Len(k outbox.Kind) int
}

var _ Source = (*outbox.Outbox)(nil)

// Config says how to reach NATS.
type Config struct {
	URL       string
	Name      string // connection name, shown by the server
	CredsFile string // NATS .creds (JWT + nkey seed); empty for none
	User      string
	Password  string
	TLS       *tls.Config
	// EnsureStreams creates the incident and telemetry streams when they
	// do not exist. A gateway's NATS user normally may not; a single-box
	// install may.
	EnsureStreams bool
	// Duplicates is the de-duplication window of streams it creates
	// (default 24h: a gateway that crashed between publish and remove
	// re-sends within it).
	Duplicates time.Duration
	// Batch is the most entries taken from the outbox at once (default
	// 16): the most telemetry batches in flight, which an incident raised
	// meanwhile waits behind (JetStream stores each, fsynced, in turn).
	Batch int
	// PublishTimeout bounds the wait for one ack (default 5s).
	PublishTimeout time.Duration
	// MaxBackoff caps the wait between failed attempts (default 30s).
	MaxBackoff time.Duration
	// Heartbeat is how often a heartbeat (wire.Heartbeat) is published
	// for each of Sites as Gateway, while connected (0: never).
	// Backlog, when set, tells the heartbeat how many incident events
	// wait in the outbox.
	Heartbeat time.Duration
	Gateway   string
	Sites     func() []string
	Backlog   func() int
	// Readings, when set, gives per site the event time of each asset's
	// newest reading, carried by the heartbeat.
	Readings func(site string) map[string]time.Time
}

// Metrics are the forwarder's.
type Metrics struct {
	Published  *prometheus.CounterVec
	Duplicates prometheus.Counter
	Errors     prometheus.Counter
	Lag        prometheus.Histogram
	Connected  prometheus.Gauge
	Reconnects prometheus.Counter
	Heartbeats prometheus.Counter
}

// NewMetrics creates the forwarder's metrics, registered on reg unless nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_forward_published_total", Help: "Outbox entries acknowledged by JetStream, by queue."}, []string{"queue"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_forward_duplicates_total", Help: "Publishes JetStream recognised as duplicates (a re-send after a crash)."}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_forward_errors_total", Help: "Failed publish attempts."}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "frostline_edge_forward_lag_seconds", Help: "Time from outbox commit to JetStream ack.",
			Buckets: []float64{.001, .005, .02, .1, .5, 2, 10, 60, 600, 3600, 86400}}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frostline_edge_nats_connected", Help: "1 while connected to NATS."}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_nats_reconnects_total", Help: "Reconnections to NATS."}),
		Heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_heartbeats_total", Help: "Heartbeats published to NATS (one per site each nats.heartbeat while connected)."}),
	}
	m.Published.WithLabelValues("incidents")
	m.Published.WithLabelValues("telemetry")
	if reg != nil {
		reg.MustRegister(m.Published, m.Duplicates, m.Errors, m.Lag, m.Connected, m.Reconnects, m.Heartbeats)
	}
	return m
}

// Forwarder drains a Source to JetStream.
type Forwarder struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	metrics *Metrics
	// connected is set by NATS's callbacks and read by the agent's
	// /readyz.
	connected atomic.Bool
}

// Connected reports whether the forwarder is connected to NATS.
func (f *Forwarder) Connected() bool { return f.connected.Load() }

// New returns a Forwarder.
func New(cfg Config, src Source, log *slog.Logger, m *Metrics) *Forwarder {
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 24 * time.Hour
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Forwarder{cfg: cfg, src: src, log: log.With("component", "forward"), metrics: m}
}

func (f *Forwarder) connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(f.cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.ConnectHandler(func(*nats.Conn) { f.metrics.Connected.Set(1); f.connected.Store(true) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			f.metrics.Connected.Set(1)
			f.connected.Store(true)
			f.metrics.Reconnects.Inc()
			f.log.Info("nats reconnected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			f.metrics.Connected.Set(0)
			f.connected.Store(false)
			if err != nil {
				f.log.Warn("nats disconnected", "err", err)
			}
		}),
	}
	if f.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(f.cfg.CredsFile))
	}
	if f.cfg.User != "" {
		opts = append(opts, nats.UserInfo(f.cfg.User, f.cfg.Password))
	}
	if f.cfg.TLS != nil {
		opts = append(opts, nats.Secure(f.cfg.TLS))
	}
	nc, err := nats.Connect(f.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("forward: connect %s: %w", f.cfg.URL, err)
	}
	if nc.IsConnected() {
		f.metrics.Connected.Set(1)
		f.connected.Store(true)
	}
	return nc, nil
}

// Run forwards until ctx is done. Entries still in the outbox then stay
// there for the next start.
func (f *Forwarder) Run(ctx context.Context) error {
	nc, err := f.connect()
	if err != nil {
		return err
	}
	defer func() {
		nc.Close()
		f.connected.Store(false)
	}()
	if f.cfg.Heartbeat > 0 && f.cfg.Sites != nil {
		// The heartbeat goroutine ends before the connection closes.
		hctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			stop()
			wg.Wait()
		}()
		wg.Go(func() { f.heartbeats(hctx, nc) })
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	if f.cfg.EnsureStreams {
		if err := f.retry(ctx, func() error { return f.ensureStreams(ctx, js) }); err != nil {
			return nil // ctx done
		}
	}
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	for {
		if err := f.retry(ctx, func() error { return f.drain(ctx, js) }); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.src.Ready():
		case <-poll.C:
		}
	}
}

// heartbeats publishes a heartbeat per site at once and then every
// cfg.Heartbeat until ctx is done. A core publish: the heartbeat stream
// keeps the newest per site, and one sent while disconnected is skipped.
func (f *Forwarder) heartbeats(ctx context.Context, nc *nats.Conn) {
	started := time.Now()
	t := time.NewTicker(f.cfg.Heartbeat)
	defer t.Stop()
	for {
		if nc.IsConnected() {
			backlog := 0
			if f.cfg.Backlog != nil {
				backlog = f.cfg.Backlog()
			}
			now := time.Now()
			for _, site := range f.cfg.Sites() {
				var readings map[string]time.Time
				if f.cfg.Readings != nil {
					readings = f.cfg.Readings(site)
				}
				data, _ := json.Marshal(wire.NewHeartbeat(f.cfg.Gateway, site, now, started, backlog, readings))
				if err := nc.Publish(wire.HeartbeatSubject(site), data); err != nil {
					f.log.Warn("heartbeat not sent", "site", site, "err", err)
					continue
				}
				f.metrics.Heartbeats.Inc()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retry runs op until it succeeds, backing off exponentially with jitter
// between failures; it returns ctx's error when ctx ends first.
func (f *Forwarder) retry(ctx context.Context, op func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.metrics.Errors.Inc()
		f.log.Warn("forwarding failed, backing off", "err", err, "wait", wait)
		t := time.NewTimer(wait + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, f.cfg.MaxBackoff)
	}
}

// drain publishes until the outbox is empty.
func (f *Forwarder) drain(ctx context.Context, js jetstream.JetStream) error {
	for ctx.Err() == nil {
		kind, entries, err := f.src.Next(f.cfg.Batch)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		var done []uint64
		var perr error
		if kind == outbox.Telemetry {
			done, perr = f.publishTelemetry(ctx, js, entries)
		} else {
			done, perr = f.publishIncidents(ctx, js, entries)
		}
		if len(done) > 0 {
			if err := f.src.Remove(kind, done...); err != nil {
				return err
			}
		}
		if perr != nil {
			return perr
		}
	}
	return nil
}

// publishIncidents publishes incident events one at a time, each waiting
// for its ack: a later event never overtakes an earlier one that failed.
// It returns the sequence numbers of those acknowledged.
func (f *Forwarder) publishIncidents(ctx context.Context, js jetstream.JetStream, entries []outbox.Entry) ([]uint64, error) {
	done := make([]uint64, 0, len(entries))
	for i := range entries {
		if ctx.Err() != nil {
			break
		}
		if err := f.publish(ctx, js, &entries[i]); err != nil {
			return done, err
		}
		done = append(done, entries[i].Seq)
		f.delivered(outbox.Incidents, &entries[i])
	}
	return done, nil
}

// publishTelemetry publishes telemetry batches without waiting for each
// ack in turn, then collects the acks: a backlog drains at JetStream's
// pace, not one round trip per batch. Order does not matter here (a
// rollup's point is keyed by its own time, and a re-send overwrites it
// with the same values). It stops publishing once an incident waits in
// the outbox, so that the incident goes next, and returns the sequence
// numbers of the batches acknowledged.
func (f *Forwarder) publishTelemetry(ctx context.Context, js jetstream.JetStream, entries []outbox.Entry) ([]uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var perr error
	for i := range entries {
		if ctx.Err() != nil || (i > 0 && f.src.Len(outbox.Incidents) > 0) {
			break
		}
		fut, err := js.PublishMsgAsync(message(&entries[i]))
		if err != nil {
			perr = fmt.Errorf("forward: publish %s %s: %w", entries[i].Subject, entries[i].MsgID, err)
			break
		}
		futures = append(futures, fut)
	}
	timeout := time.NewTimer(f.cfg.PublishTimeout)
	defer timeout.Stop()
	done := make([]uint64, 0, len(futures))
	for i, fut := range futures {
		e := &entries[i]
		select {
		case ack := <-fut.Ok():
			if ack.Duplicate {
				f.metrics.Duplicates.Inc()
			}
			done = append(done, e.Seq)
			f.delivered(outbox.Telemetry, e)
			continue
		case err := <-fut.Err():
			perr = cmp.Or(perr, fmt.Errorf("forward: publish %s %s: %w", e.Subject, e.MsgID, err))
		case <-timeout.C:
			return done, cmp.Or(perr, fmt.Errorf("forward: publish %s %s: no ack within %s", e.Subject, e.MsgID, f.cfg.PublishTimeout))
		case <-ctx.Done():
			return done, cmp.Or(perr, ctx.Err())
		}
	}
	return done, perr
}

// delivered counts an entry JetStream acknowledged.
func (f *Forwarder) delivered(k outbox.Kind, e *outbox.Entry) {
	f.metrics.Published.WithLabelValues(k.String()).Inc()
	f.metrics.Lag.Observe(time.Since(e.Queued).Seconds())
}

func message(e *outbox.Entry) *nats.Msg {
	msg := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
	msg.Header.Set(wire.MsgIDHeader, e.MsgID)
	return msg
}

func (f *Forwarder) publish(ctx context.Context, js jetstream.JetStream, e *outbox.Entry) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.PublishTimeout)
	defer cancel()
	ack, err := js.PublishMsg(ctx, message(e))
	if err != nil {
		return fmt.Errorf("forward: publish %s %s: %w", e.Subject, e.MsgID, err)
	}
	if ack.Duplicate {
		f.metrics.Duplicates.Inc()
	}
	return nil
}

// ensureStreams creates the streams the edge publishes to when they are
// missing, as edge/wire defines them, leaving existing ones (the cloud's)
// as they are. The server should run with sync_interval: always so that an
// acknowledged incident survives a power cut.
func (f *Forwarder) ensureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range []jetstream.StreamConfig{wire.IncidentStreamConfig, wire.TelemetryStreamConfig, wire.HeartbeatStreamConfig} {
		if _, err := wire.EnsureStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("forward: %w", err)
		}
	}
	return nil
}
