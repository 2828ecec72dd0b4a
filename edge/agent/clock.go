package agent

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// steadyClock is the gateway's wall clock as the agent uses it: for the
// time of readings that carry none, for the rule engine's clock ticks and
// for closing telemetry windows. It follows the wall clock but never steps.
//
// NTP correcting a gateway clock that drifted by hours steps the wall
// clock, and a stepped clock breaks event time: stepped back, every
// reading stamped by the gateway is older than what the engine has seen
// and is refused as late, while the ticks run on and call every sensor
// silent; stepped forward, the engine sees hours without a reading from the
// whole store. A step is seen by comparing how far the wall clock moved
// with how far the monotonic clock did between two reads, and is slewed
// instead of taken: the clock runs at half speed until the wall clock
// catches up (a step back), or at double speed until it has caught up with
// the wall clock (a step forward). Stamps stay in order, so nothing is late,
// no telemetry point lands on an older one's time, and open episodes keep
// their start (and so their incident ids); rule durations measured on
// gateway-stamped readings run at the slew rate meanwhile. A step larger
// than maxSlew (a clock reset to its epoch, set right) is taken at once:
// slewing it would take days. The processor checkpoints the clock's state
// (State) and a restart resumes it (Resume), so a restart mid-slew slews on.
type steadyClock struct {
	wall func() time.Time     // the wall clock (time.Now)
	mono func() time.Duration // a monotonic clock: time elapsed since some start
	log  *slog.Logger
	step prometheus.Counter // frostline_edge_clock_steps_total

	// mu guards the clock's state: the processor, the decoder (MQTT's
	// goroutine) and the heartbeat read it.
	mu       sync.Mutex
	started  bool
	last     time.Time     // what the clock said last
	lastWall time.Time     // the wall clock then
	lastMono time.Duration // the monotonic clock then
	// behind is wall minus now, when positive, as of the last read; read
	// per message by the processor without the lock.
	behind atomic.Int64
}

// maxSlew is the largest step the clock slews rather than takes.
const maxSlew = 24 * time.Hour

// stepThreshold is how far the wall clock may move apart from the
// monotonic clock between two reads before it counts as stepped. NTP slews
// offsets below 128 ms by itself; reads are at least every rules.tick.
const stepThreshold = time.Second

func newSteadyClock(wall func() time.Time, mono func() time.Duration, log *slog.Logger, reg prometheus.Registerer) *steadyClock {
	c := &steadyClock{wall: wall, mono: mono, log: log,
		step: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_edge_clock_steps_total",
			Help: "Steps of the gateway's wall clock (NTP setting it by more than 1 s), slewed by the agent rather than taken."})}
	if reg != nil {
		reg.MustRegister(c.step)
	}
	return c
}

// systemClock is the steady clock over the system's wall and monotonic
// clocks.
func systemClock(log *slog.Logger, reg prometheus.Registerer) *steadyClock {
	start := time.Now()
	return newSteadyClock(func() time.Time { return time.Now().Round(0) }, func() time.Duration { return time.Since(start) }, log, reg)
}

// Now returns the steady time.
func (c *steadyClock) Now() time.Time {
	wall, mono := c.wall(), c.mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started, c.last, c.lastWall, c.lastMono = true, wall, wall, mono
		return wall
	}
	elapsed := mono - c.lastMono
	if moved := wall.Sub(c.lastWall) - elapsed; moved > stepThreshold || moved < -stepThreshold {
		c.step.Inc()
		how := "slewing it"
		if moved > maxSlew || moved < -maxSlew {
			how = "taking it at once (too large to slew)"
		}
		c.log.Warn("gateway wall clock stepped; "+how, "component", "clock", "step", moved.Round(time.Millisecond),
			"wall_clock", wall, "agent_clock", c.last.Add(elapsed))
	}
	now := c.last.Add(elapsed)
	switch off := now.Sub(wall); {
	case off > maxSlew || off < -maxSlew:
		now = wall
	case off > 0: // ahead of the wall clock: run at half speed
		now = c.last.Add(max(elapsed/2, elapsed-off))
	case off < 0: // behind: run at double speed
		now = c.last.Add(min(2*elapsed, elapsed-off))
	}
	c.last, c.lastWall, c.lastMono = now, wall, mono
	c.behind.Store(int64(max(0, wall.Sub(now))))
	return now
}

// State returns what the clock said last and the wall clock then, for
// the checkpoint: a restart continues from them (Resume). Zero times
// before the first read.
func (c *steadyClock) State() (at, wall time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.lastWall
}

// Resume continues from a state a previous run of the agent checkpointed
// (State): a restart while the clock slews after a step keeps the offset
// from the wall clock it had, and goes on slewing, rather than take the
// step at once (the restart would then do what the slewing avoids:
// gateway-stamped readings late after a step back, the whole store silent
// for hours after a step forward). The time between is taken to be what
// the wall clock says passed; a wall clock behind the state's (stepped
// back since) leaves the clock where it was, to slew from there. An offset
// beyond maxSlew is not kept.
func (c *steadyClock) Resume(at, wall time.Time) {
	if at.IsZero() || wall.IsZero() {
		return
	}
	nowWall, mono := c.wall(), c.mono()
	now := at.Add(max(0, nowWall.Sub(wall)))
	off := now.Sub(nowWall)
	if off > maxSlew || off < -maxSlew {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started, c.last, c.lastWall, c.lastMono = true, now, nowWall, mono
	c.behind.Store(int64(max(0, -off)))
	if off > stepThreshold || off < -stepThreshold {
		c.log.Warn("gateway wall clock still being slewed from before the restart", "component", "clock",
			"offset", off.Round(time.Millisecond), "wall_clock", nowWall, "agent_clock", now)
	}
}

// Behind is how far the clock is behind the wall clock while it slews
// forward after a step, else 0: a device's own timestamp may be ahead of
// the gateway's clock by that much more than ingest.max_future_skew.
func (c *steadyClock) Behind() time.Duration {
	return time.Duration(c.behind.Load())
}
