package pm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/internal/pull"
	"github.com/frostline/frostline/edge/wire"
)

// RuntimeDurable is the JetStream consumer every replica shares to count
// run-hours from the telemetry stream.
const RuntimeDurable = "frostline-cloud-pm-runtime"

// Recorder keeps runtime samples (the store's counters).
type Recorder interface {
	RecordRuntime(ctx context.Context, site string, samples []Sample) error
}

// RuntimeConsumer feeds the runtime counters from the edge's telemetry:
// each batch's signals (duty cycle, defrosts per period) become samples
// keyed by asset and period, so a redelivered batch counts once. Replicas
// share the durable consumer; each message goes to one of them.
type RuntimeConsumer struct {
	cons jetstream.Consumer
	rec  Recorder
	log  *slog.Logger
	// Drop policy: a message that is not telemetry is terminated (it can
	// never be read) and counted; a store failure naks it for redelivery.
	messages *prometheus.CounterVec
}

// NewRuntimeConsumer ensures the telemetry stream and the durable
// consumer exist.
func NewRuntimeConsumer(ctx context.Context, nc *nats.Conn, rec Recorder, log *slog.Logger, reg prometheus.Registerer) (*RuntimeConsumer, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("pm: %w", err)
	}
	stream, err := wire.EnsureStream(ctx, js, wire.TelemetryStreamConfig)
	if err != nil {
		return nil, fmt.Errorf("pm: %w", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: RuntimeDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxDeliver: -1, MaxAckPending: 1024, FilterSubject: wire.TelemetrySubjects,
	})
	if err != nil {
		return nil, fmt.Errorf("pm: consumer %s: %w", RuntimeDurable, err)
	}
	c := &RuntimeConsumer{cons: cons, rec: rec, log: log.With("component", "pm-runtime"),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_pm_runtime_messages_total",
			Help: "Telemetry messages read for runtime counters, by outcome (recorded, invalid, failed)."}, []string{"outcome"})}
	if reg != nil {
		reg.MustRegister(c.messages)
	}
	return c, nil
}

// Run consumes until ctx is done, then returns nil.
func (c *RuntimeConsumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		_, err := pull.Fetch(c.cons, 64, time.Second, func(msg jetstream.Msg) { c.handle(ctx, msg) })
		if errors.Is(err, pull.ErrPull) {
			c.log.Warn("fetch failed", "err", err)
			cloud.Sleep(ctx, time.Second) //nolint:errcheck // the loop checks ctx
		} else if err != nil && ctx.Err() == nil {
			c.log.Warn("fetch failed", "err", err)
		}
	}
	return nil
}

func (c *RuntimeConsumer) handle(ctx context.Context, msg jetstream.Msg) {
	t, err := wire.DecodeTelemetry(msg.Data())
	site, ok := wire.SiteOfSubject(msg.Subject())
	if err != nil || !ok || site != t.Site {
		c.messages.WithLabelValues("invalid").Inc()
		c.log.Warn("invalid telemetry dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	if samples := SamplesFrom(t); len(samples) > 0 {
		if err := c.rec.RecordRuntime(ctx, t.Site, samples); err != nil {
			c.messages.WithLabelValues("failed").Inc()
			c.log.Error("runtime counters not recorded; redelivered later", "site", t.Site, "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
	}
	c.messages.WithLabelValues("recorded").Inc()
	_ = msg.Ack()
}
