package relay_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire/wiretest"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRelayPublishesNotices(t *testing.T) {
	ns := wiretest.JetStream(t)
	nc := wiretest.Connect(t, ns)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}}
	for _, ev := range []*rules.Event{
		storetest.Incident(rules.Opened, "i1", 1, storetest.T0, "s1", "a1", "no_cooling", "P1"),
		storetest.Incident(rules.Updated, "i1", 2, storetest.T0.Add(time.Minute), "s1", "a1", "no_cooling", "P1"),
	} {
		err := db.Update(ctx, func(tx store.Tx) error {
			_, err := in.Receive(ctx, tx, workorder.FromIncident(ev))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := relay.New(ctx, nc, db, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()

	js, _ := jetstream.New(nc)
	cons, err := js.CreateOrUpdateConsumer(ctx, relay.Stream, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 4 && time.Now().Before(deadline) {
		b, err := cons.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			var n workorder.Notice
			if err := json.Unmarshal(m.Data(), &n); err != nil || n.Schema != workorder.NoticeSchema || m.Subject() != "frostline.events.workorder.s1" {
				t.Fatalf("notice %s on %s: %v", m.Data(), m.Subject(), err)
			}
			got = append(got, string(n.Event.Kind)+":"+string(n.Event.Action)+":"+string(n.Status))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// created, triage, release, dispatch; the evidence events stay inside.
	want := []string{"created::new", "transition:triage:triaged", "transition:release:ready", "transition:dispatch:dispatched"}
	if len(got) != len(want) {
		t.Fatalf("notices %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("notice %d: %s, want %s", i, got[i], want[i])
		}
	}
	if n, err := r.Once(ctx); err != nil || n != 0 {
		t.Errorf("outbox not empty after relay: %d %v", n, err)
	}
}
