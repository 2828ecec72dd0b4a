package agent

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/edge/wire"
)

// TestProcessorTelemetrySurvivesCrash runs the replay through a processor
// that crashes again and again (its uncommitted work lost, a new one on
// the surviving outbox), with the wall clock now and then jumping while
// the store is quiet so that the clock, not a reading, closes a minute.
// The telemetry committed must be an uninterrupted run's, batch for batch
// and byte for byte: each minute once, none lost, none short of a reading.
func TestProcessorTelemetrySurvivesCrash(t *testing.T) {
	msgs := edgetest.Replay(240)
	// The wall clock: 2 s per message, and a quiet spell of two minutes
	// before every 173rd, committed on its own as a clock tick would.
	wallAt := func(i int) time.Time {
		return edgetest.Start.Add(time.Duration(i)*2*time.Second + time.Duration(i/173)*2*time.Minute)
	}
	run := func(ob *memOutbox, every time.Duration, crashes bool) int {
		var wall time.Time
		now := func() time.Time { return wall }
		wall = wallAt(0)
		p, _ := newClockedProcessor(t, ob, every, now, time.Now)
		acked, restarts := 0, 0
		for pos, i := 0, 0; acked < len(msgs); i++ {
			if pos > 0 && pos%173 == 0 {
				// The quiet spell: a commit with no reading, as a clock
				// tick makes (a restart right after repeats it).
				wall = wallAt(pos).Add(-time.Second)
				if err := p.commit(); err != nil {
					t.Fatal(err)
				}
			}
			wall = wallAt(pos)
			p.handle(ingest.NewMessage(msgs[pos].Readings, func() { acked++ }))
			pos++
			if pos%7 == 0 || pos == len(msgs) {
				if err := p.commit(); err != nil {
					t.Fatal(err)
				}
			}
			if crashes && i%(41+i%67) == 40 {
				// A SIGKILL: what was not committed is gone, the broker
				// redelivers what was not acknowledged.
				pos = acked
				wall = wallAt(pos)
				p, _ = newClockedProcessor(t, ob, every, now, time.Now)
				restarts++
			}
		}
		return restarts
	}
	for _, every := range []time.Duration{0, time.Hour} { // a checkpoint each commit; the input log only
		want, got := &memOutbox{}, &memOutbox{}
		run(want, every, false)
		restarts := run(got, every, true)
		if restarts < 10 || len(want.telemetry) < 200 {
			t.Fatalf("too little covered: %d restarts, %d batches", restarts, len(want.telemetry))
		}
		ids := func(es []outbox.Entry) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.MsgID)
			}
			return out
		}
		if g, w := ids(got.telemetry), ids(want.telemetry); !slices.Equal(g, w) {
			t.Errorf("checkpoint every %v, %d restarts: telemetry batches\ngot  %v\nwant %v", every, restarts, g, w)
			continue
		}
		closedByClock := 0
		for i := range want.telemetry {
			if !bytes.Equal(got.telemetry[i].Data, want.telemetry[i].Data) {
				t.Errorf("checkpoint every %v: batch %s differs after restarts\ngot  %s\nwant %s", every, want.telemetry[i].MsgID, got.telemetry[i].Data, want.telemetry[i].Data)
			}
			var tel wire.Telemetry
			if err := json.Unmarshal(want.telemetry[i].Data, &tel); err != nil {
				t.Fatal(err)
			}
			for _, r := range tel.Rollups {
				if r.Count < 2 {
					closedByClock++ // a minute the clock cut short: a reading after it was late
					break
				}
			}
		}
		if closedByClock == 0 {
			t.Errorf("no minute was closed by the wall clock: the test does not cover the logged closings")
		}
	}
}
