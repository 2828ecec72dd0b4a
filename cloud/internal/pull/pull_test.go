package pull_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud/internal/pull"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// consumer is a durable consumer of a stream on a real JetStream that
// holds n messages, subjects t.0 to t.<n-1>; closing nc leaves it unable
// to pull.
func consumer(t *testing.T, n int) (cons jetstream.Consumer, nc interface{ Close() }) {
	t.Helper()
	conn := wiretest.Connect(t, wiretest.JetStream(t))
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, fmt.Sprintf("t.%d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err = js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return cons, conn
}

// TestFetch pulls from a real JetStream: what is waiting, up to n; a quiet
// stream's timeout is no error; a pull on a closed connection is ErrPull.
func TestFetch(t *testing.T) {
	cons, nc := consumer(t, 5)
	var got []string
	keep := func(m jetstream.Msg) {
		got = append(got, m.Subject())
		if err := m.Ack(); err != nil {
			t.Error(err)
		}
	}
	for _, tc := range []struct {
		name string
		n    int
		wait time.Duration
		want int
	}{
		{"no wait, fewer than waiting", 3, 0, 3},
		{"waiting, more than waiting", 10, 200 * time.Millisecond, 2},
		{"quiet stream, no wait", 10, 0, 0},
		{"quiet stream, its timeout", 10, 100 * time.Millisecond, 0},
	} {
		before := len(got)
		n, err := pull.Fetch(cons, tc.n, tc.wait, keep)
		if err != nil || n != tc.want || len(got)-before != tc.want {
			t.Errorf("%s: handed on %d (f saw %d), err %v; want %d, nil", tc.name, n, len(got)-before, err, tc.want)
		}
	}
	if want := []string{"t.0", "t.1", "t.2", "t.3", "t.4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("subjects %v, want %v", got, want)
	}
	nc.Close()
	if n, err := pull.Fetch(cons, 1, time.Second, keep); n != 0 || !errors.Is(err, pull.ErrPull) {
		t.Errorf("closed connection: %d, %v; want 0, ErrPull", n, err)
	}
}
