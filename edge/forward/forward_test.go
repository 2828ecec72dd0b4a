package forward

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats-server's process-wide access-time ticker, and a file
		// store's flusher, can outlive a server shut down mid-test (the
		// outage test); they are the server's, not ours.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func incident(site, asset string, n int) outbox.Entry {
	id := fmt.Sprintf("%s-%s-%d", site, asset, n)
	return outbox.Entry{Subject: wire.IncidentSubject(site), MsgID: id, Data: []byte(`{"id":"` + id + `"}`)}
}

// start runs a forwarder until the returned stop is called.
func start(t *testing.T, cfg Config, src Source) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cfg, src, quiet, nil).Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// streamIDs reads every message id in a stream, in stream order.
func streamIDs(t *testing.T, url, stream string) []string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(wire.MsgIDHeader))
	}
	return ids
}

// openOutbox opens an outbox in a temporary folder, closed after the test.
func openOutbox(t *testing.T) *outbox.Outbox {
	t.Helper()
	o, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func waitEmpty(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); o.Len(outbox.Incidents)+o.Len(outbox.Telemetry) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained: %d incidents, %d telemetry", o.Len(outbox.Incidents), o.Len(outbox.Telemetry))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestForwardIncidentsBeforeTelemetry(t *testing.T) {
	ns := testserver.NATS(t, t.TempDir(), -1)
	o := openOutbox(t)
	tel := outbox.Entry{Subject: wire.TelemetrySubject("s1"), MsgID: "tel-1", Data: []byte(`{}`)}
	o.Commit(outbox.Batch{Telemetry: []outbox.Entry{tel}})
	o.Commit(outbox.Batch{Incidents: []outbox.Entry{incident("s1", "a", 1), incident("s1", "b", 1), incident("s1", "a", 2)}})
	// A crash after publish and before remove re-sends: the stream must
	// keep one copy.
	o.Commit(outbox.Batch{Incidents: []outbox.Entry{incident("s1", "a", 2)}})

	stop := start(t, Config{URL: ns.ClientURL(), EnsureStreams: true}, o)
	waitEmpty(t, o)
	stop()

	got := streamIDs(t, ns.ClientURL(), wire.IncidentStream)
	want := []string{"s1-a-1", "s1-b-1", "s1-a-2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("incident stream = %v, want %v", got, want)
	}
	if got := streamIDs(t, ns.ClientURL(), wire.TelemetryStream); fmt.Sprint(got) != "[tel-1]" {
		t.Errorf("telemetry stream = %v", got)
	}
}

// TestForwardOutage takes NATS down while incidents keep coming, then
// brings it back: everything arrives, once, in order per asset.
func TestForwardOutage(t *testing.T) {
	store := t.TempDir()
	ns := testserver.NATS(t, store, -1)
	port := testserver.NATSPort(ns)
	url := ns.ClientURL()
	o := openOutbox(t)
	stop := start(t, Config{URL: url, EnsureStreams: true, MaxBackoff: 200 * time.Millisecond, PublishTimeout: time.Second}, o)
	defer stop()

	var want []string
	commit := func(from, to int) {
		for i := from; i < to; i++ {
			e := incident("s1", fmt.Sprint("asset", i%3), i)
			want = append(want, e.MsgID)
			if err := o.Commit(outbox.Batch{Incidents: []outbox.Entry{e}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit(0, 20)
	waitEmpty(t, o)
	ns.Shutdown()
	ns.WaitForShutdown()
	commit(20, 200) // the outage
	time.Sleep(500 * time.Millisecond)
	if o.Len(outbox.Incidents) != 180 {
		t.Fatalf("outbox holds %d during the outage, want 180", o.Len(outbox.Incidents))
	}
	testserver.NATS(t, store, port)
	commit(200, 220)
	waitEmpty(t, o)

	got := streamIDs(t, url, wire.IncidentStream)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the outage the stream holds %d messages:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
}

// BenchmarkDrain measures how fast a backlog (incidents of ~600 bytes)
// drains to JetStream (file storage, fsync on every write): the catch-up
// rate after an outage.
func BenchmarkDrain(b *testing.B) {
	ns := testserver.NATS(b, b.TempDir(), -1)
	o, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	data := make([]byte, 600)
	batch := outbox.Batch{}
	for i := range b.N {
		batch.Incidents = append(batch.Incidents, outbox.Entry{Subject: wire.IncidentSubject("s1"), MsgID: fmt.Sprint("inc-", i), Data: data})
	}
	if err := o.Commit(batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Config{URL: ns.ClientURL(), EnsureStreams: true}, o, quiet, nil).Run(ctx) }()
	for o.Len(outbox.Incidents) > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestForwardNATSProcessKilled runs the forwarder against the current
// nats-server as a separate process and kills it with SIGKILL twice while
// incidents keep coming: every acknowledged incident survives (sync always),
// and in the end the stream holds each incident once, in order.
func TestForwardNATSProcessKilled(t *testing.T) {
	ns := testserver.StartNATSProcess(t, t.TempDir())
	o := openOutbox(t)
	stop := start(t, Config{URL: ns.URL, EnsureStreams: true, MaxBackoff: 200 * time.Millisecond, PublishTimeout: time.Second}, o)
	defer stop()
	var want []string
	commit := func(from, to int) {
		for i := from; i < to; i++ {
			e := incident("s1", fmt.Sprint("asset", i%4), i)
			want = append(want, e.MsgID)
			if err := o.Commit(outbox.Batch{Incidents: []outbox.Entry{e}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 3 {
		commit(round*100, round*100+100)
		if round < 2 {
			time.Sleep(20 * time.Millisecond) // part of the round is in flight
			ns.Kill()
			ns.Start()
		}
	}
	waitEmpty(t, o)
	got := streamIDs(t, ns.URL, wire.IncidentStream)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after two SIGKILLs the stream holds %d messages, want %d in order:\n%v", len(got), len(want), got)
	}
}

// recorder is the outbox with a hook after each Remove and a log of the
// queues Next handed out.
type recorder struct {
	*outbox.Outbox
	mu      sync.Mutex
	kinds   []outbox.Kind
	removed func(outbox.Kind)
}

func (r *recorder) Next(max int) (outbox.Kind, []outbox.Entry, error) {
	k, es, err := r.Outbox.Next(max)
	if len(es) > 0 {
		r.mu.Lock()
		r.kinds = append(r.kinds, k)
		r.mu.Unlock()
	}
	return k, es, err
}

func (r *recorder) Remove(k outbox.Kind, seqs ...uint64) error {
	err := r.Outbox.Remove(k, seqs...)
	if r.removed != nil {
		r.removed(k)
	}
	return err
}

func telemetryEntries(n int) ([]outbox.Entry, []string) {
	var es []outbox.Entry
	var ids []string
	for i := range n {
		id := fmt.Sprintf("s1-%04d", i)
		es = append(es, outbox.Entry{Subject: wire.TelemetrySubject("s1"), MsgID: id, Data: []byte(`{"batch":"` + id + `"}`)})
		ids = append(ids, id)
	}
	return es, ids
}

// TestForwardIncidentOvertakesTelemetryBacklog commits an incident while a
// telemetry backlog drains: the forwarder's next take from the outbox is
// the incident, and every batch still arrives once.
func TestForwardIncidentOvertakesTelemetryBacklog(t *testing.T) {
	ns := testserver.NATS(t, t.TempDir(), -1)
	o := openOutbox(t)
	tel, ids := telemetryEntries(300)
	if err := o.Commit(outbox.Batch{Telemetry: tel}); err != nil {
		t.Fatal(err)
	}
	r := &recorder{Outbox: o}
	var once sync.Once
	r.removed = func(k outbox.Kind) {
		if k == outbox.Telemetry {
			once.Do(func() {
				if err := o.Commit(outbox.Batch{Incidents: []outbox.Entry{incident("s1", "a", 1)}}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	stop := start(t, Config{URL: ns.ClientURL(), EnsureStreams: true}, r)
	waitEmpty(t, o)
	stop()

	r.mu.Lock()
	kinds := r.kinds
	r.mu.Unlock()
	if len(kinds) < 3 || kinds[0] != outbox.Telemetry || kinds[1] != outbox.Incidents {
		t.Errorf("Next handed out %v; want telemetry, then the incident committed meanwhile, then telemetry", kinds)
	}
	if got := streamIDs(t, ns.ClientURL(), wire.IncidentStream); fmt.Sprint(got) != "[s1-a-1]" {
		t.Errorf("incident stream = %v", got)
	}
	got := streamIDs(t, ns.ClientURL(), wire.TelemetryStream)
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("telemetry stream holds %d batches, want each of %d once", len(got), len(ids))
	}
}

// TestForwardTelemetryOutage takes NATS down while a telemetry backlog
// drains with publishes in flight: each batch ends up in the stream once.
func TestForwardTelemetryOutage(t *testing.T) {
	store := t.TempDir()
	ns := testserver.NATS(t, store, -1)
	port := testserver.NATSPort(ns)
	url := ns.ClientURL()
	o := openOutbox(t)
	tel, ids := telemetryEntries(2000)
	if err := o.Commit(outbox.Batch{Telemetry: tel}); err != nil {
		t.Fatal(err)
	}
	stop := start(t, Config{URL: url, EnsureStreams: true, MaxBackoff: 200 * time.Millisecond, PublishTimeout: time.Second}, o)
	defer stop()
	for deadline := time.Now().Add(20 * time.Second); o.Len(outbox.Telemetry) > 1900; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("forwarding did not start")
		}
	}
	ns.Shutdown() // mid-drain
	ns.WaitForShutdown()
	left := o.Len(outbox.Telemetry)
	if left == 0 {
		t.Fatal("the backlog drained before the outage; make it longer")
	}
	time.Sleep(300 * time.Millisecond)
	testserver.NATS(t, store, port)
	waitEmpty(t, o)

	got := streamIDs(t, url, wire.TelemetryStream)
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("after the outage (%d batches left when it began) the stream holds %d, want each of %d once", left, len(got), len(ids))
	}
}
