package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/frostline/frostline/rules"
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

// TestSubscriberBlocks hands over more messages than a block holds, of one
// reading and of several: each keeps its own readings, and appending to one
// never writes into the next one's.
func TestSubscriberBlocks(t *testing.T) {
	var fc *fakeClient
	n := 3 * blockLen
	s := newSubscriber(Config{Broker: "tcp://fake:1883", ClientID: "gw-1", QoS: 1, Queue: n}, testDecoder(t),
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil, func(o *paho.ClientOptions) mqttClient {
			fc = &fakeClient{opts: o}
			return fc
		})
	for i := range n {
		msg := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: fmt.Sprint(i)}
		if i%3 == 0 {
			msg = &fakeMessage{topic: "sites/s1/assets/wic1", payload: fmt.Sprintf(`{"values": {"air_temp": %d, "door_open": 1, "defrost": 0}}`, i)}
		}
		fc.deliver(msg)
	}
	var msgs []Message
	for range n {
		msgs = append(msgs, <-s.Messages())
	}
	for i := range msgs {
		msgs[i].Readings = append(msgs[i].Readings, rules.Reading{Value: -1}) // must not reach message i+1
	}
	for i, m := range msgs {
		want := 2
		if i%3 == 0 {
			want = 4
		}
		if len(m.Readings) != want || m.Readings[0].Value != float64(i) || m.Readings[want-1].Value != -1 {
			t.Fatalf("message %d: %+v", i, m.Readings)
		}
	}
}

// TestSubscriberPauseAndCap: while paused, a message is neither queued nor
// acknowledged (the broker keeps it) and is counted as held; after Resume
// messages are queued again. An oversize payload is acknowledged, counted
// and dropped unread, and the message after it is queued.
func TestSubscriberPauseAndCap(t *testing.T) {
	var fc *fakeClient
	m := NewMetrics(nil)
	s := newSubscriber(Config{Broker: "tcp://fake:1883", ClientID: "gw-1", QoS: 1, Queue: 10, MaxPayload: 64}, testDecoder(t),
		slog.New(slog.NewTextHandler(io.Discard, nil)), m, func(o *paho.ClientOptions) mqttClient {
			fc = &fakeClient{opts: o}
			return fc
		})
	s.Pause()
	held := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "3"}
	fc.deliver(held)
	if held.acked != 0 || s.QueueLen() != 0 || testutil.ToFloat64(m.Held) != 1 {
		t.Errorf("while paused: acked %d, queued %d, held %v; want 0, 0, 1", held.acked, s.QueueLen(), testutil.ToFloat64(m.Held))
	}
	s.Resume() // no connection to close in the fake: takes messages at once
	big := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: fmt.Sprintf("%100d", 4)}
	after := &fakeMessage{topic: "sites/s1/assets/wic1/air_temp", payload: "5"}
	fc.deliver(big)
	fc.deliver(after)
	if big.acked != 1 || testutil.ToFloat64(m.Oversize) != 1 {
		t.Errorf("oversize: acked %d, counted %v; want 1, 1", big.acked, testutil.ToFloat64(m.Oversize))
	}
	if s.QueueLen() != 1 {
		t.Fatalf("queued %d after resume, want the one good message", s.QueueLen())
	}
	if msg := <-s.Messages(); len(msg.Readings) != 1 || msg.Readings[0].Value != 5 {
		t.Errorf("queued %+v, want the reading 5", msg.Readings)
	}
}
