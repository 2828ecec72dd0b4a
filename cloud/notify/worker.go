package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
)

// Claim is a delivery leased to one worker, with the subscription it goes
// to (its URL and current secrets).
type Claim struct {
	Delivery     Delivery
	Subscription Subscription
}

// ErrLeaseLost is returned by Store.FinishDelivery when the delivery moved
// on meanwhile: the worker's lease ran out, and another worker took the
// delivery and recorded its attempt first.
var ErrLeaseLost = errors.New("notify: delivery lease lost")

// Store is what a Worker needs of the database: pending deliveries leased
// to one worker at a time, the outcome of each attempt recorded, the log
// pruned, and the backlog counted for metrics.
type Store interface {
	// ClaimDeliveries leases up to limit pending deliveries due at now,
	// of active subscriptions, to owner until now+lease. Two workers
	// never hold the same delivery.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Claim, error)
	// FinishDelivery stores the delivery's new state and logs the
	// attempt, releasing the lease, if the delivery is still pending
	// at the attempt before this one; ErrLeaseLost if another worker
	// recorded it first. The first to finish wins, so that a lease too
	// short for a slow receiver costs duplicates, never progress.
	FinishDelivery(ctx context.Context, dl *Delivery, a *Attempt) error
	// PruneWebhookDeliveries removes finished deliveries last changed
	// before t.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error)
	// WebhookBacklog counts deliveries not yet delivered, by state.
	WebhookBacklog(ctx context.Context) (map[State]int, error)
}

// WorkerConfig configures the delivery worker (the webhooks: block of the
// cloud's configuration).
type WorkerConfig struct {
	// Batch is how many deliveries a worker leases at once; they are
	// attempted concurrently, so it also bounds the requests in flight.
	Batch int `yaml:"batch"`
	// Poll is how often the worker looks for due deliveries when idle.
	Poll time.Duration `yaml:"poll"`
	// Timeout bounds one attempt, connecting to reading the answer.
	Timeout time.Duration `yaml:"timeout"`
	// Lease is how long a claimed delivery is the worker's alone; it
	// must outlast an attempt, or a slow receiver gets it twice.
	Lease   time.Duration `yaml:"lease"`
	Backoff Backoff       `yaml:"backoff"`
	// Retention is how long delivered and dead deliveries stay in the
	// log; pending ones stay until they are done.
	Retention time.Duration `yaml:"retention"`
	// AllowPrivateTargets lets deliveries reach loopback and private
	// addresses (a receiver on the same network, tests); off, the
	// client refuses them (NewClient).
	AllowPrivateTargets bool `yaml:"allow_private_targets"`
}

// DefaultWorkerConfig returns the defaults: batches of 16, a 10-second
// attempt timeout, and DefaultBackoff's schedule with twelve attempts
// instead of eight: 10s, 20s, 40s ... capped at an hour, the last about
// 3h25m after the first, so that a receiver down for a deploy or an
// afternoon is caught up without anyone replaying by hand.
func DefaultWorkerConfig() WorkerConfig {
	b := DefaultBackoff()
	b.Attempts = 12
	return WorkerConfig{Batch: 16, Poll: time.Second, Timeout: 10 * time.Second, Lease: time.Minute, Backoff: b,
		Retention: 30 * 24 * time.Hour}
}

// Validate checks the configuration, naming each field at fault under
// webhooks.
func (c *WorkerConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhooks.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Batch < 1 || c.Batch > 256 {
		bad("batch", "want 1-256, got %d", c.Batch)
	}
	if c.Poll < 10*time.Millisecond {
		bad("poll", "at least 10ms")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if c.Lease < c.Timeout+time.Second {
		bad("lease", "must exceed the timeout (%s) by at least 1s, or a slow receiver is sent a delivery twice", c.Timeout)
	}
	if c.Retention < time.Hour {
		bad("retention", "at least 1h")
	}
	b := c.Backoff
	if b.Initial <= 0 || b.Max < b.Initial {
		bad("backoff.initial", "want 0 < initial <= max")
	}
	if b.Multiplier < 1 {
		bad("backoff.multiplier", "at least 1")
	}
	if b.Jitter < 0 || b.Jitter >= 1 {
		bad("backoff.jitter", "want 0 <= jitter < 1")
	}
	if b.Attempts < 1 || b.Attempts > 100 {
		bad("backoff.attempts", "want 1-100")
	}
	return errors.Join(errs...)
}

// Worker attempts due deliveries from a Store until its context ends.
// Several workers, in one process or in several replicas, share one store:
// the store's lease keeps each delivery with one worker at a time, so a
// receiver gets an attempt once, not once per replica.
type Worker struct {
	store Store
	d     *Deliverer
	cfg   WorkerConfig
	owner string
	log   *slog.Logger
	m     workerMetrics
}

type workerMetrics struct {
	attempts  *prometheus.CounterVec
	took      prometheus.Histogram
	leaseLost prometheus.Counter
	errors    prometheus.Counter
}

// NewWorker returns a worker. d makes the attempts; the worker sets its
// Timeout and Backoff from cfg. reg may be nil (metrics not registered).
func NewWorker(store Store, d *Deliverer, cfg WorkerConfig, log *slog.Logger, reg prometheus.Registerer) *Worker {
	d.Timeout, d.Backoff = cfg.Timeout, cfg.Backoff
	w := &Worker{store: store, d: d, cfg: cfg, owner: cloud.NewID("whw_"), log: log.With("component", "webhooks"),
		m: workerMetrics{
			attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_webhook_attempts_total",
				Help: "Webhook delivery attempts by outcome (delivered, retry, dead)."}, []string{"outcome"}),
			took: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "frostline_webhook_attempt_duration_seconds",
				Help: "Time from sending a webhook delivery to reading the answer.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 9)}),
			leaseLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_webhook_lease_lost_total",
				Help: "Attempts whose outcome was not recorded because the lease ran out (the delivery is retried)."}),
			errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_webhook_store_errors_total",
				Help: "Failures to claim deliveries or record attempts."}),
		}}
	for _, o := range []Outcome{OutcomeDelivered, OutcomeRetry, OutcomeDead} {
		w.m.attempts.WithLabelValues(string(o))
	}
	if reg != nil {
		reg.MustRegister(w.m.attempts, w.m.took, w.m.leaseLost, w.m.errors)
		reg.MustRegister(&backlogCollector{store: store})
	}
	return w
}

// backlogCollector reports the pending and dead deliveries at scrape time.
type backlogCollector struct{ store Store }

var backlogDesc = prometheus.NewDesc("frostline_webhook_deliveries", "Webhook deliveries waiting (pending) or dead-lettered (dead).", []string{"state"}, nil)

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.WebhookBacklog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	for _, s := range []State{Pending, Dead} {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// pruneEvery is how often a worker prunes the delivery log. Every
// replica does; a second DELETE of the same rows finds nothing.
const pruneEvery = time.Hour

// Run delivers until ctx is done. A full batch is followed at once by the
// next; otherwise the worker waits Poll. Store failures are logged and
// retried; Run returns nil when ctx ends, after the attempts in flight.
// Once an hour, it prunes the log of deliveries older than Retention.
func (w *Worker) Run(ctx context.Context) error {
	return drain(ctx, w.cfg.Poll, w.cfg.Batch, w.Once, w.log, "webhook deliveries failed; will retry", w.Prune)
}

// Prune removes delivered and dead deliveries older than Retention.
func (w *Worker) Prune(ctx context.Context) {
	n, err := w.store.PruneWebhookDeliveries(ctx, w.d.now().Add(-w.cfg.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		w.m.errors.Inc()
		w.log.Warn("pruning the delivery log failed; will retry", "err", err)
	case n > 0:
		w.log.Info("delivery log pruned", "deliveries", n, "retention", w.cfg.Retention)
	}
}

// Once claims one batch of due deliveries, attempts them concurrently and
// records each outcome. It reports how many it claimed.
func (w *Worker) Once(ctx context.Context) (int, error) {
	claims, err := w.store.ClaimDeliveries(ctx, w.owner, w.d.now(), w.cfg.Lease, w.cfg.Batch)
	if err != nil {
		w.m.errors.Inc()
		return 0, err
	}
	// Each attempt is one HTTP request bounded by Timeout.
	return each(claims, func(c *Claim) error { return w.attempt(ctx, c) })
}

func (w *Worker) attempt(ctx context.Context, c *Claim) error {
	a := w.d.Attempt(ctx, &c.Subscription, &c.Delivery)
	if ctx.Err() != nil && c.Delivery.State != Delivered {
		// Stopping: an attempt cut short by our own shutdown is not
		// the receiver's failure. The lease runs out and the delivery
		// is attempted again, by this replica or another.
		return nil
	}
	w.m.took.Observe(a.Took.Seconds())
	// Recording survives the stop: the attempt happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := w.store.FinishDelivery(rctx, &c.Delivery, &a)
	switch {
	case errors.Is(err, ErrLeaseLost):
		w.m.leaseLost.Inc()
		w.log.Warn("webhook attempt outlasted its lease", "delivery", c.Delivery.ID, "lease", w.cfg.Lease)
		return nil
	case err != nil:
		w.m.errors.Inc()
		return fmt.Errorf("record attempt %d of %s: %w", a.N, c.Delivery.ID, err)
	}
	w.m.attempts.WithLabelValues(string(a.Outcome)).Inc()
	if a.Outcome == OutcomeDead {
		w.log.Warn("webhook delivery dead-lettered", "delivery", c.Delivery.ID, "url", c.Subscription.URL,
			"attempts", c.Delivery.Attempts, "last_error", c.Delivery.LastError)
	}
	return nil
}
