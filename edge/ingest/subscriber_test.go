package ingest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// doneToken is a completed paho token.
type doneToken struct{ err error }

func (t doneToken) Wait() bool                     { return true }
func (t doneToken) WaitTimeout(time.Duration) bool { return true }
func (t doneToken) Done() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
func (t doneToken) Error() error { return t.err }

// fakeClient is a hand-written stand-in for paho's client: Connect runs
// the OnConnect handler, and deliver feeds the subscribed callback.
type fakeClient struct {
	opts *paho.ClientOptions

	mu           sync.Mutex
	filters      map[string]byte
	callback     paho.MessageHandler
	disconnected bool
}

func (c *fakeClient) Connect() paho.Token {
	c.opts.OnConnect(nil)
	return doneToken{}
}

func (c *fakeClient) SubscribeMultiple(filters map[string]byte, cb paho.MessageHandler) paho.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filters, c.callback = filters, cb
	return doneToken{}
}

func (c *fakeClient) Disconnect(uint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disconnected = true
}

func (c *fakeClient) deliver(m *fakeMessage) {
	c.mu.Lock()
	cb := c.callback
	c.mu.Unlock()
	if cb == nil {
		cb = c.opts.DefaultPublishHandler // as paho does without a route
	}
	cb(nil, m)
}

type fakeMessage struct {
	topic   string
	payload string
	acked   int
}

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return 1 }
func (m *fakeMessage) Payload() []byte   { return []byte(m.payload) }
func (m *fakeMessage) Ack()              { m.acked++ }

func TestSubscriber(t *testing.T) {
	var fc *fakeClient
	m := NewMetrics(nil)
	cfg := Config{Broker: "tcp://fake:1883", ClientID: "gw-1", QoS: 1, Queue: 2}
	s := newSubscriber(cfg, testDecoder(t), slog.New(slog.NewTextHandler(io.Discard, nil)), m, func(o *paho.ClientOptions) mqttClient {
		if o.CleanSession || !o.AutoAckDisabled || o.ClientID != "gw-1" {
			t.Errorf("options: clean=%v autoAckDisabled=%v id=%q", o.CleanSession, o.AutoAckDisabled, o.ClientID)
		}
		fc = &fakeClient{opts: o}
		return fc
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for {
		fc.mu.Lock()
		ok := fc.filters != nil
		fc.mu.Unlock()
		if ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if fc.filters["sites/+/assets/+/+"] != 1 || fc.filters["sites/+/assets/+"] != 1 {
		t.Errorf("filters = %v", fc.filters)
	}
	good := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "3"}
	bad := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "{"}
	second := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "4"}
	overflow := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "5"}
	for _, msg := range []*fakeMessage{good, bad, second, overflow} {
		fc.deliver(msg)
	}
	if bad.acked != 1 {
		t.Errorf("malformed message acked %d times, want 1 (a redelivery fails the same way)", bad.acked)
	}
	if good.acked != 0 || overflow.acked != 0 {
		t.Errorf("acked before processing: good %d, dropped %d", good.acked, overflow.acked)
	}
	if got := testutil.ToFloat64(m.Dropped); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.DecodeErrors.WithLabelValues("payload")); got != 1 {
		t.Errorf("decode errors = %v, want 1", got)
	}
	msg := <-s.Messages()
	if len(msg.Readings) != 1 || msg.Readings[0].Value != 3 {
		t.Errorf("first message = %+v", msg.Readings)
	}
	msg.Ack()
	msg.Ack()
	if good.acked != 1 {
		t.Errorf("good acked %d times, want 1", good.acked)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !fc.disconnected {
		t.Error("not disconnected on cancel")
	}
}
