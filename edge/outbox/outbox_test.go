package outbox

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func open(t *testing.T, path string, opts Options) *Outbox {
	t.Helper()
	o, err := Open(path, opts, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func entry(subject, id string) Entry {
	return Entry{Subject: subject, MsgID: id, Data: []byte(`{"id":"` + id + `"}`)}
}

func TestCommitNextRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, Options{})
	if err := o.Commit(Batch{
		Incidents:  []Entry{entry("s.incidents", "i1"), entry("s.incidents", "i2")},
		Telemetry:  []Entry{entry("s.telemetry", "t1")},
		Checkpoint: []byte("cp1"),
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.Ready():
	default:
		t.Fatal("Ready not signalled")
	}
	if err := o.Commit(Batch{Incidents: []Entry{entry("s.incidents", "i3")}}); err != nil {
		t.Fatal(err)
	}
	// Incidents come first, in commit order, and are not removed by Next.
	for range 2 {
		k, es, err := o.Next(2)
		if err != nil || k != Incidents || len(es) != 2 || es[0].MsgID != "i1" || es[1].MsgID != "i2" {
			t.Fatalf("Next = %v %+v %v", k, es, err)
		}
	}
	cp, input, err := o.Checkpoint()
	if err != nil || string(cp) != "cp1" || len(input) != 0 {
		t.Fatalf("checkpoint = %q, %q, %v (a commit without one keeps the last)", cp, input, err)
	}
	_, es, _ := o.Next(10)
	if err := o.Remove(Incidents, es[0].Seq, es[1].Seq); err != nil {
		t.Fatal(err)
	}
	o.Close()

	// Reopen: what was committed and not removed is still there.
	o = open(t, path, Options{})
	if o.Len(Incidents) != 1 || o.Len(Telemetry) != 1 {
		t.Fatalf("after reopen: %d incidents, %d telemetry; want 1, 1", o.Len(Incidents), o.Len(Telemetry))
	}
	k, es, _ := o.Next(10)
	if k != Incidents || len(es) != 1 || es[0].MsgID != "i3" || !bytes.Equal(es[0].Data, []byte(`{"id":"i3"}`)) || es[0].Subject != "s.incidents" {
		t.Fatalf("Next = %v %+v", k, es)
	}
	if err := o.Remove(Incidents, es[0].Seq); err != nil {
		t.Fatal(err)
	}
	k, es, _ = o.Next(10)
	if k != Telemetry || len(es) != 1 || es[0].MsgID != "t1" {
		t.Fatalf("Next after incidents = %v %+v", k, es)
	}
	o.Remove(Telemetry, es[0].Seq)
	if _, es, _ = o.Next(10); len(es) != 0 {
		t.Fatalf("empty outbox returned %+v", es)
	}
	if o.bytes[Incidents].Load() != 0 || o.bytes[Telemetry].Load() != 0 {
		t.Fatalf("bytes after draining: %d, %d", o.bytes[Incidents].Load(), o.bytes[Telemetry].Load())
	}
}

func TestInputLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, Options{})
	commit := func(b Batch) {
		t.Helper()
		if err := o.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	commit(Batch{Input: []byte("in1")})
	commit(Batch{Input: []byte("in2"), Checkpoint: []byte("cp2")}) // covers in1, in2
	commit(Batch{Input: []byte("in3")})
	commit(Batch{Input: []byte("in4")})
	o.Close()
	o = open(t, path, Options{})
	cp, input, err := o.Checkpoint()
	if err != nil || string(cp) != "cp2" || len(input) != 2 || string(input[0]) != "in3" || string(input[1]) != "in4" {
		t.Fatalf("checkpoint %q, input %q, %v; want cp2, [in3 in4]", cp, input, err)
	}
}

func TestTelemetryDropsOldestIncidentsNever(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{MaxTelemetry: 3})
	for i := range 10 {
		err := o.Commit(Batch{
			Incidents: []Entry{entry("s.incidents", fmt.Sprint("i", i))},
			Telemetry: []Entry{entry("s.telemetry", fmt.Sprint("t", i))},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if o.Len(Incidents) != 10 || o.Len(Telemetry) != 3 {
		t.Fatalf("lens %d, %d; want 10, 3", o.Len(Incidents), o.Len(Telemetry))
	}
	if got := testutil.ToFloat64(o.dropped); got != 7 {
		t.Errorf("dropped = %v, want 7", got)
	}
	var seqs []uint64
	_, es, _ := o.Next(100)
	for _, e := range es {
		seqs = append(seqs, e.Seq)
	}
	o.Remove(Incidents, seqs...)
	_, es, _ = o.Next(100)
	if len(es) != 3 || es[0].MsgID != "t7" || es[2].MsgID != "t9" {
		t.Fatalf("telemetry kept = %+v, want t7..t9", es)
	}
}

func TestTelemetryByteBound(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{MaxTelemetryBytes: 100})
	for i := range 20 {
		if err := o.Commit(Batch{Telemetry: []Entry{{Subject: "t", MsgID: fmt.Sprint(i), Data: make([]byte, 30)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if o.bytes[Telemetry].Load() > 100 || o.Len(Telemetry) != 2 {
		t.Fatalf("bytes %d, entries %d", o.bytes[Telemetry].Load(), o.Len(Telemetry))
	}
}

func TestDecodeCorrupt(t *testing.T) {
	for _, v := range [][]byte{nil, {1, 2, 3}, {0, 0, 0, 0, 0, 0, 0, 0, 0x05, 'a'}, {0, 0, 0, 0, 0, 0, 0, 0, 0x01, 'a', 0x7f}} {
		if _, err := decode(v); err == nil {
			t.Errorf("decode(%q) accepted a corrupt entry", v)
		}
	}
	e := entry("subj", "id")
	e.Queued = time.Unix(0, 12345)
	got, err := decode(appendEncoded(nil, &e))
	if err != nil || got.Subject != "subj" || !got.Queued.Equal(e.Queued) || got.MsgID != "id" || !bytes.Equal(got.Data, e.Data) || len(appendEncoded(nil, &e)) != encodedLen(&e) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func BenchmarkCommit(b *testing.B) {
	o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	cp := bytes.Repeat([]byte("x"), 64<<10)
	for b.Loop() {
		if err := o.Commit(Batch{Incidents: []Entry{entry("s.incidents", "i")}, Checkpoint: cp}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCountersMatchFile checks the in-memory counters against a reopen's
// count after drops that include entries of the very batch being added.
func TestCountersMatchFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, Options{MaxTelemetry: 2})
	var batch []Entry
	for i := range 5 {
		batch = append(batch, entry("s.telemetry", fmt.Sprint("t", i)))
	}
	if err := o.Commit(Batch{Telemetry: batch}); err != nil {
		t.Fatal(err)
	}
	n, size := o.Len(Telemetry), o.bytes[Telemetry].Load()
	o.Close()
	o = open(t, path, Options{MaxTelemetry: 2})
	if o.Len(Telemetry) != n || o.bytes[Telemetry].Load() != size || n != 2 {
		t.Fatalf("counters %d entries %d bytes; file %d entries %d bytes", n, size, o.Len(Telemetry), o.bytes[Telemetry].Load())
	}
}

// TestReleaseMapped: dropping the mapped pages loses nothing.
func TestReleaseMapped(t *testing.T) {
	ob, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	data := bytes.Repeat([]byte("x"), 3<<20)
	if err := ob.Commit(Batch{Incidents: []Entry{{Subject: "s", MsgID: "a", Data: []byte("1")}}, Checkpoint: data}); err != nil {
		t.Fatal(err)
	}
	if err := ob.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	cp, _, err := ob.Checkpoint()
	if err != nil || !bytes.Equal(cp, data) {
		t.Fatalf("checkpoint after release: %d bytes, %v", len(cp), err)
	}
	if _, es, err := ob.Next(10); err != nil || len(es) != 1 || string(es[0].Data) != "1" {
		t.Fatalf("entries after release: %v %v", es, err)
	}
}
