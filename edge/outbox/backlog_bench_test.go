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
// 10, 1,000 and 4,320 (the cap: 72 h of one a minute) batches already
// queued, the queue's length held steady (one in, one out per op):
//
//   - commit: what the agent does per batch: Commit (the entry with an
//     input log record, fsynced) and ReleaseMapped;
//   - forward: what the forwarder does per batch: Next, publish (not
//     here), Remove.
//
// A flat cost per entry is the outbox's goal (issue 19): the agent must
// not pay more per reading while the forwarder is behind.
func BenchmarkBacklog(b *testing.B) {
	data := bytes.Repeat([]byte(`{"asset":"a0001","metric":"air_temp","min":3.1},`), 16<<10/48) // a 50-rollup batch, about 16 KB
	input := bytes.Repeat([]byte("r"), 8<<10)
	for _, queued := range []int{10, 1000, 4320} {
		for _, op := range []string{"commit", "forward"} {
			b.Run(fmt.Sprintf("queued=%d/%s", queued, op), func(b *testing.B) {
				o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				seq := 0
				next := func() Entry {
					seq++
					return Entry{Subject: "frostline.telemetry.s1", MsgID: fmt.Sprintf("s1-%d", seq), Data: data}
				}
				// queued-1 waiting: each op brings the queue to queued
				// (the cap's length without a trim) and takes it back.
				for n := 0; n < queued-1; {
					var batch []Entry
					for ; n < queued-1 && len(batch) < 100; n++ {
						batch = append(batch, next())
					}
					if err := o.Commit(Batch{Telemetry: batch}); err != nil {
						b.Fatal(err)
					}
				}
				cpu0 := cpuTime(b)
				for b.Loop() {
					if err := o.Commit(Batch{Telemetry: []Entry{next()}, Input: input}); err != nil {
						b.Fatal(err)
					}
					if op == "commit" {
						if err := o.ReleaseMapped(); err != nil {
							b.Fatal(err)
						}
					}
					_, es, err := o.Next(forwardBatch(op))
					if err != nil || len(es) == 0 {
						b.Fatalf("next: %d entries, %v", len(es), err)
					}
					if err := o.Remove(Telemetry, es[0].Seq); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
				if n := o.Len(Telemetry); n != queued-1 {
					b.Fatalf("queue holds %d, want %d", n, queued-1)
				}
			})
		}
	}
}

// forwardBatch is how many entries the benchmark's Next asks for: the
// forwarder's batch for "forward", one for "commit" (whose figure is then
// the agent's side plus the least a forwarder can cost).
func forwardBatch(op string) int {
	if op == "forward" {
		return 256
	}
	return 1
}

// cpuTime is the process's user plus system CPU time: the fsyncs make wall
// time mostly the disk's.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
