package intake_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/edge/forward"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
	"github.com/frostline/frostline/rules"
)

// TestClusterLosesNodes: three nats-server nodes at replicas 3 with every
// write synced, as deploy/nats runs them; an edge's outbox and forwarder
// publish incidents and a cloud replica's intake consumes them. A node that
// is not the incident stream's leader is killed, later brought back, and
// then the stream's leader is killed. Every incident the forwarder had
// acknowledged is still in the stream, none twice; the forwarder and the
// intake carry on through both losses without a restart; every incident
// reaches exactly one work order.
func TestClusterLosesNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("three nats-servers: skipped under -short")
	}
	c := wiretest.NewCluster(t, 3)
	ctx := context.Background()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	db := openSQLite(t)
	_, stopIntake := run(t, ctx, nc, db, nil) // creates the incident stream
	defer stopIntake()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, wire.IncidentStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(ctx); err != nil || info.Config.Replicas != 3 {
		t.Fatalf("incident stream replicas %v (%v), want 3 on a cluster", info.Config.Replicas, err)
	}

	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	fwd := forward.New(forward.Config{URL: c.URLs(), Name: "edge-test", MaxBackoff: 200 * time.Millisecond, PublishTimeout: 2 * time.Second},
		ob, quiet(), nil)
	fctx, stopFwd := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := fwd.Run(fctx); err != nil {
			t.Error(err)
		}
	})
	defer func() { stopFwd(); wg.Wait() }()

	evs := incidents(240)
	third := len(evs) / 3
	send := func(part []*rules.Event) {
		t.Helper()
		var b outbox.Batch
		for _, ev := range part {
			data, _ := json.Marshal(wire.NewIncident("gw-1", *ev))
			b.Incidents = append(b.Incidents, outbox.Entry{Subject: wire.IncidentSubject(ev.Site), MsgID: ev.MsgID(), Data: data})
		}
		if err := ob.Commit(b); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(60 * time.Second); ob.Len(outbox.Incidents) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d incidents still in the outbox", ob.Len(outbox.Incidents))
			}
		}
		waitDrained(t, nc, "frostline-cloud-intake")
	}
	leader := func() int {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			info, err := stream.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				return c.Index(info.Cluster.Leader)
			}
			if time.Now().After(deadline) {
				t.Fatalf("incident stream has no leader: %v", err)
			}
		}
	}

	send(evs[:third])
	l := leader()
	other := (l + 1) % 3
	c.Kill(other)
	t.Logf("killed n%d (n%d leads the incident stream)", other+1, l+1)
	send(evs[third : 2*third])
	c.Start(other)
	// Back in step before the leader goes: the stream needs two of three.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		info, err := stream.Info(ctx)
		current := 0
		if err == nil && info.Cluster != nil {
			for _, r := range info.Cluster.Replicas {
				if r.Current && !r.Offline {
					current++
				}
			}
		}
		if current == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted node not current again: %+v %v", info, err)
		}
	}
	l = leader()
	c.Kill(l)
	t.Logf("killed n%d, the incident stream's leader", l+1)
	send(evs[2*third:])
	if nl := leader(); nl == l {
		t.Fatalf("n%d still leads after being killed", l+1)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(evs)) {
		t.Errorf("incident stream holds %d messages, want every acknowledged one, %d", info.State.Msgs, len(evs))
	}
	stopIntake()
	checkExactlyOnce(t, db, 240)
}
