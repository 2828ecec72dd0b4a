package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/frostline/frostline/rules"
)

// Summary says what a replay did.
type Summary struct {
	Readings  uint64         // readings the engine evaluated
	Lines     int            // lines read, header included
	BadLines  int            // lines that could not be used
	FirstBad  []string       // the first few, with line numbers
	Events    map[string]int // events by type
	ByProblem map[string]int // incidents opened, by problem
	Stats     rules.Stats    // the engine's own counts
	Elapsed   time.Duration  //
	Open      int            // incidents still open at the end
}

// ReadingsPerSecond is the replay's throughput.
func (s *Summary) ReadingsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Readings) / s.Elapsed.Seconds()
}

// maxReported is how many bad lines a summary lists by number.
const maxReported = 10

// Run feeds every reading from r to eng and hands each incident event to
// emit. Bad lines and readings the engine refuses are counted and listed
// (the first few), never fatal; an error from emit or from the input
// itself stops the run. progress, when set, is called now and then with
// the lines read so far.
func Run(ctx context.Context, eng *rules.Engine, r *Reader, emit func(*rules.Event) error, progress func(lines int)) (Summary, error) {
	s := Summary{Events: map[string]int{}, ByProblem: map[string]int{}}
	start := time.Now()
	open := map[string]bool{}
	var rd rules.Reading
	var buf []rules.Event
	bad := func(line int, err error) {
		s.BadLines++
		if len(s.FirstBad) < maxReported {
			s.FirstBad = append(s.FirstBad, fmt.Sprintf("line %d: %v", line, err))
		}
	}
	for i := 0; ; i++ {
		if i&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return s, err
			}
			if progress != nil {
				progress(r.Line())
			}
		}
		if err := r.Next(&rd); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var le *LineError
			if errors.As(err, &le) {
				bad(le.Line, le.Err)
				continue
			}
			return s, err
		}
		var err error
		buf, err = eng.Observe(buf[:0], rd)
		if err != nil {
			bad(r.Line(), fmt.Errorf("%w (%s/%s %s)", err, rd.Site, rd.Asset, rd.Metric))
			continue
		}
		for j := range buf {
			ev := &buf[j]
			s.Events[string(ev.Event)]++
			switch ev.Event {
			case rules.Opened:
				s.ByProblem[ev.Problem]++
				open[ev.Incident] = true
			case rules.Cleared:
				delete(open, ev.Incident)
			}
			if err := emit(ev); err != nil {
				return s, err
			}
		}
	}
	if progress != nil {
		progress(r.Line())
	}
	s.Lines = r.Line()
	s.Stats = eng.Stats()
	s.Readings = s.Stats.Readings
	s.Open = len(open)
	s.Elapsed = time.Since(start)
	return s, nil
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "readings: %d evaluated, %d bad lines, %d late, %d reordered, %d glitches dropped, %d far-future dropped\n",
		s.Readings, s.BadLines, s.Stats.Late, s.Stats.Reordered, s.Stats.Glitches, s.Stats.Future)
	for _, b := range s.FirstBad {
		fmt.Fprintf(w, "  %s\n", b)
	}
	if s.BadLines > len(s.FirstBad) {
		fmt.Fprintf(w, "  ... and %d more\n", s.BadLines-len(s.FirstBad))
	}
	fmt.Fprintf(w, "incidents: %d opened, %d updated, %d cleared, %d still open\n",
		s.Events["opened"], s.Events["updated"], s.Events["cleared"], s.Open)
	for _, p := range slices.Sorted(maps.Keys(s.ByProblem)) {
		fmt.Fprintf(w, "  %-16s %d\n", p, s.ByProblem[p])
	}
	fmt.Fprintf(w, "took %s: %.0f readings/s\n", s.Elapsed.Round(time.Millisecond), s.ReadingsPerSecond())
}
