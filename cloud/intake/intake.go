// Package intake feeds sensor incidents into the work-order service: a
// durable JetStream pull consumer, shared by every cloud replica, reads the
// incidents every store's edge agent publishes and hands them to
// workorder.Intake inside one store transaction per batch.
//
// Exactly once: each incident event carries a deterministic id (incident id
// and sequence, also its Nats-Msg-Id); the store records it in the same
// transaction as its effect, and the message is acknowledged only after
// that transaction commits. A crash between commit and ack redelivers the
// message, which the store then recognises as a repeat. Replicas share the
// durable consumer, so each message goes to one of them at a time; a
// replica killed mid-batch leaves its messages unacknowledged and JetStream
// redelivers them to another after AckWait.
//
// The Sweeper, beside the consumer, moves work orders on when their
// hold-off ends (dispatch, or AVOIDED).
package intake

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/internal/pull"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
)

// Store is what intake needs of a store: a transaction, and the list of
// work orders whose hold-off has ended.
type Store interface {
	store.Updater
	Due(ctx context.Context, now time.Time, limit int) ([]string, error)
	// Overdue lists, per incident, the first event held for its turn
	// since before a time (workorder/order.go).
	Overdue(ctx context.Context, before time.Time, limit int) ([]workorder.HeldEvent, error)
}

// Config tunes the consumer. Zero fields take the defaults.
type Config struct {
	// Durable is the consumer's name, shared by every replica.
	Durable string `yaml:"durable"`
	// Batch is how many messages are processed in one transaction.
	Batch int `yaml:"batch"`
	// AckWait is how long a message may stay unacknowledged before
	// JetStream redelivers it (to any replica).
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver bounds redeliveries of a message that keeps failing.
	MaxDeliver int `yaml:"max_deliver"`
	// Lanes is how many transactions run at once. A batch is split by
	// site, so lanes never touch the same work order and do not contend;
	// PostgreSQL works on one lane's statements while Go prepares
	// another's. SQLite has one writer, so its lanes take turns.
	Lanes int `yaml:"lanes"`
	// HoldFor is how long an incident event may wait for its predecessor
	// (workorder/order.go) before the sweeper applies it without it;
	// longer than JetStream takes to redeliver a message to its last try
	// (AckWait x MaxDeliver). Default: that, plus 5 minutes.
	HoldFor time.Duration `yaml:"hold_for"`
}

func (c *Config) defaults() {
	if c.Durable == "" {
		c.Durable = "frostline-cloud-intake"
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 20
	}
	if c.Lanes <= 0 {
		c.Lanes = 2
	}
	if c.HoldFor <= 0 {
		c.HoldFor = c.AckWait*time.Duration(c.MaxDeliver) + 5*time.Minute
	}
}

// Defaults returns c with its zero fields at their defaults.
func (c Config) Defaults() Config {
	c.defaults()
	return c
}

// Metrics are the consumer's counters.
type Metrics struct {
	Messages   *prometheus.CounterVec // by outcome: opened, merged, updated, repeat, orphan, held, invalid, failed
	Released   prometheus.Counter     // held events applied without their predecessors
	Lag        prometheus.Histogram   // seconds from the incident event to its commit
	Avoided    prometheus.Counter
	Dispatched prometheus.Counter
}

// NewMetrics registers the intake metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_intake_messages_total",
			Help: "Incident messages processed, by outcome (merged counts dedup merges)."}, []string{"outcome"}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "frostline_intake_lag_seconds",
			Help: "Time from an incident event to its work-order commit.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		Avoided: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_avoided_dispatches_total",
			Help: "Work orders ended AVOIDED: the problem cleared before anyone was sent."}),
		Dispatched: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_auto_dispatches_total",
			Help: "Work orders dispatched by intake or the hold-off sweeper."}),
		Released: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_intake_released_total",
			Help: "Incident events held for a predecessor that never came, applied without it after hold_for."}),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Lag, m.Avoided, m.Dispatched, m.Released)
	}
	return m
}

// Consumer is the incident consumer of one replica.
type Consumer struct {
	cons   jetstream.Consumer
	store  Store
	intake *workorder.Intake[store.Tx]
	log    *slog.Logger
	m      *Metrics
	cfg    Config
	now    func() time.Time
}

// New ensures the incident stream and the durable consumer exist and
// returns a consumer ready to Run.
func New(ctx context.Context, nc *nats.Conn, store Store, in *workorder.Intake[store.Tx], m *Metrics, log *slog.Logger, cfg Config) (*Consumer, error) {
	cfg.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	stream, err := wire.EnsureStream(ctx, js, wire.IncidentStreamConfig)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: cfg.MaxDeliver, MaxAckPending: 20 * cfg.Batch, FilterSubject: wire.IncidentSubjects,
	})
	if err != nil {
		return nil, fmt.Errorf("intake: consumer %s: %w", cfg.Durable, err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Consumer{cons: cons, store: store, intake: in, log: log.With("component", "intake"), m: m, cfg: cfg, now: time.Now}, nil
}

// Run consumes until ctx is done. It returns nil on cancellation.
func (c *Consumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		msgs, err := c.fetch()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("fetch failed", "err", err)
			cloud.Sleep(ctx, time.Second) //nolint:errcheck // the loop checks ctx
			continue
		}
		if len(msgs) > 0 {
			// A batch taken is finished even when shutdown begins, so a
			// graceful stop leaves nothing half-done; AckWait bounds it.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.AckWait)
			c.process(pctx, msgs)
			cancel()
		}
	}
	return nil
}

// fetch takes what is waiting, up to a batch, or waits up to a second for
// at least one message.
func (c *Consumer) fetch() ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	keep := func(m jetstream.Msg) { msgs = append(msgs, m) }
	// An empty batch's own error is no reason not to wait for the next.
	if n, err := pull.Fetch(c.cons, c.cfg.Batch, 0, keep); n > 0 || errors.Is(err, pull.ErrPull) {
		return msgs, err
	}
	_, err := pull.Fetch(c.cons, 1, time.Second, keep)
	return msgs, err
}

type decoded struct {
	msg jetstream.Msg
	inc wire.Incident
}

// process commits a batch in one transaction and then acknowledges it. If
// the batch fails, each message is tried in a transaction of its own, so
// one bad message cannot hold back the rest.
func (c *Consumer) process(ctx context.Context, msgs []jetstream.Msg) {
	batch := make([]decoded, 0, len(msgs))
	for _, m := range msgs {
		inc, err := Decode(m.Subject(), m.Data())
		if err != nil {
			// Retrying cannot fix a malformed message: drop it, counted.
			c.log.Warn("invalid incident message dropped", "subject", m.Subject(), "err", err)
			c.m.Messages.WithLabelValues("invalid").Inc()
			_ = m.Term()
			continue
		}
		if inc.WindowError != nil {
			// The incident lands; only its chart is lost.
			c.log.Warn("incident's evidence window dropped", "msg_id", inc.MsgID(), "err", inc.WindowError)
		}
		batch = append(batch, decoded{msg: m, inc: inc})
	}
	if len(batch) == 0 {
		return
	}
	lanes := Lanes(batch, c.cfg.Lanes, func(d decoded) string { return d.inc.Site })
	var wg sync.WaitGroup
	for _, lane := range lanes {
		// One goroutine per lane, joined before process returns.
		wg.Go(func() { c.processLane(ctx, lane) })
	}
	wg.Wait()
}

// Lanes splits items into at most n groups by key (a site), keeping each
// group's order: events of one site stay in sequence in one transaction.
func Lanes[T any](items []T, n int, key func(T) string) [][]T {
	if n <= 1 {
		return [][]T{items}
	}
	out := make([][]T, n)
	for _, it := range items {
		h := fnv.New32a()
		h.Write([]byte(key(it)))
		i := int(h.Sum32() % uint32(n))
		out[i] = append(out[i], it)
	}
	return slices.DeleteFunc(out, func(l []T) bool { return len(l) == 0 })
}

func (c *Consumer) processLane(ctx context.Context, batch []decoded) {
	if results, err := c.commit(ctx, batch); err == nil {
		c.ack(batch, results)
		return
	} else if ctx.Err() != nil {
		return // shutting down: unacknowledged messages are redelivered
	} else {
		c.log.Warn("batch failed; retrying one by one", "size", len(batch), "err", err)
	}
	for i := range batch {
		one := batch[i : i+1]
		results, err := c.commit(ctx, one)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Error("incident not processed; will be redelivered", "msg_id", one[0].inc.MsgID(), "err", err)
			c.m.Messages.WithLabelValues("failed").Inc()
			_ = one[0].msg.NakWithDelay(5 * time.Second)
			continue
		}
		c.ack(one, results)
	}
}

func (c *Consumer) commit(ctx context.Context, batch []decoded) ([]workorder.Result, error) {
	reports := make([]workorder.Report, len(batch))
	for i := range batch {
		reports[i] = workorder.FromIncident(&batch[i].inc.Event)
	}
	var results []workorder.Result
	err := c.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if results, err = ReceiveBatch(ctx, tx, c.intake, reports); err != nil {
			return err
		}
		return keepWindows(ctx, tx, batch, results)
	})
	return results, err
}

// keepWindows stores the evidence window each event carried (v2
// incidents; v1 carry none), by incident: an event held for its turn
// keeps its window too, and the work order finds them through its
// incidents.
func keepWindows(ctx context.Context, tx store.Tx, batch []decoded, results []workorder.Result) error {
	for i := range batch {
		if batch[i].inc.Window == nil || results[i].Reason == workorder.Repeat {
			continue
		}
		if err := tx.PutWindow(ctx, &batch[i].inc); err != nil {
			return err
		}
	}
	return nil
}

// ReceiveBatch runs reports through in, in order, inside tx. Their keys
// are claimed in one statement first, their incidents' order rows locked
// in a second, and the work orders of their incidents loaded in one query
// (store.Batch), which saves three round trips per report.
func ReceiveBatch(ctx context.Context, tx store.Tx, in *workorder.Intake[store.Tx], reports []workorder.Report) ([]workorder.Result, error) {
	results := make([]workorder.Result, len(reports))
	keys := make([]string, 0, len(reports))
	var incidents []string
	for _, r := range reports {
		if r.Key != "" {
			keys = append(keys, r.Key)
		}
		if r.Incident != nil {
			incidents = append(incidents, r.Incident.Incident)
		}
	}
	fresh, err := tx.ClaimAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	// Locked before the work orders are read: a replica waiting for
	// another's transaction on an incident then reads what it committed.
	if err := tx.SequenceAll(ctx, incidents); err != nil {
		return nil, err
	}
	if err := tx.Prefetch(ctx, incidents); err != nil {
		return nil, err
	}
	for i, r := range reports {
		if r.Key != "" {
			if !fresh[r.Key] {
				results[i] = workorder.Result{Reason: workorder.Repeat}
				continue
			}
			fresh[r.Key] = false // the same message twice in one batch
			r.Key = ""           // claimed already
		}
		res, err := in.Receive(ctx, tx, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", reports[i].Key, err)
		}
		results[i] = res
	}
	return results, nil
}

func (c *Consumer) ack(batch []decoded, results []workorder.Result) {
	now := c.now()
	for i, d := range batch {
		r := results[i]
		c.m.Messages.WithLabelValues(string(r.Reason)).Inc()
		if r.Reason != workorder.Repeat && r.Reason != workorder.Held {
			c.m.Lag.Observe(now.Sub(d.inc.At).Seconds())
		}
		if r.Avoided {
			c.m.Avoided.Inc()
		}
		if r.Dispatched {
			c.m.Dispatched.Inc()
		}
		if r.WorkOrder != nil && (r.Reason == workorder.Opened || r.Reason == workorder.OpenedRecall) {
			c.log.Info("work order opened", "number", r.WorkOrder.Number, "site", r.WorkOrder.Site,
				"asset", r.WorkOrder.Asset, "problem", r.WorkOrder.Problem, "priority", r.WorkOrder.Priority,
				"recall_of", r.WorkOrder.RecallOf)
		}
		// Counted first, acknowledged last: whoever sees the message
		// acknowledged sees it counted.
		if err := d.msg.Ack(); err != nil {
			// The commit stands; a redelivery will be seen as a repeat.
			c.log.Warn("ack failed", "msg_id", d.inc.MsgID(), "err", err)
		}
	}
}

// Decode reads an incident message and checks that the site it names is the
// site of the subject it came on: a gateway may publish only as its own
// site, and the payload must not claim another.
func Decode(subject string, data []byte) (wire.Incident, error) {
	inc, err := wire.DecodeIncident(data)
	if err != nil {
		return inc, err
	}
	if site, ok := wire.SiteOfSubject(subject); !ok || site != inc.Site {
		return inc, fmt.Errorf("intake: incident for site %q arrived on subject %q", inc.Site, subject)
	}
	return inc, nil
}

// Sweeper moves work orders on when their timers run out (hold-off end,
// dispatch lapse). Every replica may run one: the store's optimistic lock
// lets only one move a work order, and the loser finds nothing left to do.
// Once an hour it also forgets message ids older than the stream keeps.
type Sweeper struct {
	Store  Store
	Intake *workorder.Intake[store.Tx]
	Every  time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	M      *Metrics
	// Prune, when set, forgets processed message ids recorded before a
	// time; ids are kept for KeepClaims (default 15 days, beyond the
	// incident stream's 14-day retention).
	Prune      func(ctx context.Context, before time.Time) (int64, error)
	KeepClaims time.Duration
	// HoldFor is how long an incident event may wait for its predecessor
	// before it is applied without it (Config.HoldFor). Default 15 minutes.
	HoldFor time.Duration
}

// Run sweeps every s.Every until ctx is done.
func (s *Sweeper) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("sweep failed", "component", "sweeper", "err", err)
		}
		if s.Prune != nil && time.Since(pruned) > time.Hour {
			keep := s.KeepClaims
			if keep <= 0 {
				keep = 15 * 24 * time.Hour
			}
			if n, err := s.Prune(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
				s.Log.Warn("pruning message ids failed", "component", "sweeper", "err", err)
			} else if n > 0 {
				s.Log.Info("message ids pruned", "component", "sweeper", "count", n)
			}
			pruned = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep moves on every due work order once and reports how many moved.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now()
	moved, err := s.release(ctx, at)
	if err != nil {
		return moved, err
	}
	ids, err := s.Store.Due(ctx, at, 500)
	if err != nil {
		return moved, err
	}
	for _, id := range ids {
		var res workorder.Result
		err := s.Store.Update(ctx, func(tx store.Tx) error {
			w, err := tx.WorkOrder(ctx, id)
			if err != nil || w == nil {
				return err
			}
			var ev []workorder.Event
			if ev, res, err = s.Intake.Sweep(ctx, tx, w, at); err != nil {
				return err
			}
			return tx.Save(ctx, w, ev)
		})
		if err != nil {
			return moved, fmt.Errorf("sweep %s: %w", id, err)
		}
		moved += s.count(res)
	}
	return moved, nil
}

// release applies the events held longer than HoldFor without the
// predecessors they wait for, which are lost beyond redelivery.
func (s *Sweeper) release(ctx context.Context, at time.Time) (int, error) {
	hold := s.HoldFor
	if hold <= 0 {
		hold = 15 * time.Minute
	}
	held, err := s.Store.Overdue(ctx, at.Add(-hold), 500)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, h := range held {
		var res workorder.Result
		err := s.Store.Update(ctx, func(tx store.Tx) error {
			var err error
			res, err = s.Intake.Release(ctx, tx, h.Incident, h.Seq)
			return err
		})
		if err != nil {
			return moved, fmt.Errorf("release %s-%d: %w", h.Incident, h.Seq, err)
		}
		if res.Reason == "" {
			continue // applied or released meanwhile
		}
		s.Log.Warn("incident event applied without its predecessors, which never came", "component", "sweeper",
			"incident", h.Incident, "seq", h.Seq, "held_since", h.HeldAt)
		if s.M != nil {
			s.M.Released.Inc()
		}
		moved += s.count(res)
	}
	return moved, nil
}

// count records what a sweep step did and reports whether it moved a work
// order.
func (s *Sweeper) count(res workorder.Result) int {
	if s.M != nil && res.Avoided {
		s.M.Avoided.Inc()
	}
	if s.M != nil && res.Dispatched {
		s.M.Dispatched.Inc()
	}
	if len(res.Events) > 0 {
		return 1
	}
	return 0
}
