package pull_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud/internal/pull"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// TestFetch pulls from a real JetStream: what is waiting, up to n; a quiet
// stream's timeout is no error; a pull on a closed connection is ErrPull.
func TestFetch(t *testing.T) {
	s := wiretest.JetStream(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, fmt.Sprintf("t.%d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
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
