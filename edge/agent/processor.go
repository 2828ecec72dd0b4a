package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/edge/evidence"
	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/telemetry"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// committer is the outbox as the processor uses it.
type committer interface {
	Commit(outbox.Batch) error
	Checkpoint() ([]byte, [][]byte, error)
}

var _ committer = (*outbox.Outbox)(nil)

// releaser is an outbox that can drop its file's pages from the resident
// set (outbox.Outbox.ReleaseMapped); the processor asks after each
// checkpoint and each telemetry batch.
type releaser interface{ ReleaseMapped() error }

var _ releaser = (*outbox.Outbox)(nil)

// checkpoint is what the processor stores with every commit: the engine's
// snapshot, which holds per series the newest event time evaluated
// (Engine.Newest), so that a message the broker redelivers after a crash
// between commit and ack is recognised and not evaluated twice. Earlier
// versions kept those times beside the snapshot, in Seen.
//
// Telemetry is the aggregator's open periods (telemetry.AppendSnapshot),
// so that the minutes in progress at a crash are rebuilt, not lost: the
// readings logged since are replayed into both. Absent (older versions,
// telemetry off) the aggregator starts empty, as it did before.
type checkpoint struct {
	Version   int              `json:"v"`
	Engine    json.RawMessage  `json:"engine"`
	Seen      map[string]int64 `json:"seen,omitempty"`
	Telemetry []byte           `json:"telemetry,omitempty"`
	// Clock is the steady clock's state (clock.go), so that a restart
	// while it slews after a step of the wall clock goes on slewing.
	Clock *clockState `json:"clock,omitempty"`
}

// clockState is what the steady clock said at a checkpoint and the wall
// clock then.
type clockState struct {
	At   time.Time `json:"at"`
	Wall time.Time `json:"wall"`
}

// clockKeeper is the steady clock as the processor checkpoints it.
type clockKeeper interface {
	State() (at, wall time.Time)
	Resume(at, wall time.Time)
}

var _ clockKeeper = (*steadyClock)(nil)

const checkpointVersion = 1

// processor owns the rule engine and the telemetry aggregator. It runs on
// one goroutine; nothing in it is shared.
type processor struct {
	cfg *Config
	log *slog.Logger
	now func() time.Time
	// wall is the wall clock (time.Now) for the processor's housekeeping,
	// which follows real time even where now is a simulation's: when to
	// write a whole checkpoint, when to release the outbox's pages, how
	// often to log a repeated problem. Tests set it to a fake clock.
	wall func() time.Time
	// behind, when set, is how far now is behind the wall clock while it
	// slews after a step forward (clock.go).
	behind func() time.Duration
	// clock, when set, is the steady clock behind now: checkpointed, and
	// resumed from the checkpoint at start.
	clock clockKeeper
	m     *metrics
	ob    committer
	rules *loaded
	eng   *rules.Engine
	agg   *telemetry.Aggregator
	// win keeps each asset's recent history for the incidents' charts.
	win     *evidence.Recorder
	limiter *logLimiter

	events  []rules.Event
	scratch []rules.Event
	// input is what this batch evaluated, for the input log.
	input []byte
	// lastCheckpoint is when the engine state was last written whole;
	// forceCheckpoint makes the next commit write it.
	lastCheckpoint  time.Time
	forceCheckpoint bool
	// released is when the outbox's mapped pages were last released
	// (releaser), at most once per releaseEvery for telemetry.
	released time.Time
	// unwritten is set while p.batch, built at builtAt, waits to be
	// written (its commit failed).
	unwritten bool
	builtAt   time.Time
	cpBuf     []byte
	// aggBuf holds the telemetry aggregator's snapshot while a
	// checkpoint is written.
	aggBuf []byte
	// telBuf holds the telemetry JSON of the batch last built.
	telBuf  []byte
	pending []ingest.Message
	batch   outbox.Batch
	stats   rules.Stats
	late    uint64
	// The newest event time evaluated and the wall time it arrived at:
	// the clock ticks advance the engine by the wall time elapsed since,
	// so a feed whose clocks lag (a backfill, a controller's skewed clock)
	// is not judged silent by a wall clock it never followed.
	lastEvent, lastArrival time.Time
	started                time.Time
	// blocked is set while the outbox's disk is full and nothing is
	// acknowledged (/readyz reads it from the HTTP goroutine); pause and
	// resume, when set, stop and restart the MQTT side meanwhile.
	blocked               atomic.Bool
	pauseMQTT, resumeMQTT func()
	// sites are the running sites' ids, for the heartbeats (the
	// forwarder's goroutine reads them).
	sites atomic.Pointer[[]string]
	// newest is, per site and asset, the event time of the newest
	// reading evaluated: refreshed on the processor's goroutine every
	// nats.heartbeat, read by the heartbeat's.
	newest atomic.Pointer[map[string]map[string]time.Time]
	// maxAhead is ingest.max_future_skew: how far ahead of the wall
	// clock a reading's time, and the event clock, may be (0: no bound).
	maxAhead time.Duration
	// Trend fits already handed to telemetry go up to predSince.
	preds     []rules.Prediction
	predSince time.Time
}

// eventNow estimates event time at wall time now for the clock tick. It
// reports false while nothing has arrived since start and the agent is
// young: a feed may be about to replay its history, and silence is only
// judged once it has had its chance.
//
// Event time never runs past the wall clock plus ingest.max_future_skew:
// readings beyond it are dropped (handleAt), and this bounds what a rule
// state restored from before that check, or a wall clock stepped back,
// could still carry.
func (p *processor) eventNow(now time.Time) (time.Time, bool) {
	if p.lastArrival.IsZero() {
		if p.started.IsZero() {
			p.started = now
		}
		return now, now.Sub(p.started) >= startupGrace
	}
	at := p.lastEvent.Add(now.Sub(p.lastArrival))
	if p.maxAhead > 0 {
		if limit := now.Add(p.maxAhead); at.After(limit) {
			at = limit
		}
	}
	return at, true
}

// tick feeds the wall clock, read at now, to the engine as event time.
func (p *processor) tick(now time.Time) {
	if at, ok := p.eventNow(now); ok {
		p.events = p.eng.Advance(p.events, at)
		p.input = appendAdvance(p.input, at)
	}
}

// An incident's chart (wire.Window): six hours at five-minute points.
const (
	evidenceStep = 5 * time.Minute
	evidenceSpan = 6 * time.Hour
)

// startupGrace is how long after start an agent with no readings at all
// waits before its clock ticks judge the sites silent.
const startupGrace = 10 * time.Minute

func newProcessor(cfg *Config, log *slog.Logger, now func() time.Time, m *metrics, ob committer) *processor {
	p := &processor{cfg: cfg, log: log, now: now, wall: time.Now, m: m, ob: ob,
		maxAhead: cfg.Ingest.MaxFutureSkew, win: evidence.New(evidenceStep, evidenceSpan)}
	p.limiter = newLogLimiter(10*time.Second, func() time.Time { return p.wall() })
	return p
}

func (p *processor) engineOptions() rules.Options {
	return rules.Options{Lateness: p.cfg.Rules.Lateness}
}

// start builds the engine from l and continues from the stored checkpoint.
func (p *processor) start(l *loaded) error {
	eng, err := rules.NewEngine(l.set, l.sites, p.engineOptions())
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	p.install(l, eng)
	data, input, err := p.ob.Checkpoint()
	if err != nil {
		return err
	}
	p.forceCheckpoint = true
	var cp checkpoint
	if data != nil {
		data, err := readCheckpoint(data)
		if err == nil {
			err = json.Unmarshal(data, &cp)
		}
		if err != nil || cp.Version != checkpointVersion {
			// A checkpoint this build cannot read: start afresh rather
			// than refuse to run.
			p.log.Error("checkpoint unreadable, starting with empty rule state", "err", err, "version", cp.Version)
			return p.commit()
		}
		if p.events, err = p.eng.Restore(p.events[:0], cp.Engine); err != nil {
			p.log.Error("checkpoint not restored, starting with empty rule state", "err", err)
			return p.commit()
		}
		for k, t := range cp.Seen {
			if sr, ok := parseSeries(k); ok {
				p.eng.NoteNewest(sr.site, sr.asset, sr.metric, t)
			}
		}
	}
	// The steady clock's state as of the last commit: the checkpoint's,
	// or the input log's last record of it. First: everything after
	// reads the clock.
	clock := cp.Clock
	rp := &replay{p: p}
	for _, in := range input {
		if err := replayClocks(in, rp); err != nil {
			break
		}
	}
	if rp.lastClock != nil {
		clock = rp.lastClock
	}
	if p.clock != nil && clock != nil {
		p.clock.Resume(clock.At, clock.Wall)
	}
	if p.agg != nil && cp.Telemetry != nil {
		if err := p.agg.Restore(cp.Telemetry, p.now()); err != nil {
			p.log.Error("telemetry periods in progress not restored, starting them afresh", "err", err)
		}
	}
	// Replay the input logged since the checkpoint. Its events and the
	// telemetry it closed were committed with it, so they are dropped here.
	rp.arrived = p.now()
	for _, in := range input {
		if err := replayInput(in, rp); err != nil {
			p.log.Error("input log unreadable, continuing from the part replayed", "err", err)
			break
		}
	}
	if p.agg != nil {
		// Periods the replay closed went out before the crash.
		p.agg.Flush(nil, time.Time{})
		p.late = p.agg.Late
	}
	p.log.Info("rule state restored", "instances", p.eng.Instances(), "replayed", rp.n)
	return p.commit()
}

// replay feeds the input log back into the engine and the telemetry
// aggregator; the events were committed with it, so they are dropped.
type replay struct {
	p *processor
	n int // readings
	// clocks, set, makes the replay note the clock records only (the
	// first pass); clock is the last of them.
	clocks    bool
	lastClock *clockState
	// arrived is the wall time the replayed readings are taken to have
	// arrived at (the restart's).
	arrived time.Time
}

// replayClocks finds the input log's last clock record.
func replayClocks(in []byte, r *replay) error {
	r.clocks = true
	defer func() { r.clocks = false }()
	return replayInput(in, r)
}

func (r *replay) clock(at, wall time.Time) {
	if r.clocks {
		r.lastClock = &clockState{At: at, Wall: wall}
	}
}

func (r *replay) reading(rd rules.Reading) {
	if r.clocks {
		return
	}
	r.n++
	var err error
	r.p.scratch, err = r.p.eng.Observe(r.p.scratch[:0], rd)
	if err == nil && r.p.agg != nil {
		// As handleAt: the readings the engine accepted.
		r.p.agg.Add(rd, r.arrived)
	}
}

func (r *replay) closeTelemetry(site string, upTo time.Time) {
	if !r.clocks && r.p.agg != nil {
		r.p.agg.CloseSite(site, upTo)
	}
}

func (r *replay) advance(t time.Time) {
	if !r.clocks {
		r.p.scratch = r.p.eng.Advance(r.p.scratch[:0], t)
	}
}

func (r *replay) offline(site string, assets []string, at time.Time) {
	if r.clocks {
		return
	}
	r.p.scratch, _ = r.p.eng.MarkOffline(r.p.scratch[:0], site, assets, at)
}

func (p *processor) install(l *loaded, eng *rules.Engine) {
	p.rules, p.eng = l, eng
	ids := make([]string, len(l.sites))
	for i, s := range l.sites {
		ids[i] = s.ID
	}
	p.sites.Store(&ids)
	p.stats = eng.Stats()
	if p.cfg.Telemetry.Enabled && p.agg == nil {
		p.agg = telemetry.New(p.cfg.Telemetry.Period, p.cfg.Gateway, p.classOf)
	}
	p.m.rulesLoaded.Set(float64(l.set.Len()))
}

func (p *processor) classOf(site, asset string) string {
	return p.eng.AssetClass(site, asset)
}

// reload builds an engine from new rules and sites and moves the running
// state into it: unchanged rules continue, removed ones clear their open
// incidents. On any error the running rules stay.
func (p *processor) reload() {
	l, err := loadRules(p.cfg)
	if err != nil {
		p.m.reloads.WithLabelValues("error").Inc()
		for _, e := range rules.AsErrors(err) {
			p.log.Error("rules reload rejected, keeping the running rules", "err", e.Error())
		}
		if len(rules.AsErrors(err)) == 0 {
			p.log.Error("rules reload rejected, keeping the running rules", "err", err)
		}
		return
	}
	if l.version == p.rules.version {
		return
	}
	eng, err := rules.NewEngine(l.set, l.sites, p.engineOptions())
	if err == nil {
		var snap []byte
		if snap, err = p.eng.Snapshot(); err == nil {
			p.events, err = eng.Restore(p.events, snap)
		}
	}
	if err != nil {
		p.m.reloads.WithLabelValues("error").Inc()
		p.log.Error("rules reload failed, keeping the running rules", "err", err)
		return
	}
	old := p.rules.version
	p.install(l, eng)
	// Logged input replays onto a checkpoint with the rules it ran under.
	p.forceCheckpoint = true
	p.m.reloads.WithLabelValues("ok").Inc()
	p.log.Info("rules reloaded", "from", old, "to", l.version, "rules", l.set.Len(), "sites", len(l.sites))
}

// lingerGap is how long a batch pauses for more messages when its queue
// is empty; a pause that brings none ends the batch. A pause also spans
// one mqtt.read_gap and a millisecond (see pause): messages come in a burst
// per read, and a pause shorter than the gap between reads would end
// batches between two bursts.
const lingerGap = 2 * time.Millisecond

// pause is how long a batch waits for more messages when its queue is
// empty.
func (p *processor) pause() time.Duration {
	return max(lingerGap, p.cfg.MQTT.ReadGap+time.Millisecond)
}

// run evaluates messages until ctx is done, committing in batches: a batch
// ends when a pause (p.pause) brought no message or the batch is
// outbox.max_delay old, when it
// reaches max_batch, or when a reading raised an incident event (which
// then reaches the outbox with no wait). It returns only on ctx or on an
// outbox failure, which the agent cannot go past without losing the
// guarantee.
func (p *processor) run(ctx context.Context, msgs <-chan ingest.Message, reload <-chan struct{}) error {
	var tick <-chan time.Time
	if p.cfg.Rules.Tick > 0 {
		t := time.NewTicker(p.cfg.Rules.Tick)
		defer t.Stop()
		tick = t.C
	}
	// linger waits for the next message of a batch.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	pause := p.pause()
	var beat <-chan time.Time
	if p.cfg.NATS.Heartbeat > 0 {
		t := time.NewTicker(p.cfg.NATS.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	for {
		select {
		case <-beat:
			p.snapshotNewest()
			continue
		case <-ctx.Done():
			p.forceCheckpoint = true // a quick start next time
			return p.commit()
		case m := <-msgs:
			// Messages are stamped with the time of the wake-up that
			// took them (the clock read once per pause, not per message).
			woke := p.now()
			p.handleAt(m, woke)
			deadline := woke.Add(p.cfg.Outbox.MaxDelay)
		fill:
			for len(p.pending) < p.cfg.Outbox.MaxBatch && len(p.events) == 0 {
				select {
				case m := <-msgs:
					p.handleAt(m, woke)
					continue
				default:
				}
				// The queue is empty: pause, then take what came meanwhile
				// (one wake-up per pause, not one per message). A pause
				// that brought nothing ends the batch: a broker whose
				// in-flight window is full sends nothing more until these
				// are acknowledged.
				wait := min(deadline.Sub(p.now()), pause)
				if wait <= 0 {
					break
				}
				linger.Reset(wait)
				select {
				case <-linger.C:
				case <-ctx.Done():
					linger.Stop()
					break fill
				}
				if len(msgs) == 0 {
					break
				}
				woke = p.now()
			}
		case <-tick:
			// The injected clock, not the ticker's stamp: tests drive
			// both the readings' arrival and the tick with one clock.
			p.tick(p.now())
		case <-reload:
			p.reload()
		}
		if err := p.commit(); err != nil {
			if !noSpace(err) {
				return err
			}
			if err := p.waitForSpace(ctx, err); err != nil {
				return err
			}
		}
	}
}

// noSpace reports whether err is a full disk (or quota): the one outbox
// failure the agent waits out rather than exits on.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Backoff between writes to a full disk.
const (
	minSpaceWait = 100 * time.Millisecond
	maxSpaceWait = 5 * time.Second
)

// waitForSpace writes the batch that failed for want of space again,
// backing off, until it succeeds, and only then acknowledges it. Meanwhile
// nothing is acknowledged and no message evaluated: the MQTT side is
// paused and the broker keeps what it has in the persistent session.
// It returns nil once written, ctx's end as nil (the next start continues
// from the last commit and the broker redelivers), or a failure other
// than a full disk.
func (p *processor) waitForSpace(ctx context.Context, err error) error {
	p.blocked.Store(true)
	p.m.outboxBlocked.Set(1)
	if p.pauseMQTT != nil {
		p.pauseMQTT()
	}
	since := p.wall()
	p.log.Error("outbox disk full: not acknowledging; the broker holds new messages until there is room", "err", err, "path", p.cfg.Outbox.Path)
	t := time.NewTimer(minSpaceWait)
	defer t.Stop()
	for wait := minSpaceWait; ; wait = min(2*wait, maxSpaceWait) {
		p.m.outboxNoSpace.Inc()
		select {
		case <-ctx.Done():
			p.log.Warn("stopping with the outbox disk full; the last batch is left to the broker's redelivery")
			return nil
		case <-t.C:
		}
		err = p.commit()
		if err == nil {
			break
		}
		if !noSpace(err) {
			return err
		}
		t.Reset(wait)
	}
	p.blocked.Store(false)
	p.m.outboxBlocked.Set(0)
	if p.resumeMQTT != nil {
		p.resumeMQTT()
	}
	p.log.Info("outbox writes again: acknowledging", "blocked_for", p.wall().Sub(since).Round(time.Millisecond))
	return nil
}

// snapshotNewest publishes, per site and asset that has reported, the
// event time of its newest reading, for the heartbeat.
func (p *processor) snapshotNewest() {
	out := make(map[string]map[string]time.Time, len(p.rules.sites))
	for _, s := range p.rules.sites {
		m := map[string]time.Time{}
		for _, a := range s.Assets {
			var n int64
			for id := range rules.Metrics {
				n = max(n, p.eng.Newest(s.ID, a.ID, rules.MetricID(id)))
			}
			if n > 0 {
				m[a.ID] = time.Unix(0, n).UTC()
			}
		}
		out[s.ID] = m
	}
	p.newest.Store(&out)
}

// newestOf returns the snapshot's newest reading per asset of site.
func (p *processor) newestOf(site string) map[string]time.Time {
	if all := p.newest.Load(); all != nil {
		return (*all)[site]
	}
	return nil
}

// series identifies a series (or, with no metric, an asset) without
// building a string per reading.
type series struct {
	site, asset string
	metric      rules.MetricID
}

// parseSeries reads a series as earlier checkpoints named it:
// site/asset/metric.
func parseSeries(k string) (series, bool) {
	site, rest, ok1 := strings.Cut(k, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok1 || i < 0 {
		return series{}, false
	}
	m := rules.LookupMetric(rest[i+1:])
	return series{site, rest[:i], m}, m != rules.NoMetric
}

// handle evaluates one message's readings, arrived now.
func (p *processor) handle(m ingest.Message) { p.handleAt(m, p.now()) }

// handleAt evaluates one message's readings, arrived at arrived.
func (p *processor) handleAt(m ingest.Message, arrived time.Time) {
	p.pending = append(p.pending, m)
	if m.Status != nil {
		p.status(m.Status, arrived)
		return
	}
	if m.Redelivered && p.alreadySeen(m.Readings) {
		p.m.redelivered.Add(float64(len(m.Readings)))
		return
	}
	var limit time.Time
	if p.maxAhead > 0 {
		limit = arrived.Add(p.maxAhead)
		if p.behind != nil {
			// The gateway's clock slews towards a wall clock stepped
			// forward: a device's own time is judged by the wall clock.
			limit = limit.Add(p.behind())
		}
	}
	for i := range m.Readings {
		r := &m.Readings[i]
		if !limit.IsZero() && r.At.After(limit) {
			// Dropped before the engine and the input log: the engine
			// would hold it, and a second one would confirm it and move
			// the site's clock to where the device's clock is wrong.
			p.m.readingsFuture.Inc()
			p.limiter.log(p.log, "future", "reading ahead of the gateway's clock dropped", "site", r.Site, "asset", r.Asset,
				"metric", r.Metric.String(), "at", r.At, "wall_clock", arrived, "max_future_skew", p.maxAhead)
			continue
		}
		var err error
		p.events, err = p.eng.Observe(p.events, *r)
		p.input = appendReading(p.input, r)
		if err != nil {
			reason := refusal(err)
			p.m.readings.WithLabelValues(reason).Inc()
			p.limiter.log(p.log, reason, "reading refused", "site", r.Site, "asset", r.Asset, "metric", r.Metric.String(), "err", err)
			continue
		}
		p.m.readingsOK.Inc()
		p.win.Observe(r, p.eng)
		if wm := p.eng.Watermark(); wm.After(p.lastEvent) {
			// The engine's watermark, not the reading's own time: a
			// reading far in the future is held, and must not drag the
			// clock ahead.
			p.lastEvent, p.lastArrival = wm, arrived
		}
		if p.agg != nil {
			p.agg.Add(*r, arrived)
		}
	}
}

// status applies a last will or a Sparkplug death: the devices' missing-data
// incidents open now rather than after their silence threshold. A device
// back online needs nothing: its next reading clears them.
func (p *processor) status(st *ingest.Status, arrived time.Time) {
	if st.Online {
		p.log.Info("device online again by its status message", "site", st.Site, "assets", st.Assets)
		return
	}
	at := st.At
	if p.maxAhead > 0 && at.After(arrived.Add(p.maxAhead)) {
		at = arrived // a death stamped by a wrong clock is news now
	}
	var err error
	p.events, err = p.eng.MarkOffline(p.events, st.Site, st.Assets, at)
	p.input = appendOffline(p.input, st.Site, st.Assets, at)
	if err != nil {
		p.limiter.log(p.log, refusal(err), "offline status refused", "site", st.Site, "assets", st.Assets, "err", err)
		return
	}
	p.log.Warn("devices offline by last will or Sparkplug death", "site", st.Site, "assets", st.Assets, "at", at)
}

// alreadySeen reports whether every reading is no newer than what was
// evaluated for its series: a redelivery of a message already committed.
func (p *processor) alreadySeen(rs []rules.Reading) bool {
	for i := range rs {
		if rs[i].At.UnixNano() > p.eng.Newest(rs[i].Site, rs[i].Asset, rs[i].Metric) {
			return false
		}
	}
	return len(rs) > 0
}

func refusal(err error) string {
	switch {
	case errors.Is(err, rules.ErrUnknownSite):
		return "unknown_site"
	case errors.Is(err, rules.ErrUnknownAsset):
		return "unknown_asset"
	case errors.Is(err, rules.ErrUnknownMetric):
		return "unknown_metric"
	case errors.Is(err, rules.ErrLate):
		return "late"
	case errors.Is(err, rules.ErrBadValue):
		return "bad_value"
	case errors.Is(err, rules.ErrBadTime):
		return "bad_time"
	}
	return "other"
}

// commit writes the events, due telemetry and either the batch's input or,
// every outbox.checkpoint_every, a checkpoint of the engine, in one
// transaction; then it acknowledges the batch's messages.
//
// A batch whose write failed is kept whole, and the next commit writes
// that same batch again (p.unwritten): the engine and the aggregator have
// moved past it, so it cannot be built afresh.
func (p *processor) commit() error {
	start := time.Now()
	if !p.unwritten {
		if err := p.build(); err != nil || !p.unwritten {
			return err
		}
	}
	b := &p.batch
	if err := p.ob.Commit(*b); err != nil {
		// The engine is now ahead of what is durable. The batch is kept:
		// the caller stops (a restart continues from the last commit and
		// the broker redelivers what was not acknowledged) or, when the
		// disk is full, writes it again once there is room.
		return fmt.Errorf("agent: %w", err)
	}
	p.unwritten = false
	for i := range p.events {
		p.m.incidents.WithLabelValues(string(p.events[i].Event)).Inc()
	}
	if b.Checkpoint != nil {
		p.lastCheckpoint, p.forceCheckpoint = p.builtAt, false
		p.m.checkpointBytes.Set(float64(len(b.Checkpoint)))
	}
	if b.Checkpoint != nil || (len(b.Telemetry) > 0 && p.builtAt.Sub(p.released) >= releaseEvery) {
		// The outbox's big writes; a minute's telemetry is some
		// hundreds of kilobytes at 5,000 series. Not after every
		// telemetry batch: catching up a backlog, nearly every commit
		// carries one, and dropping the whole mapping each time (and
		// faulting its pages back in) was a third of the commit's cost.
		if r, ok := p.ob.(releaser); ok {
			if err := r.ReleaseMapped(); err != nil {
				p.log.Warn("outbox pages not released", "err", err)
			}
			p.released = p.builtAt
		}
	}
	for i := range p.pending {
		p.pending[i].Ack()
	}
	st := p.eng.Stats()
	p.m.evaluations.Add(float64(st.Evaluations - p.stats.Evaluations))
	p.stats = st
	p.m.commitSeconds.Observe(time.Since(start).Seconds())
	clear(p.pending)
	p.pending, p.events, p.input = p.pending[:0], p.events[:0], p.input[:0]
	return nil
}

// build makes the batch the next commit writes into p.batch, and sets
// p.unwritten when there is anything to write.
func (p *processor) build() error {
	var tel []wire.Telemetry
	if p.agg != nil {
		p.preds = p.eng.Predictions(p.preds[:0], p.predSince)
		for _, pr := range p.preds {
			if pr.At.After(p.predSince) {
				p.predSince = pr.At
			}
		}
		p.agg.Predict(p.preds)
		// The wall clock's closings are logged with the readings: a
		// replay could not tell them from the readings alone.
		now := p.now()
		p.agg.CloseIdle(now, p.logClose)
		tel = p.agg.Flush(nil, now)
		if p.agg.Late != p.late {
			p.m.telemetryLate.Add(float64(p.agg.Late - p.late))
			p.late = p.agg.Late
		}
	}
	if len(p.pending) == 0 && len(p.events) == 0 && len(tel) == 0 && len(p.input) == 0 && !p.forceCheckpoint {
		return nil
	}
	b := &p.batch
	b.Incidents, b.Telemetry = b.Incidents[:0], b.Telemetry[:0]
	for i := range p.events {
		ev := &p.events[i]
		inc := wire.NewIncident(p.cfg.Gateway, *ev)
		inc.Window = p.win.Window(ev.Site, ev.Asset, ev.At, p.eng)
		data, err := json.Marshal(&inc)
		if err != nil {
			return fmt.Errorf("agent: encode incident: %w", err)
		}
		b.Incidents = append(b.Incidents, outbox.Entry{Subject: wire.IncidentSubject(ev.Site), MsgID: inc.MsgID(), Data: data})
	}
	// The batches' JSON goes into one buffer sized for them all: grown by
	// appending, a large store's minute was copied over and over (a fifth
	// of what the agent allocated catching up a backlog).
	size := 0
	for i := range tel {
		size += 256 + rollupJSON*len(tel[i].Rollups) + 256*len(tel[i].Signals)
	}
	buf := p.telBuf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	for i := range tel {
		start := len(buf)
		var err error
		if buf, err = tel[i].AppendJSON(buf); err != nil {
			return fmt.Errorf("agent: encode telemetry: %w", err)
		}
		b.Telemetry = append(b.Telemetry, outbox.Entry{Subject: wire.TelemetrySubject(tel[i].Site), MsgID: tel[i].Batch, Data: buf[start:len(buf):len(buf)]})
	}
	// Kept for the next batch once this one is written (build runs only
	// then), unless a large store's minute made it big.
	p.telBuf = nil
	if cap(buf) <= keepBuffer {
		p.telBuf = buf
	}
	b.Checkpoint, b.Input = nil, nil
	now := p.wall()
	if p.forceCheckpoint || now.Sub(p.lastCheckpoint) >= p.cfg.Outbox.CheckpointEvery {
		cp, err := p.compressCheckpoint()
		if err != nil {
			return fmt.Errorf("agent: checkpoint: %w", err)
		}
		p.cpBuf = cp
		b.Checkpoint = cp
	} else if len(p.input) > 0 {
		if p.clock != nil {
			// A restart resumes the clock from the last commit's.
			if at, wall := p.clock.State(); !at.IsZero() {
				p.input = appendClock(p.input, at, wall)
			}
		}
		b.Input = p.input
	}
	p.builtAt, p.unwritten = now, true
	return nil
}

// logClose logs the wall clock closing a site's telemetry periods in the
// batch's input.
func (p *processor) logClose(site string, upTo time.Time) {
	p.input = appendTelemetryClose(p.input, site, upTo)
}

// releaseEvery is the least time between two releases of the outbox's
// mapped pages after telemetry (a checkpoint always releases them).
const releaseEvery = time.Second

// keepBuffer is the largest telemetry buffer kept from one batch to the
// next: catching up a small store, a commit a few milliseconds apart each
// allocated and freed one (a large object each, which the runtime's
// scavenger then returned to the system); a large store's minute is left
// to the collector rather than held for good.
const keepBuffer = 256 << 10

// rollupJSON is about the most a rollup's JSON takes (190-220 bytes with
// the default pack's asset classes and metric names).
const rollupJSON = 240

// compressCheckpoint writes the checkpoint, gzipped, into p.cpBuf (reused:
// the outbox is done with it when Commit returns).
func (p *processor) compressCheckpoint() ([]byte, error) {
	out := &sliceWriter{b: p.cpBuf[:0]}
	// A writer per checkpoint: its state is most of a megabyte, not worth
	// keeping for the next one ten seconds later.
	gz, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	head := strconv.AppendInt([]byte(`{"v":`), checkpointVersion, 10)
	head = append(head, `,"engine":`...)
	if _, err := gz.Write(head); err != nil {
		return nil, err
	}
	if err := p.eng.WriteSnapshot(gz); err != nil {
		return nil, err
	}
	if p.agg != nil {
		// As encoding/json writes a []byte: base64 in a string.
		p.aggBuf = p.agg.AppendSnapshot(p.aggBuf[:0])
		if _, err := gz.Write([]byte(`,"telemetry":"`)); err != nil {
			return nil, err
		}
		enc := base64.NewEncoder(base64.StdEncoding, gz)
		if _, err := enc.Write(p.aggBuf); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		if _, err := gz.Write([]byte(`"`)); err != nil {
			return nil, err
		}
		if cap(p.aggBuf) > keepBuffer {
			p.aggBuf = nil
		}
	}
	if p.clock != nil {
		if at, wall := p.clock.State(); !at.IsZero() {
			js, err := json.Marshal(clockState{At: at, Wall: wall})
			if err != nil {
				return nil, err
			}
			if _, err := gz.Write(append([]byte(`,"clock":`), js...)); err != nil {
				return nil, err
			}
		}
	}
	if _, err := gz.Write([]byte("}")); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return out.b, nil
}

// readCheckpoint returns a stored checkpoint's JSON: gzipped (this
// version) or plain (as older versions stored it).
func readCheckpoint(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// sliceWriter appends to a slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// logLimiter logs each kind of repeated problem at most once per period,
// with the count of those it held back.
type logLimiter struct {
	every time.Duration
	now   func() time.Time
	last  map[string]time.Time
	held  map[string]int
}

func newLogLimiter(every time.Duration, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, now: now, last: map[string]time.Time{}, held: map[string]int{}}
}

func (l *logLimiter) log(log *slog.Logger, kind, msg string, args ...any) {
	now := l.now()
	if now.Sub(l.last[kind]) < l.every {
		l.held[kind]++
		return
	}
	if n := l.held[kind]; n > 0 {
		args = append(args, "suppressed", n)
	}
	l.last[kind], l.held[kind] = now, 0
	log.Warn(msg, args...)
}

// metrics are the agent's own, beside those of its parts.
type metrics struct {
	readings        *prometheus.CounterVec
	readingsOK      prometheus.Counter // readings{result="ok"}, looked up once
	readingsFuture  prometheus.Counter // readings{result="future"}
	redelivered     prometheus.Counter
	evaluations     prometheus.Counter
	incidents       *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	rulesLoaded     prometheus.Gauge
	telemetryLate   prometheus.Counter
	outboxBlocked   prometheus.Gauge
	outboxNoSpace   prometheus.Counter
	checkpointBytes prometheus.Gauge
	commitSeconds   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		readings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_readings_total", Help: "Readings by outcome (ok, or why the engine refused them; redelivered ones skipped; future: ahead of the gateway's clock by more than ingest.max_future_skew, dropped)."}, []string{"result"}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_rule_evaluations_total", Help: "Rule instance evaluations."}),
		incidents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_incident_events_total", Help: "Incident events committed to the outbox, by event."}, []string{"event"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_rules_reloads_total", Help: "Rules reloads by result."}, []string{"result"}),
		rulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frostline_edge_rules_loaded", Help: "Rules in the running rule set."}),
		telemetryLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_telemetry_late_total", Help: "Readings left out of rollups because their period was already sent."}),
		outboxBlocked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frostline_edge_outbox_blocked", Help: "1 while the outbox's disk is full: nothing is acknowledged, the broker holds new messages."}),
		outboxNoSpace: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_outbox_no_space_total", Help: "Outbox writes that failed for want of disk space, each retried."}),
		checkpointBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frostline_edge_checkpoint_bytes", Help: "Size of the last rule-state checkpoint."}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "frostline_edge_commit_seconds", Help: "Time to checkpoint and commit one batch (fsync included).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 10)}),
	}
	for _, r := range []string{"ok", "unknown_site", "unknown_asset", "unknown_metric", "late", "bad_value", "redelivered", "future"} {
		m.readings.WithLabelValues(r)
	}
	for _, e := range []rules.EventType{rules.Opened, rules.Updated, rules.Cleared} {
		m.incidents.WithLabelValues(string(e))
	}
	m.readingsOK, m.redelivered = m.readings.WithLabelValues("ok"), m.readings.WithLabelValues("redelivered")
	m.readingsFuture = m.readings.WithLabelValues("future")
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	reg.MustRegister(m.readings, m.evaluations, m.incidents, m.reloads, m.rulesLoaded, m.telemetryLate, m.outboxBlocked, m.outboxNoSpace, m.checkpointBytes, m.commitSeconds)
	return m
}
