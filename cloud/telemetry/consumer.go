package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/internal/pull"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
)

// Metrics are the consumer's counters.
type Metrics struct {
	Messages    *prometheus.CounterVec // by outcome: written, invalid, rejected
	Points      prometheus.Counter
	WriteErrors prometheus.Counter   // failed write attempts (each retried)
	Write       prometheus.Histogram // seconds per successful write request
	Lag         prometheus.Histogram // seconds from JetStream to InfluxDB
	Retrying    prometheus.Gauge     // 1 while a batch waits for InfluxDB
}

// NewMetrics registers the metrics of the consumer of stream (a Source's
// Stream) with reg (nil: unregistered). The consumers of both streams
// share the metric names, told apart by a stream label.
func NewMetrics(reg prometheus.Registerer, stream string) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_messages_total",
			Help: "Messages written to InfluxDB, by outcome: written, or dropped as invalid or rejected by InfluxDB."}, []string{"outcome"}),
		Points: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_points_total",
			Help: "Points written to InfluxDB."}),
		WriteErrors: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_write_errors_total",
			Help: "Failed InfluxDB write attempts; the batch stays unacknowledged and is retried."}),
		Write: prometheus.NewHistogram(prometheus.HistogramOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_write_seconds",
			Help: "Duration of successful InfluxDB write requests.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_lag_seconds",
			Help: "Time from a message entering JetStream to its points being written.", Buckets: prometheus.ExponentialBuckets(0.1, 4, 10)}),
		Retrying: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: prometheus.Labels{"stream": stream}, Name: "frostline_telemetry_retrying",
			Help: "1 while this replica holds a batch InfluxDB did not take."}),
	}
	if reg != nil {
		m.Register(reg)
	}
	return m
}

// Register registers the metrics with reg: what NewMetrics(nil, ...)
// left for later (the cloud registers a consumer's metrics once the
// consumer exists, which waits for NATS).
func (m *Metrics) Register(reg prometheus.Registerer) {
	reg.MustRegister(m.Messages, m.Points, m.WriteErrors, m.Write, m.Lag, m.Retrying)
}

// Source is a stream a Consumer moves into InfluxDB, and how one of its
// messages becomes points.
type Source struct {
	Stream   string
	Subjects string
	// Stream definition used when the consumer creates the stream
	// (edge/wire's, the one every side creates).
	create  jetstream.StreamConfig
	durable func(*Config) string
	encode  func(l *lines, subject string, data []byte) error
}

// Sources: the edge's telemetry, and its incident events as annotations
// (a second durable consumer on the stream the intake reads, so that
// annotations get the same delivery as telemetry and an InfluxDB outage
// never slows the intake down).
var (
	TelemetrySource = &Source{
		Stream: wire.TelemetryStream, Subjects: wire.TelemetrySubjects,
		create:  wire.TelemetryStreamConfig,
		durable: func(c *Config) string { return c.Durable },
		encode: func(l *lines, subject string, data []byte) error {
			t, err := Decode(subject, data)
			if err != nil {
				return err
			}
			return l.telemetry(&t)
		},
	}
	IncidentSource = &Source{
		Stream: wire.IncidentStream, Subjects: wire.IncidentSubjects,
		create:  wire.IncidentStreamConfig,
		durable: func(c *Config) string { return c.AnnotationsDurable },
		encode: func(l *lines, subject string, data []byte) error {
			inc, err := DecodeIncident(subject, data)
			if err != nil {
				return err
			}
			return l.incident(&inc.Event)
		},
	}
	// WorkOrderSource reads the work-order notices the cloud's relay
	// publishes (workorder.Notice) and writes them as annotations too.
	// Consumer names are per stream, so it shares AnnotationsDurable.
	WorkOrderSource = &Source{
		Stream: relay.Stream, Subjects: workorder.NoticeSubject("*"),
		create:  relay.StreamConfig,
		durable: func(c *Config) string { return c.AnnotationsDurable },
		encode: func(l *lines, subject string, data []byte) error {
			n, err := DecodeNotice(subject, data)
			if err != nil {
				return err
			}
			ev := NoticeEvent(&n)
			return l.workOrder(&ev)
		},
	}
)

// Consumer moves one stream from JetStream into InfluxDB for one replica.
type Consumer struct {
	src  *Source
	cons jetstream.Consumer
	w    *Writer
	cfg  Config
	log  *slog.Logger
	m    *Metrics

	buf  lines
	held []jetstream.Msg
	ppm  int // points per message, a running estimate for sizing fetches
}

// maxFetch bounds the messages asked for at once.
const maxFetch = 256

// NewConsumer ensures the stream of src (creating it when
// cfg.CreateStream) and the durable consumer exist, and returns a consumer
// ready to Run. The durable is cfg.Durable for telemetry and
// cfg.AnnotationsDurable for incidents.
func NewConsumer(ctx context.Context, nc *nats.Conn, src *Source, w *Writer, m *Metrics, log *slog.Logger, cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	var stream jetstream.Stream
	if cfg.CreateStream {
		stream, err = wire.EnsureStream(ctx, js, src.create)
	} else {
		stream, err = js.Stream(ctx, src.Stream)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: stream %s: %w", src.Stream, err)
	}
	durable := src.durable(&cfg)
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		// Nothing is given up on for failing to write: an InfluxDB
		// outage lasts as long as it lasts, and the stream's MaxAge is
		// the bound. Messages that can never be written are terminated
		// by the consumer itself.
		MaxDeliver:    -1,
		MaxAckPending: 4 * maxFetch,
		FilterSubject: src.Subjects,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: consumer %s: %w", durable, err)
	}
	if m == nil {
		m = NewMetrics(nil, src.Stream)
	}
	return &Consumer{src: src, cons: cons, w: w, cfg: cfg, log: log.With("component", "telemetry", "stream", src.Stream), m: m, ppm: 32}, nil
}

// Run consumes until ctx is done and returns nil then. Messages it holds
// at that moment are handed back to JetStream (nak) for another replica.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.release()
	for ctx.Err() == nil {
		c.gather(ctx)
		if len(c.held) == 0 {
			continue
		}
		c.deliver(ctx)
	}
	return nil
}

// gather fetches messages and encodes their points until a batch is full
// or FlushInterval has passed. Invalid messages are terminated on the way.
func (c *Consumer) gather(ctx context.Context) {
	deadline := time.Now().Add(c.cfg.FlushInterval)
	for c.buf.n < c.cfg.BatchSize && ctx.Err() == nil {
		wait := time.Until(deadline)
		if wait < 10*time.Millisecond {
			return
		}
		want := min(maxFetch, max(1, (c.cfg.BatchSize-c.buf.n)/max(c.ppm, 1)))
		got, err := pull.Fetch(c.cons, want, wait, c.add)
		if err != nil {
			c.log.Warn("fetch failed", "err", err)
			if errors.Is(err, pull.ErrPull) {
				cloud.Sleep(ctx, min(wait, time.Second)) //nolint:errcheck // the caller checks ctx
			}
			return
		}
		if got < want {
			return // caught up: write what there is rather than wait
		}
	}
}

// add decodes one message into the batch, or terminates it.
func (c *Consumer) add(msg jetstream.Msg) {
	size, n := c.buf.mark()
	if err := c.src.encode(&c.buf, msg.Subject(), msg.Data()); err != nil {
		c.buf.rollback(size, n)
		// Retrying cannot fix a malformed message: drop it, counted.
		c.log.Warn("invalid message dropped", "subject", msg.Subject(), "err", err)
		c.m.Messages.WithLabelValues("invalid").Inc()
		_ = msg.Term()
		return
	}
	if pts := c.buf.n - n; pts > 0 {
		c.ppm = (7*c.ppm + pts + 7) / 8
	}
	c.held = append(c.held, msg)
}

// deliver writes the batch and acknowledges its messages; while InfluxDB
// fails it keeps the batch and retries with a doubling delay, telling
// JetStream the messages are still being worked on so they are not
// redelivered meanwhile. Memory stays at one batch; the rest of the
// backlog waits in JetStream.
func (c *Consumer) deliver(ctx context.Context) {
	delay := c.cfg.RetryMin
	defer c.m.Retrying.Set(0)
	for {
		err := c.write(ctx, &c.buf)
		if err == nil {
			c.m.Messages.WithLabelValues("written").Add(float64(len(c.held)))
			c.ackAll()
			return
		}
		if ctx.Err() != nil {
			return // Run's release hands the batch back
		}
		if errors.Is(err, ErrRejected) {
			c.log.Warn("batch rejected; writing message by message", "messages", len(c.held), "err", err)
			c.oneByOne(ctx)
			return
		}
		c.m.WriteErrors.Inc()
		c.m.Retrying.Set(1)
		c.log.Warn("influxdb write failed; batch held, retrying", "messages", len(c.held), "points", c.buf.n, "in", delay, "err", err)
		for _, msg := range c.held {
			_ = msg.InProgress()
		}
		cloud.Sleep(ctx, delay) //nolint:errcheck // the caller checks ctx
		delay = min(2*delay, c.cfg.RetryMax)
	}
}

func (c *Consumer) write(ctx context.Context, l *lines) error {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	if err := c.w.flush(wctx, l); err != nil {
		return err
	}
	c.m.Write.Observe(time.Since(start).Seconds())
	c.m.Points.Add(float64(l.n))
	return nil
}

// oneByOne writes the held messages one at a time after the server refused
// the batch for its content, so that one bad message cannot hold back the
// rest. A message refused alone is terminated; one that fails for another
// reason goes back to JetStream to be retried.
func (c *Consumer) oneByOne(ctx context.Context) {
	var one lines
	for _, msg := range c.held {
		one.reset()
		_ = c.src.encode(&one, msg.Subject(), msg.Data()) // encoded once already
		err := c.write(ctx, &one)
		switch {
		case err == nil:
			c.m.Messages.WithLabelValues("written").Inc()
			c.ack(msg)
		case errors.Is(err, ErrRejected):
			c.log.Error("message rejected by influxdb; dropped", "subject", msg.Subject(), "err", err)
			c.m.Messages.WithLabelValues("rejected").Inc()
			_ = msg.Term()
		default:
			c.m.WriteErrors.Inc()
			_ = msg.NakWithDelay(c.cfg.RetryMin)
		}
	}
	c.held = c.held[:0]
	c.buf.reset()
}

func (c *Consumer) ackAll() {
	now := time.Now()
	for _, msg := range c.held {
		if md, err := msg.Metadata(); err == nil {
			c.m.Lag.Observe(now.Sub(md.Timestamp).Seconds())
		}
		c.ack(msg)
	}
	c.held = c.held[:0]
	c.buf.reset()
}

func (c *Consumer) ack(msg jetstream.Msg) {
	// A lost ack redelivers the message; its points are then written
	// again over themselves, so a plain ack is enough.
	if err := msg.Ack(); err != nil {
		c.log.Warn("ack failed; message will be redelivered", "subject", msg.Subject(), "err", err)
	}
}

// release hands the messages still held back to JetStream at once, rather
// than after AckWait.
func (c *Consumer) release() {
	for _, msg := range c.held {
		_ = msg.Nak()
	}
	c.held = c.held[:0]
	c.buf.reset()
}

// Decode reads a telemetry message and checks that the site it names is
// the site of the subject it came on: a gateway may publish only as its
// own site.
func Decode(subject string, data []byte) (wire.Telemetry, error) {
	t, err := wire.DecodeTelemetry(data)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if site, ok := wire.SiteOfSubject(subject); !ok || site != t.Site {
		return t, fmt.Errorf("%w: telemetry for site %q arrived on subject %q", ErrInvalid, t.Site, subject)
	}
	return t, nil
}

// DecodeIncident reads an incident message and checks its site against
// its subject, as the intake does.
func DecodeIncident(subject string, data []byte) (wire.Incident, error) {
	inc, err := wire.DecodeIncident(data)
	if err != nil {
		return inc, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if site, ok := wire.SiteOfSubject(subject); !ok || site != inc.Site {
		return inc, fmt.Errorf("%w: incident for site %q arrived on subject %q", ErrInvalid, inc.Site, subject)
	}
	return inc, nil
}

// DecodeNotice reads a work-order notice and checks its site against its
// subject.
func DecodeNotice(subject string, data []byte) (workorder.Notice, error) {
	var n workorder.Notice
	if err := json.Unmarshal(data, &n); err != nil {
		return n, fmt.Errorf("%w: work-order notice: %w", ErrInvalid, err)
	}
	if n.Schema != workorder.NoticeSchema {
		return n, fmt.Errorf("%w: work-order notice schema %q (want %s)", ErrInvalid, n.Schema, workorder.NoticeSchema)
	}
	if subject != workorder.NoticeSubject(n.Site) {
		return n, fmt.Errorf("%w: notice for site %q arrived on subject %q", ErrInvalid, n.Site, subject)
	}
	return n, nil
}

// NoticeEvent is the annotation of a work-order notice: what happened is
// "created", "escalated", or for a status change the new status
// ("dispatched", "in_progress", "verified", "avoided"...), all bounded sets.
func NoticeEvent(n *workorder.Notice) WorkOrderEvent {
	what := string(n.Event.Kind)
	var summary []string
	if n.Event.Kind == workorder.Transition {
		what = string(n.Status)
		summary = append(summary, fmt.Sprintf("%s -> %s", n.Event.From, n.Event.To))
	}
	if n.Event.Actor != "" {
		summary = append(summary, "by "+n.Event.Actor)
	}
	if n.Event.Reason != "" {
		summary = append(summary, n.Event.Reason)
	}
	asset := n.Asset
	if asset == "" {
		asset = wholeSite // a report about the store as a whole
	}
	return WorkOrderEvent{
		At: n.Event.At, Site: n.Site, Asset: asset, Problem: n.Problem, Priority: n.Priority,
		Event: what, WorkOrder: strconv.FormatInt(n.Number, 10), Vendor: n.Vendor,
		Summary: strings.Join(summary, "; "),
	}
}
