package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/relay"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// TestMain runs the tests, or, re-executed by startProcess, one replica.
func TestMain(m *testing.M) {
	if path := os.Getenv(replicaEnv); path != "" {
		os.Exit(runReplica(path))
	}
	os.Exit(pgtest.Main(m))
}

// TestTwoReplicas runs two whole cloud replicas on one PostgreSQL and one
// NATS, kills one while incidents stream in, and checks that every
// incident was committed once (or, overtaken by its own clear, not at all)
// and every notice published once.
func TestTwoReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	ns := wiretest.JetStream(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = DatabaseConfig{Driver: "postgres", DSN: dsn}
	cfg.NATS.URL = ns.ClientURL()
	cfg.Intake.AckWait = 2 * time.Second
	cfg.SweepEvery = time.Second
	ctx := context.Background()
	a, b := startTwo(t, cfg) // both migrate at once: the advisory lock orders them
	stop := func(r *replica) { r.stop(t) }

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	const n = 400 // events: 100 incidents
	for k := range n {
		ev := storetest.IncidentEvent("r", k)
		data, _ := json.Marshal(wire.NewIncident("gw", *ev))
		msg := nats.NewMsg(wire.IncidentSubject(ev.Site))
		msg.Data = data
		msg.Header.Set(wire.MsgIDHeader, ev.MsgID())
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if k == n/2 {
			stop(a) // one replica dies mid-stream
		}
	}
	store := b.app.Store()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cons, err := js.Consumer(ctx, wire.IncidentStream, "frostline-cloud-intake")
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		store.Relay(ctx, 1, func(m []relay.Msg) error { left = len(m); return fmt.Errorf("just looking") })
		if info.NumPending == 0 && info.NumAckPending == 0 && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every incident on exactly one work order, at its last event.
	seen := map[string]int{}
	ws, err := store.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var events int
	for _, w := range ws {
		for _, e := range w.Evidence {
			seen[e.Incident]++
			if e.Seq != 4 {
				t.Errorf("WO %d: incident %s at seq %d, want 4 (cleared)", w.Number, e.Incident, e.Seq)
			}
		}
		ev, _ := store.Events(ctx, w.ID)
		for _, e := range ev {
			if e.Notable() {
				events++
			}
		}
	}
	// An incident whose clear overtook its opening (a redelivery after the
	// kill) ends its work order AVOIDED at once (nobody was sent).
	for i := range n / 4 {
		id := fmt.Sprintf("r-%d", i)
		if seen[id] > 0 {
			continue
		}
		err := store.Update(ctx, func(tx cloudstore.Tx) error {
			dead, err := tx.Tombstoned(ctx, id)
			if err == nil && !dead {
				t.Errorf("incident %s is on no work order and not tombstoned", id)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("incident %s on %d work orders", id, c)
		}
	}
	// Every notable event published once (JetStream drops re-publishes).
	st, err := js.Stream(ctx, relay.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != events {
		t.Errorf("%d notices in %s, want %d", info.State.Msgs, relay.Stream, events)
	}
	stop(b)
}

// replica is one cloud replica running in the test.
type replica struct {
	app    *App
	cancel context.CancelFunc
	done   chan error
}

// startReplica starts a replica of cfg (nil, with the test failed, if it
// cannot); stop it with stop. It may run on another goroutine.
func startReplica(t *testing.T, cfg Config) *replica {
	t.Helper()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Error(err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	return r
}

// startTwo starts two replicas of cfg at once.
func startTwo(t *testing.T, cfg Config) (a, b *replica) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { a = startReplica(t, cfg) })
	wg.Go(func() { b = startReplica(t, cfg) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	return a, b
}

// stop ends the replica's Run (a graceful stop: the replica "dies" as a
// deploy or a scale-down ends it) and closes it.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("replica: %v", err)
	}
	r.app.Close()
}
