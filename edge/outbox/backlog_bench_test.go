package outbox

import (
	"bytes"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBacklog measures what one telemetry batch costs the outbox with
// 10, 1,000 and 4,320 (the cap: 72 h of one a minute) batches of 16 KB
// queued, the queue's length held steady:
//
//   - commit: the agent's side: Commit (the entry with an input log
//     record, fsynced), per entry;
//   - commit+release: the same and ReleaseMapped, which the agent calls
//     after a checkpoint and at most once a second after telemetry;
//   - forward: the forwarder's side: Next(16) (its batch) and Remove of
//     every entry it returned, per entry;
//   - forward-one: Next(256) for a single entry, as the forwarder did when
//     it stopped after each telemetry entry (issue 19's catch-up cost;
//     NextBytes now bounds what it copies).
//
// It reports the process's CPU time per entry (cpu-us/entry) for the timed
// part alone: wall time is mostly the fsyncs. The goal (issue 19) is a
// cost per entry flat in the queue's length.
func BenchmarkBacklog(b *testing.B) {
	data := bytes.Repeat([]byte(`{"asset":"a0001","metric":"air_temp","min":3.1},`), 16<<10/48) // a 50-rollup batch, about 16 KB
	input := bytes.Repeat([]byte("r"), 8<<10)
	for _, queued := range []int{10, 1000, 4320} {
		for _, op := range []string{"commit", "commit+release", "forward", "forward-one"} {
			b.Run(fmt.Sprintf("queued=%d/%s", queued, op), func(b *testing.B) {
				o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				seq := 0
				add := func(n int, in []byte) {
					var batch []Entry
					for range n {
						seq++
						batch = append(batch, Entry{Subject: "frostline.telemetry.s1", MsgID: fmt.Sprintf("s1-%d", seq), Data: data})
					}
					if err := o.Commit(Batch{Telemetry: batch, Input: in}); err != nil {
						b.Fatal(err)
					}
				}
				next := func(max int) []Entry {
					_, es, err := o.Next(max)
					if err != nil || len(es) == 0 {
						b.Fatalf("next: %d entries, %v", len(es), err)
					}
					return es
				}
				remove := func(es []Entry) {
					seqs := make([]uint64, len(es))
					for i := range es {
						seqs[i] = es[i].Seq
					}
					if err := o.Remove(Telemetry, seqs...); err != nil {
						b.Fatal(err)
					}
				}
				// queued-1 waiting: a commit brings the queue to queued
				// (the cap's length without a trim).
				for n := queued - 1; n > 0; n -= min(n, 100) {
					add(min(n, 100), nil)
				}
				var cpu time.Duration
				entries := 0
				for b.Loop() {
					t0 := cpuTime(b)
					switch op {
					case "commit", "commit+release":
						add(1, input)
						if op == "commit+release" {
							if err := o.ReleaseMapped(); err != nil {
								b.Fatal(err)
							}
						}
						cpu += cpuTime(b) - t0
						entries++
						remove(next(1))
					case "forward":
						add(1, input)
						t0 = cpuTime(b)
						es := next(16)
						remove(es)
						cpu += cpuTime(b) - t0
						entries += len(es)
						add(len(es)-1, nil)
					case "forward-one":
						add(1, input)
						t0 = cpuTime(b)
						remove(next(256)[:1])
						cpu += cpuTime(b) - t0
						entries++
					}
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(entries), "cpu-us/entry")
				b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
				if n := o.Len(Telemetry); n != queued-1 && !(op == "forward" && n == 0) {
					b.Fatalf("queue holds %d, want %d", n, queued-1)
				}
			})
		}
	}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
