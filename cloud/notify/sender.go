package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
)

// Outbox is what a Sender needs of the store: due notifications leased to
// one sender at a time, and the outcome of each attempt recorded.
type Outbox interface {
	// ClaimNotifications leases up to limit pending notifications due
	// at now to owner until now+lease. Two senders never hold the same
	// notification.
	ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// FinishNotification records n's new state if it is still pending at
	// the attempt before this one; ErrLeaseLost otherwise.
	FinishNotification(ctx context.Context, n *Notification, at time.Time) error
}

// SenderConfig configures the notification sender (notifications.sender).
type SenderConfig struct {
	Batch   int           `yaml:"batch"`
	Poll    time.Duration `yaml:"poll"`
	Timeout time.Duration `yaml:"timeout"`
	// Lease must outlast an attempt, or a slow server is sent a message
	// twice.
	Lease   time.Duration `yaml:"lease"`
	Backoff Backoff       `yaml:"backoff"`
}

// DefaultSenderConfig: batches of 16, polled every second, 30-second
// attempts under 2-minute leases, and twelve attempts over about 3h25m.
func DefaultSenderConfig() SenderConfig {
	b := DefaultBackoff()
	b.Attempts = 12
	return SenderConfig{Batch: 16, Poll: time.Second, Timeout: 30 * time.Second, Lease: 2 * time.Minute, Backoff: b}
}

// Validate names each field at fault under prefix.
func (c *SenderConfig) Validate(prefix string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
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
		bad("lease", "must exceed the timeout (%s) by at least 1s, or a slow server is sent a message twice", c.Timeout)
	}
	if b := c.Backoff; b.Initial <= 0 || b.Max < b.Initial || b.Multiplier < 1 || b.Jitter < 0 || b.Jitter >= 1 || b.Attempts < 1 || b.Attempts > 100 {
		bad("backoff", "want 0 < initial <= max, multiplier >= 1, 0 <= jitter < 1, attempts 1-100")
	}
	return errors.Join(errs...)
}

// Sender sends due notifications through their channels until its
// context ends. Senders in several replicas share one outbox; the lease
// keeps each notification with one of them at a time, and a notification
// is recorded sent once: together with the outbox row written in the
// event's transaction, that is once per (event, person, channel). The one
// gap no SMTP client closes is a crash after the server took a message
// and before the outcome is recorded: the retry carries the same
// Message-ID, which mail systems use to drop the duplicate.
type Sender struct {
	store    Outbox
	channels map[string]Channel
	cfg      SenderConfig
	owner    string
	log      *slog.Logger
	// Now is the sender's clock: what is due, and when it was sent.
	// Set it before Run.
	Now    func() time.Time
	sent   *prometheus.CounterVec
	errors prometheus.Counter
}

// NewSender returns a sender over the channels by name. reg may be nil.
func NewSender(store Outbox, channels []Channel, cfg SenderConfig, log *slog.Logger, reg prometheus.Registerer) *Sender {
	s := &Sender{store: store, channels: map[string]Channel{}, cfg: cfg, owner: cloud.NewID("nts_"),
		log: log.With("component", "notifications"), Now: time.Now,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_notification_attempts_total",
			Help: "Notification send attempts by channel and outcome (delivered, retry, dead)."}, []string{"channel", "outcome"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_notification_store_errors_total",
			Help: "Failures to claim notifications or record their outcome."})}
	for _, c := range channels {
		s.channels[c.Name()] = c
	}
	if reg != nil {
		reg.MustRegister(s.sent, s.errors)
	}
	return s
}

// Run sends until ctx is done; a full batch is followed at once by the
// next, otherwise it waits Poll.
func (s *Sender) Run(ctx context.Context) error {
	return drain(ctx, s.cfg.Poll, s.cfg.Batch, s.Once, s.log, "sending notifications failed; will retry", nil)
}

// Once claims one batch, sends it concurrently and records each outcome.
func (s *Sender) Once(ctx context.Context) (int, error) {
	ns, err := s.store.ClaimNotifications(ctx, s.owner, s.Now(), s.cfg.Lease, s.cfg.Batch)
	if err != nil {
		s.errors.Inc()
		return 0, err
	}
	// Each send is bounded by Timeout.
	return each(ns, func(n *Notification) error { return s.send(ctx, n) })
}

func (s *Sender) send(ctx context.Context, n *Notification) error {
	ch, ok := s.channels[n.Channel]
	var err error
	if !ok {
		err = Permanent(fmt.Errorf("no %s channel is configured", n.Channel))
	} else {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err = ch.Send(sctx, n.Message())
		cancel()
	}
	if err != nil && ctx.Err() != nil {
		// Stopping: not the server's failure. The lease runs out and
		// another sender (or this one, restarted) tries again.
		return nil
	}
	now := s.Now()
	n.Attempts++
	outcome := OutcomeDelivered
	switch {
	case err == nil:
		n.State, n.SentAt, n.LastError = Delivered, &now, ""
	case IsPermanent(err) || n.Attempts >= s.cfg.Backoff.Attempts:
		n.State, n.LastError, outcome = Dead, err.Error(), OutcomeDead
	default:
		n.NextAt, n.LastError, outcome = now.Add(s.cfg.Backoff.Delay(n.Attempts, rand.Float64)), err.Error(), OutcomeRetry
	}
	// Recording survives a stop: the attempt happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch ferr := s.store.FinishNotification(rctx, n, now); {
	case errors.Is(ferr, ErrLeaseLost):
		s.log.Warn("notification attempt outlasted its lease", "notification", n.ID, "lease", s.cfg.Lease)
		return nil
	case ferr != nil:
		s.errors.Inc()
		return fmt.Errorf("record attempt %d of %s: %w", n.Attempts, n.ID, ferr)
	}
	s.sent.WithLabelValues(n.Channel, string(outcome)).Inc()
	if outcome == OutcomeDead {
		s.log.Warn("notification dead-lettered", "notification", n.ID, "to", n.Address, "attempts", n.Attempts, "err", n.LastError)
	}
	return nil
}
