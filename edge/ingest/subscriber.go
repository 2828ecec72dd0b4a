package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/rules"
)

// Message is one MQTT message decoded into readings. The consumer calls Ack
// once what the readings caused is durable; only then does the broker hear
// that a QoS 1 message was received.
type Message struct {
	Readings []rules.Reading
	// Status is a last will or a Sparkplug death (then Readings is
	// empty), nil for readings.
	Status *Status
	// Redelivered is the MQTT DUP flag: the broker sent this message
	// before, so its readings may already be reflected in the checkpoint.
	Redelivered bool
	ack         func()
	// msg is the paho message to acknowledge: held as it is, since a
	// method value (msg.Ack) would cost an allocation per message.
	msg paho.Message
}

// Ack acknowledges the message to the broker. It is safe to call more than
// once and on a message without an ack.
func (m *Message) Ack() {
	if m.msg != nil {
		m.msg.Ack()
		m.msg = nil
	}
	if m.ack != nil {
		m.ack()
		m.ack = nil
	}
}

// NewMessage returns a message for readings that did not come from MQTT (a
// test, a replay); ack may be nil.
func NewMessage(readings []rules.Reading, ack func()) Message {
	return Message{Readings: readings, ack: ack}
}

// mqttClient is the part of paho's client the Subscriber uses, so that
// tests can swap in a small fake.
type mqttClient interface {
	Connect() paho.Token
	SubscribeMultiple(filters map[string]byte, callback paho.MessageHandler) paho.Token
	Disconnect(quiesce uint)
}

// Config says how to reach the broker.
type Config struct {
	Broker   string // tcp://host:1883, or ssl://host:8883 for TLS
	ClientID string // fixed, so that the broker keeps the session
	Username string
	Password string
	TLS      *tls.Config // nil: none
	QoS      byte        // 1 by default in the agent's config

	// Queue is the hand-off queue's capacity in messages. Keep it above
	// the broker's in-flight window (mosquitto max_inflight_messages). A
	// full queue holds each message's packet, payload and readings (about
	// 400 bytes), so it is no bigger than that needs: 2000 by default.
	Queue int
	// QueueWait is how long the handler waits for room in a full queue
	// before it drops the message (0: it drops at once). The in-flight
	// window alone does not bound the queue: mosquitto 2.0 sends a
	// subscriber far more than max_inflight_messages while publishers are
	// busy (measured: 16,000 unacknowledged with a window of 1,000).
	QueueWait time.Duration
	// ReadGap is the least time between two reads from the broker's
	// connection (0: read as soon as data arrives). Messages arriving
	// within it are read together: less CPU per message, at most ReadGap
	// more latency.
	ReadGap time.Duration
	// MaxPayload is the largest payload, in bytes, the Subscriber reads
	// (0: no limit). A larger message is acknowledged and dropped unread,
	// counted in frostline_edge_ingest_oversize_total and logged: a
	// redelivery would be as large, and no sensor sends megabytes.
	MaxPayload int

	KeepAlive            time.Duration
	ConnectTimeout       time.Duration
	MaxReconnectInterval time.Duration
}

// Metrics are the Subscriber's counters.
type Metrics struct {
	Messages     prometheus.Counter
	DecodeErrors *prometheus.CounterVec
	Dropped      prometheus.Counter
	QueueFull    prometheus.Counter
	Oversize     prometheus.Counter
	Held         prometheus.Counter
	Reconnects   prometheus.Counter
	Connected    prometheus.Gauge
	Statuses     *prometheus.CounterVec
}

// NewMetrics creates the Subscriber's metrics and registers them on reg
// (none when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_mqtt_messages_total", Help: "MQTT messages received."}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_mqtt_decode_errors_total", Help: "MQTT messages (or values in them) refused by the decoder, by reason."}, []string{"reason"}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_ingest_dropped_total", Help: "MQTT messages dropped because the hand-off queue was full (QoS 1 ones are redelivered when the session resumes)."}),
		QueueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_ingest_queue_full_total", Help: "MQTT messages that found the hand-off queue full and waited for room (the broker holds the rest meanwhile)."}),
		Oversize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_ingest_oversize_total", Help: "MQTT messages larger than ingest.max_payload_bytes, acknowledged and dropped unread."}),
		Held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_ingest_held_total", Help: "MQTT messages left unread and unacknowledged while paused (the outbox's disk full); the broker redelivers them on resume."}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frostline_edge_mqtt_reconnects_total", Help: "Connections to the MQTT broker lost."}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frostline_edge_mqtt_connected", Help: "1 while connected to the MQTT broker."}),
		Statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frostline_edge_device_status_total", Help: "Last wills and Sparkplug deaths read, by what they say (offline, online)."}, []string{"state"}),
	}
	for _, r := range []string{"no_template", "unknown_metric", "unit", "timestamp", "payload", "historical", "stale_death"} {
		m.DecodeErrors.WithLabelValues(r)
	}
	m.Statuses.WithLabelValues("offline")
	m.Statuses.WithLabelValues("online")
	if reg != nil {
		reg.MustRegister(m.Messages, m.DecodeErrors, m.Dropped, m.QueueFull, m.Oversize, m.Held, m.Reconnects, m.Connected, m.Statuses)
	}
	return m
}

// Subscriber receives MQTT messages and hands them, decoded, to one
// consumer through Messages.
//
// Overflow policy: when the queue is full the handler waits up to
// QueueWait for room (counted in frostline_edge_ingest_queue_full_total):
// paho's router stops reading, TCP pushes back and the broker holds the
// rest of the session's messages. The wait is bounded well below paho's
// ping timeout. Past it the newest message is dropped and counted
// (frostline_edge_ingest_dropped_total). A dropped QoS 1 message is not
// acknowledged, so the broker redelivers it when the persistent session
// resumes; a dropped QoS 0 message is lost. Decode failures are counted
// and acknowledged: a redelivery would fail the same way.
type Subscriber struct {
	cfg     Config
	dec     *Decoder
	log     *slog.Logger
	metrics *Metrics
	queue   chan Message
	client  mqttClient
	// ready is set once subscribed and cleared when the connection is
	// lost; paho's callbacks write it and /readyz reads it.
	ready atomic.Bool
	// wait times a handler's wait for room in the queue; only paho's one
	// router goroutine (SetOrderMatters) runs the handler.
	wait *time.Timer
	// paused is set by Pause and cleared by Resume (the processor's
	// goroutine); the handler reads it. held is set when the handler
	// left a message unacknowledged while paused. conn is the broker
	// connection dial made last, which Resume closes to have the session
	// resumed.
	paused   atomic.Bool
	held     atomic.Bool
	resuming atomic.Bool
	conn     atomic.Pointer[bufferedConn]
	// oversizeLogged is when an oversize message was last logged (the
	// router goroutine's alone); oversizeHeld counts those not logged
	// since.
	oversizeLogged time.Time
	oversizeHeld   int
	// block is where the handler decodes readings: messages take
	// consecutive parts of it, one allocation for many messages rather
	// than one each.
	block []rules.Reading
}

// blockLen is how many readings a block holds.
const blockLen = 256

// New returns a Subscriber using paho's client.
func New(cfg Config, dec *Decoder, log *slog.Logger, m *Metrics) *Subscriber {
	return newSubscriber(cfg, dec, log, m, func(o *paho.ClientOptions) mqttClient { return paho.NewClient(o) })
}

func newSubscriber(cfg Config, dec *Decoder, log *slog.Logger, m *Metrics, factory func(*paho.ClientOptions) mqttClient) *Subscriber {
	if cfg.Queue <= 0 {
		cfg.Queue = 2000
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	s := &Subscriber{cfg: cfg, dec: dec, log: log.With("component", "ingest"), metrics: m, queue: make(chan Message, cfg.Queue)}
	s.client = factory(s.options())
	return s
}

func (s *Subscriber) options() *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true). // one router goroutine: messages reach the queue in order
		SetStore(newSessionStore()).
		SetResumeSubs(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(orDefault(s.cfg.MaxReconnectInterval, 30*time.Second)).
		SetKeepAlive(orDefault(s.cfg.KeepAlive, 30*time.Second)).
		SetConnectTimeout(orDefault(s.cfg.ConnectTimeout, 10*time.Second)).
		// A resumed session delivers queued messages as soon as the
		// connection is up, before OnConnect has subscribed: without a
		// default handler paho would acknowledge and drop them.
		SetDefaultPublishHandler(s.handle).
		SetOnConnectHandler(func(paho.Client) { s.onConnect() }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.ready.Store(false)
			s.metrics.Connected.Set(0)
			s.metrics.Reconnects.Inc()
			s.log.Warn("mqtt connection lost", "err", err)
		})
	if s.cfg.TLS != nil {
		o.SetTLSConfig(s.cfg.TLS)
	}
	o.SetCustomOpenConnectionFn(s.dial)
	return o
}

// dial opens the broker connection with buffering in front of it
// (bufferedConn).
func (s *Subscriber) dial(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		return nil, fmt.Errorf("ingest: broker scheme %q not supported", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	bc := newBufferedConn(c, s.cfg.ReadGap)
	s.conn.Store(bc)
	if s.resuming.Swap(false) {
		// The connection Resume closed is gone: take messages again,
		// starting with the broker's redelivery of those held back.
		s.paused.Store(false)
	}
	return bc, nil
}

// Pause stops taking messages: until Resume, each one that arrives is
// left unread and unacknowledged (counted in
// frostline_edge_ingest_held_total), so the broker keeps it in the
// persistent session, and after its in-flight window fills, holds the
// rest. The agent pauses while its outbox cannot write. Messages already
// in the queue stay there.
func (s *Subscriber) Pause() { s.paused.Store(true) }

// Resume takes messages again. If any were held back, it first closes
// the broker connection: paho reconnects and resumes the session, and the
// broker redelivers what was not acknowledged (MQTT 3.1.1 redelivers only
// on a new connection). Messages stay held until the new connection is
// dialled: one taken from the old connection meanwhile would be newer
// than those held back, and their redelivery would then look stale.
func (s *Subscriber) Resume() {
	c := s.conn.Load()
	if !s.held.Swap(false) || c == nil {
		s.paused.Store(false)
		return
	}
	s.resuming.Store(true)
	s.log.Info("mqtt reconnecting so that the broker redelivers the messages held back")
	c.Close()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// onConnect subscribes on every (re)connection: a broker that lost its
// session state (a restart without persistence) still gets the
// subscriptions back. It runs on paho's goroutine and must not wait on the
// token there, so a short-lived goroutine owned by the token does.
func (s *Subscriber) onConnect() {
	s.metrics.Connected.Set(1)
	filters := map[string]byte{}
	for _, f := range s.dec.Filters() {
		filters[f] = s.cfg.QoS
	}
	// No callback: every message goes to the default handler (s.handle).
	// A callback would be a route that paho matches each message against,
	// splitting the topic and the filter into slices per message.
	tok := s.client.SubscribeMultiple(filters, nil)
	go func() {
		// Exits when paho completes or fails the token (it does on
		// disconnect), so the goroutine never outlives the client.
		tok.Wait()
		if err := tok.Error(); err != nil {
			s.log.Error("mqtt subscribe failed", "err", err)
			return
		}
		s.ready.Store(true)
		s.log.Info("mqtt subscribed", "broker", s.cfg.Broker, "filters", s.dec.Filters())
	}()
}

// handle runs on paho's router goroutine: decode, then hand off without
// blocking.
func (s *Subscriber) handle(_ paho.Client, msg paho.Message) {
	s.metrics.Messages.Inc()
	if s.paused.Load() {
		s.held.Store(true)
		s.metrics.Held.Inc()
		return
	}
	if n := len(msg.Payload()); s.cfg.MaxPayload > 0 && n > s.cfg.MaxPayload {
		// Acknowledged: it holds nothing to make durable, and the broker
		// would only send it again. Only this message is dropped; those
		// around it go on as usual.
		s.metrics.Oversize.Inc()
		s.oversize(msg.Topic(), n)
		msg.Ack()
		return
	}
	if s.dec.WatchesStatus() {
		st, ok, err := s.dec.Status(msg.Topic(), msg.Payload())
		switch {
		case err != nil:
			s.metrics.DecodeErrors.WithLabelValues(Reason(err)).Inc()
			msg.Ack()
			return
		case ok:
			s.metrics.Statuses.WithLabelValues(statusLabel(st.Online)).Inc()
			s.enqueue(Message{Status: &st, msg: msg})
			return
		}
	}
	if cap(s.block)-len(s.block) < maxFastValues {
		s.block = make([]rules.Reading, 0, blockLen)
	}
	free := s.block[len(s.block):]
	readings, err := s.dec.Decode(free, msg.Topic(), msg.Payload())
	if len(readings) <= cap(free) {
		// Decoded in place: the message keeps its part, capped so that
		// nothing appended to it reaches the next message's.
		s.block = s.block[:len(s.block)+len(readings)]
		readings = readings[:len(readings):len(readings)]
	}
	if err != nil {
		for _, e := range unwrapJoined(err) {
			s.metrics.DecodeErrors.WithLabelValues(Reason(e)).Inc()
		}
	}
	if len(readings) == 0 {
		// Nothing to evaluate (a refusal, a Sparkplug DEATH or STATE):
		// nothing to make durable first.
		msg.Ack()
		return
	}
	s.enqueue(Message{Readings: readings, Redelivered: msg.Duplicate(), msg: msg})
}

func statusLabel(online bool) string {
	if online {
		return "online"
	}
	return "offline"
}

// enqueue hands m to the consumer, waiting up to QueueWait for room.
func (s *Subscriber) enqueue(m Message) {
	select {
	case s.queue <- m:
		return
	default:
	}
	if s.cfg.QueueWait > 0 {
		s.metrics.QueueFull.Inc()
		if s.wait == nil {
			s.wait = time.NewTimer(s.cfg.QueueWait)
		} else {
			s.wait.Reset(s.cfg.QueueWait)
		}
		select {
		case s.queue <- m:
			s.wait.Stop()
			return
		case <-s.wait.C:
		}
	}
	s.metrics.Dropped.Inc()
}

// oversize logs a dropped oversize message, at most once every 10 s
// with the count of those held back.
func (s *Subscriber) oversize(topic string, size int) {
	now := time.Now()
	if now.Sub(s.oversizeLogged) < 10*time.Second {
		s.oversizeHeld++
		return
	}
	s.log.Warn("mqtt message over ingest.max_payload_bytes dropped", "topic", truncate(topic, 200), "bytes", size,
		"max_payload_bytes", s.cfg.MaxPayload, "suppressed", s.oversizeHeld)
	s.oversizeLogged, s.oversizeHeld = now, 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func unwrapJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Messages is the hand-off queue. One consumer reads it.
func (s *Subscriber) Messages() <-chan Message { return s.queue }

// Ready reports whether the client is connected and subscribed.
func (s *Subscriber) Ready() bool { return s.ready.Load() }

// QueueLen is the number of messages waiting in the queue.
func (s *Subscriber) QueueLen() int { return len(s.queue) }

// Run connects (retrying with backoff until ctx ends) and stays connected,
// reconnecting with backoff, until ctx is done; then it disconnects. The
// queue is left as it is: unacknowledged messages in it are redelivered by
// the broker on the next session.
func (s *Subscriber) Run(ctx context.Context) error {
	tok := s.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			s.client.Disconnect(0)
			return fmt.Errorf("ingest: connect %s: %w", s.cfg.Broker, err)
		}
		s.log.Info("mqtt connected", "broker", s.cfg.Broker, "client_id", s.cfg.ClientID)
	case <-ctx.Done():
	}
	<-ctx.Done()
	s.client.Disconnect(250)
	s.ready.Store(false)
	s.metrics.Connected.Set(0)
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
