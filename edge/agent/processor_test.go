package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// memOutbox is an in-memory committer: it keeps what a real outbox would
// keep, and can be told to fail.
type memOutbox struct {
	incidents []string // message ids, in commit order
	data      [][]byte // the incident messages, in commit order
	cp        []byte
	input     [][]byte
	fail      error
	// telemetry are the telemetry entries, in commit order.
	telemetry []outbox.Entry
}

func (m *memOutbox) Commit(b outbox.Batch) error {
	if m.fail != nil {
		return m.fail
	}
	for _, e := range b.Incidents {
		m.incidents = append(m.incidents, e.MsgID)
		m.data = append(m.data, slices.Clone(e.Data))
	}
	for _, e := range b.Telemetry {
		e.Data = slices.Clone(e.Data)
		m.telemetry = append(m.telemetry, e)
	}
	if b.Checkpoint != nil {
		m.cp, m.input = b.Checkpoint, nil
	} else if b.Input != nil {
		m.input = append(m.input, slices.Clone(b.Input))
	}
	return nil
}

func (m *memOutbox) Checkpoint() ([]byte, [][]byte, error) { return m.cp, m.input, nil }

var _ committer = (*memOutbox)(nil)

func newTestProcessor(t *testing.T, ob committer, checkpointEvery time.Duration) (*processor, *metrics) {
	t.Helper()
	return newClockedProcessor(t, ob, checkpointEvery, func() time.Time { return edgetest.Start }, time.Now)
}

// newClockedProcessor is newTestProcessor with the processor's clock (now)
// and its wall clock for housekeeping (wall).
func newClockedProcessor(t *testing.T, ob committer, checkpointEvery time.Duration, now, wall func() time.Time) (*processor, *metrics) {
	t.Helper()
	dir := t.TempDir()
	site, rulesFile := edgetest.WriteFiles(t, dir)
	cfg := DefaultConfig()
	cfg.Gateway = "gw"
	cfg.Sites = []string{site}
	cfg.Rules.DefaultPack = false
	cfg.Rules.Paths = []string{rulesFile}
	cfg.Outbox.CheckpointEvery = checkpointEvery
	cfg.Outbox.Path = filepath.Join(dir, "outbox.db")
	// The clock below stands still at the replay's start while the
	// replay runs hours ahead of it: no bound on readings ahead of it
	// (clock_test.go tests the bound with a clock that moves).
	cfg.Ingest.MaxFutureSkew = 0
	l, err := loadRules(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(prometheus.NewRegistry())
	p := newProcessor(&cfg, quiet, now, m, ob)
	p.wall = wall
	if err := p.start(l); err != nil {
		t.Fatal(err)
	}
	return p, m
}

// feed runs msgs through the processor, committing every batch messages.
func feed(t *testing.T, p *processor, msgs []edgetest.Message, batch int, acks *int) {
	t.Helper()
	for i, m := range msgs {
		p.handle(ingest.NewMessage(m.Readings, func() { *acks++ }))
		if (i+1)%batch == 0 || i == len(msgs)-1 {
			if err := p.commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestProcessorCrashRecovery simulates crashes at many points: a new
// processor on the surviving outbox (checkpoint and input log) continues
// with the messages not acknowledged, and the committed incidents equal an
// uninterrupted run's.
func TestProcessorCrashRecovery(t *testing.T) {
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	for _, every := range []time.Duration{0, time.Hour} { // checkpoint each commit; input log only
		ob := &memOutbox{}
		p, _ := newTestProcessor(t, ob, every)
		acked := 0
		for crash := 0; acked < len(msgs); crash++ {
			n := 37 + crash*53%200
			feed(t, p, msgs[acked:min(acked+n, len(msgs))], 10, &acked)
			// Uncommitted work is lost with the process: a new one.
			p.handle(ingest.NewMessage(msgs[min(acked, len(msgs)-1)].Readings, nil))
			p, _ = newTestProcessor(t, ob, every)
		}
		if !slices.Equal(ob.incidents, want) {
			t.Errorf("checkpoint every %v: committed %d incident events, want %d\ngot  %v\nwant %v", every, len(ob.incidents), len(want), ob.incidents, want)
		}
	}
}

func TestProcessorRedeliverySkipped(t *testing.T) {
	ob := &memOutbox{}
	p, m := newTestProcessor(t, ob, 0)
	msgs := edgetest.Replay(10)
	acks := 0
	feed(t, p, msgs, 5, &acks)
	// The broker redelivers the last messages (their acks were lost).
	for _, msg := range msgs[len(msgs)-3:] {
		im := ingest.NewMessage(msg.Readings, func() { acks++ })
		im.Redelivered = true
		p.handle(im)
	}
	if err := p.commit(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.readings.WithLabelValues("redelivered")); got != 6 {
		t.Errorf("redelivered readings skipped = %v, want 6", got)
	}
	if acks != len(msgs)+3 {
		t.Errorf("acks = %d, want %d (skipped messages are acknowledged)", acks, len(msgs)+3)
	}
}

func TestProcessorRefusalsCounted(t *testing.T) {
	ob := &memOutbox{}
	p, m := newTestProcessor(t, ob, 0)
	at := edgetest.Start
	p.handle(ingest.NewMessage([]rules.Reading{
		{Site: "s1", Asset: "nope", Metric: rules.LookupMetric("air_temp"), At: at, Value: 1},
		{Site: "s9", Asset: "wic1", Metric: rules.LookupMetric("air_temp"), At: at, Value: 1},
		{Site: "s1", Asset: "wic1", Metric: rules.LookupMetric("air_temp"), At: at.Add(time.Hour), Value: 1},
		{Site: "s1", Asset: "wic1", Metric: rules.LookupMetric("air_temp"), At: at, Value: 1},
	}, nil))
	for reason, want := range map[string]float64{"unknown_asset": 1, "unknown_site": 1, "ok": 1, "late": 1} {
		if got := testutil.ToFloat64(m.readings.WithLabelValues(reason)); got != want {
			t.Errorf("readings{result=%q} = %v, want %v", reason, got, want)
		}
	}
}

func TestProcessorCommitFailureStops(t *testing.T) {
	ob := &memOutbox{}
	p, _ := newTestProcessor(t, ob, 0)
	ob.fail = errors.New("disk full")
	acks := 0
	msgs := edgetest.Replay(1)
	p.handle(ingest.NewMessage(msgs[0].Readings, func() { acks++ }))
	if err := p.commit(); !errors.Is(err, ob.fail) {
		t.Fatalf("commit error = %v, want the outbox's", err)
	}
	if acks != 0 {
		t.Error("a message was acknowledged although its commit failed")
	}
}

// TestProcessorRestoresPlainCheckpoint: an agent upgraded over the plain
// JSON checkpoint that earlier versions stored continues from it, and a
// damaged compressed one starts afresh instead of failing.
func TestProcessorRestoresPlainCheckpoint(t *testing.T) {
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	ob := &memOutbox{}
	p, _ := newTestProcessor(t, ob, 0)
	acked, half := 0, len(msgs)/2
	feed(t, p, msgs[:half], 10, &acked)
	plain, err := readCheckpoint(ob.cp)
	if err != nil || len(plain) == 0 || plain[0] != '{' || len(plain) <= len(ob.cp) {
		t.Fatalf("checkpoint not compressed JSON: %d bytes, %d plain, %v", len(ob.cp), len(plain), err)
	}
	ob.cp = plain
	p, _ = newTestProcessor(t, ob, 0)
	feed(t, p, msgs[half:], 10, &acked)
	if !slices.Equal(ob.incidents, want) {
		t.Errorf("committed %d incident events, want %d", len(ob.incidents), len(want))
	}
	ob.cp = []byte{0x1f, 0x8b, 8, 0, 1, 2, 3}
	newTestProcessor(t, ob, 0)
}

// TestProcessorOldSeenCheckpoint: a checkpoint of an earlier version kept
// the newest event time per series beside the engine's snapshot ("seen");
// restored from one, the processor still recognises redeliveries.
func TestProcessorOldSeenCheckpoint(t *testing.T) {
	ob := &memOutbox{}
	p, _ := newTestProcessor(t, ob, 0)
	msgs := edgetest.Replay(10)
	acks := 0
	feed(t, p, msgs, 5, &acks)
	plain, err := readCheckpoint(ob.cp)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite it as the earlier version wrote it.
	var cp map[string]any
	if err := json.Unmarshal(plain, &cp); err != nil {
		t.Fatal(err)
	}
	seen := map[string]any{}
	for site, sn := range cp["engine"].(map[string]any)["sites"].(map[string]any) {
		for asset, an := range sn.(map[string]any)["assets"].(map[string]any) {
			for metric, h := range an.(map[string]any)["held"].(map[string]any) {
				seen[site+"/"+asset+"/"+metric] = h.(map[string]any)["newest"]
				delete(h.(map[string]any), "newest")
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no series in the checkpoint")
	}
	cp["seen"] = seen
	if ob.cp, err = json.Marshal(cp); err != nil {
		t.Fatal(err)
	}
	p, m := newTestProcessor(t, ob, 0)
	for _, msg := range msgs[len(msgs)-3:] {
		im := ingest.NewMessage(msg.Readings, nil)
		im.Redelivered = true
		p.handle(im)
	}
	if got := testutil.ToFloat64(m.readings.WithLabelValues("redelivered")); got != 6 {
		t.Errorf("redelivered readings skipped = %v, want 6", got)
	}
}

// lockedOutbox is a memOutbox whose failure the test changes while the
// processor runs.
type lockedOutbox struct {
	mu sync.Mutex
	memOutbox
}

func (l *lockedOutbox) Commit(b outbox.Batch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.memOutbox.Commit(b)
}

func (l *lockedOutbox) setFail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

func (l *lockedOutbox) committed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.incidents)
}

// TestProcessorWaitsForSpace: a commit that fails with ENOSPC pauses the
// MQTT side, acknowledges nothing and evaluates nothing more, and writes
// the very same batch once there is room; the incidents then equal an
// uninterrupted run's. Any other failure still stops the processor.
func TestProcessorWaitsForSpace(t *testing.T) {
	ob := &lockedOutbox{}
	p, _ := newTestProcessor(t, &ob.memOutbox, 0)
	p.ob = ob
	paused, resumed := make(chan struct{}, 1), make(chan struct{}, 1)
	p.pauseMQTT = func() { paused <- struct{}{} }
	p.resumeMQTT = func() { resumed <- struct{}{} }
	msgs := edgetest.Replay(120)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	var mu sync.Mutex
	acks := 0
	in := make(chan ingest.Message, len(msgs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, in, nil) }()
	half := len(msgs) / 2
	ob.setFail(fmt.Errorf("outbox: commit: write outbox.db: %w", syscall.ENOSPC))
	for _, m := range msgs[:half] {
		in <- ingest.NewMessage(m.Readings, func() { mu.Lock(); acks++; mu.Unlock() })
	}
	select {
	case <-paused:
	case <-time.After(10 * time.Second):
		t.Fatal("not paused on ENOSPC")
	}
	time.Sleep(300 * time.Millisecond) // retries fail meanwhile
	mu.Lock()
	if acks != 0 || !p.blocked.Load() || len(ob.committed()) != 0 {
		t.Errorf("while the disk is full: %d acks, blocked %v, %d incidents committed; want none, true, none", acks, p.blocked.Load(), len(ob.committed()))
	}
	mu.Unlock()
	ob.setFail(nil)
	select {
	case <-resumed:
	case <-time.After(10 * time.Second):
		t.Fatal("not resumed once there was room")
	}
	for _, m := range msgs[half:] {
		in <- ingest.NewMessage(m.Readings, func() { mu.Lock(); acks++; mu.Unlock() })
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := acks
		mu.Unlock()
		if n == len(msgs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages acknowledged", n, len(msgs))
		}
	}
	if got := ob.committed(); !slices.Equal(got, want) {
		t.Errorf("committed %d incident events, want %d", len(got), len(want))
	}
	ob.setFail(errors.New("disk on fire"))
	in <- ingest.NewMessage(msgs[0].Readings, nil)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("run ended with %v, want the outbox's failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("an outbox failure other than ENOSPC did not stop the processor")
	}
	cancel()
}

// TestProcessorIncidentsCarryWindows: every incident event of an asset
// with temperature readings carries its chart, within the caps, and
// decodes as the cloud decodes it.
func TestProcessorIncidentsCarryWindows(t *testing.T) {
	ob := &memOutbox{}
	p, _ := newTestProcessor(t, ob, 0)
	msgs := edgetest.Replay(240)
	acked := 0
	feed(t, p, msgs, 10, &acked)
	if len(ob.data) == 0 {
		t.Fatal("no incidents")
	}
	with := 0
	for _, d := range ob.data {
		inc, err := wire.DecodeIncident(d)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Schema != wire.IncidentSchema || inc.WindowError != nil {
			t.Fatalf("incident %s: schema %s, window error %v", inc.Incident, inc.Schema, inc.WindowError)
		}
		w := inc.Window
		if w == nil {
			continue
		}
		with++
		if len(w.Points) == 0 || len(w.Points) > int(evidenceSpan/evidenceStep)+1 || w.Step != 300 {
			t.Errorf("incident %s: %d points at %v s", inc.Incident, len(w.Points), w.Step)
		}
		if last := w.Points[len(w.Points)-1].At; last.Before(inc.At.Add(-evidenceStep)) {
			t.Errorf("incident %s at %s: its window ends at %s", inc.Incident, inc.At, last)
		}
		if first := w.Points[0].At; first.Before(inc.At.Add(-evidenceSpan - evidenceStep)) {
			t.Errorf("incident %s at %s: its window starts at %s", inc.Incident, inc.At, first)
		}
	}
	if with == 0 {
		t.Errorf("none of %d incident events carries a window", len(ob.data))
	}
	t.Logf("%d of %d incident events carry a window", with, len(ob.data))
}

// checkpoints counts the commits that carried a whole checkpoint.
type checkpoints struct {
	memOutbox
	n int
}

func (c *checkpoints) Commit(b outbox.Batch) error {
	if b.Checkpoint != nil {
		c.n++
	}
	return c.memOutbox.Commit(b)
}

// TestCheckpointCadence: a whole checkpoint is written at start, then once the wall clock (the processor's, here a fake one) has
// moved on by outbox.checkpoint_every; between them only the input log.
func TestCheckpointCadence(t *testing.T) {
	ob := &checkpoints{}
	wall := edgetest.Start
	p, _ := newClockedProcessor(t, ob, time.Minute, func() time.Time { return edgetest.Start }, func() time.Time { return wall })
	if ob.n != 1 {
		t.Fatalf("%d checkpoints written at start, want 1", ob.n)
	}
	msgs := edgetest.Replay(8)
	acks := 0
	for i, tc := range []struct {
		advance    time.Duration
		checkpoint bool
	}{
		{0, false},                // at once
		{30 * time.Second, false}, // within the minute
		{29 * time.Second, false}, // 59 s since
		{time.Second, true},       // a minute since
		{time.Second, false},      // a second since the last
	} {
		wall = wall.Add(tc.advance)
		before := ob.n
		feed(t, p, msgs[i:i+1], 1, &acks)
		if wrote := ob.n > before; wrote != tc.checkpoint {
			t.Errorf("commit %d, %v after the previous: checkpoint written %v, want %v", i, tc.advance, wrote, tc.checkpoint)
		}
	}
}
