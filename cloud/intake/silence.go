package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// SilenceConfig is the gateways block: when a store whose gateway has sent
// heartbeats (edge/wire.Heartbeat) counts as offline.
type SilenceConfig struct {
	// OfflineAfter is how long a store's gateway may send no heartbeat
	// before one gateway_offline work order is raised for the store
	// (0: never). 10m by default: twenty missed 30 s heartbeats.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// CheckEvery is how often the heartbeats are read (30s by default).
	CheckEvery time.Duration `yaml:"check_every"`
}

// DefaultSilenceConfig returns the defaults.
func DefaultSilenceConfig() SilenceConfig {
	return SilenceConfig{OfflineAfter: 10 * time.Minute, CheckEvery: 30 * time.Second}
}

// SilenceRule is the rule name of the incidents Silence raises, beside the
// edge's own rules.
const SilenceRule = "gateway-heartbeat"

// Silence raises one gateway_offline incident per store whose gateway's
// heartbeats stopped, and clears it when they resume. The incidents go
// through the same intake as the edge's, as events of an incident whose id
// is derived from the store and its last heartbeat: every replica runs a
// Silence, and the intake's message claims make their reports one.
//
// Heartbeats are read from the heartbeat stream, which keeps the newest
// per store, and judged by JetStream's receipt time, not the gateway's own
// clock (which may be what is wrong). A store that has never sent a
// heartbeat is not judged: sites without a gateway are normal.
type Silence struct {
	stream jetstream.Stream
	store  Store
	intake *workorder.Intake[store.Tx]
	cfg    SilenceConfig
	log    *slog.Logger
	now    func() time.Time
	silent prometheus.Gauge
	// raised maps a store to the heartbeat time its open episode is named
	// by. Only Run's goroutine touches it. A replica restarted while a
	// store is silent finds the episode again (its opening is a repeat);
	// one restarted while the store came back does not clear it, and the
	// work order then waits for a person.
	raised map[string]time.Time
	// mu guards latest, each store's newest heartbeat: Check writes it,
	// sensor verification reads it (Newest) from the sweeper.
	mu     sync.Mutex
	latest map[string]wire.Heartbeat
}

// Newest returns the event time of an asset's newest reading as its
// gateway's latest heartbeat reported it (zero when the asset has sent
// nothing), and whether that heartbeat says at all (a store without
// heartbeats, or a heartbeat without readings, does not). It is
// workorder.Intake.Readings.
func (s *Silence) Newest(_ context.Context, site, asset string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hb, ok := s.latest[site]
	if !ok || hb.Readings == nil {
		return time.Time{}, false
	}
	return hb.Readings[asset], true
}

// NewSilence ensures the heartbeat stream and returns a Silence ready to
// Run.
func NewSilence(ctx context.Context, nc *nats.Conn, store Store, in *workorder.Intake[store.Tx], cfg SilenceConfig, log *slog.Logger, reg prometheus.Registerer) (*Silence, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("intake: silence: %w", err)
	}
	stream, err := wire.EnsureStream(ctx, js, wire.HeartbeatStreamConfig)
	if err != nil {
		return nil, fmt.Errorf("intake: silence: %w", err)
	}
	s := &Silence{stream: stream, store: store, intake: in, cfg: cfg, log: log.With("component", "silence"), now: time.Now,
		raised: map[string]time.Time{}, latest: map[string]wire.Heartbeat{},
		silent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "frostline_gateways_silent",
			Help: "Stores whose gateway has sent no heartbeat for gateways.offline_after."})}
	if reg != nil {
		reg.MustRegister(s.silent)
	}
	return s, nil
}

// Run checks every CheckEvery until ctx is done.
func (s *Silence) Run(ctx context.Context) error {
	every := s.cfg.CheckEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("heartbeat check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check reads each store's newest heartbeat and raises or clears its
// gateway_offline incident.
func (s *Silence) Check(ctx context.Context) error {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(wire.HeartbeatSubjects))
	if err != nil {
		return fmt.Errorf("intake: silence: %w", err)
	}
	now := s.now()
	silent := 0
	var errs []error
	for subject := range info.State.Subjects {
		m, err := s.stream.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hb, err := wire.DecodeHeartbeat(m.Data)
		if site, ok := wire.SiteOfSubject(subject); err != nil || !ok || site != hb.Site {
			s.log.Warn("heartbeat refused", "subject", subject, "err", err)
			continue
		}
		s.mu.Lock()
		s.latest[hb.Site] = hb
		s.mu.Unlock()
		last := m.Time.UTC()
		prev, open := s.raised[hb.Site]
		switch {
		case now.Sub(last) > s.cfg.OfflineAfter:
			silent++
			if open && prev.Equal(last) {
				continue
			}
			ev := silenceEvent(hb, last, rules.Opened, last.Add(s.cfg.OfflineAfter))
			if err := s.receive(ctx, ev); err != nil {
				errs = append(errs, err)
				continue
			}
			s.raised[hb.Site] = last
			s.log.Warn("store gateway silent: gateway_offline raised", "site", hb.Site, "gateway", hb.Gateway, "last_heartbeat", last)
		case open:
			ev := silenceEvent(hb, prev, rules.Cleared, last)
			if err := s.receive(ctx, ev); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(s.raised, hb.Site)
			s.log.Info("store gateway back: gateway_offline cleared", "site", hb.Site, "gateway", hb.Gateway, "silent_for", last.Sub(prev))
		}
	}
	s.silent.Set(float64(silent))
	return errors.Join(errs...)
}

// silenceEvent is the event of the episode that began with the heartbeat
// at last.
func silenceEvent(hb wire.Heartbeat, last time.Time, typ rules.EventType, at time.Time) rules.Event {
	ev := rules.Event{
		Event: typ, Incident: rules.IncidentID(hb.Site, rules.SiteAsset, SilenceRule, last), Seq: 1,
		Site: hb.Site, Asset: rules.SiteAsset, Rule: SilenceRule, Problem: "gateway_offline", Priority: "P2", Trade: "controls",
		Title:   hb.Site + ": store gateway offline",
		Summary: fmt.Sprintf("No heartbeat from gateway %s since %s.", hb.Gateway, last.Format(time.RFC3339)),
		At:      at, Started: last, Occurrences: 1,
	}
	if typ == rules.Cleared {
		ev.Seq = 2
		ev.Summary = fmt.Sprintf("Gateway %s sends heartbeats again, after %s.", hb.Gateway, at.Sub(last).Round(time.Second))
	}
	return ev
}

func (s *Silence) receive(ctx context.Context, ev rules.Event) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		_, err := ReceiveBatch(ctx, tx, s.intake, []workorder.Report{workorder.FromIncident(&ev)})
		return err
	})
}
