package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/frostline/frostline/rules"
)

// Checkpointing. The agent stores the aggregator's open periods with each
// checkpoint of its rule engine and replays the readings logged since into
// both, so that a restart, even after a SIGKILL, emits every period once
// and whole. The state is written in a compact binary form: a checkpoint
// is taken every few seconds, and a large store has thousands of series.

// snapshotVersion is the first byte of a snapshot; Restore refuses others.
const snapshotVersion = 1

// ErrSnapshot is returned by Restore for data it cannot read.
var ErrSnapshot = errors.New("telemetry: unreadable snapshot")

// AppendSnapshot appends the aggregator's state to b: per site its clocks,
// its series, the values binary signals hold, the open periods and the
// trend fits not yet sent. Closed periods are not in it: the caller takes
// the snapshot after Flush, and they went out with that batch.
func (a *Aggregator) AppendSnapshot(b []byte) []byte {
	b = append(b, snapshotVersion)
	b = binary.AppendVarint(b, int64(a.period))
	ids := sortedKeys(a.sites)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		s := a.sites[id]
		b = appendString(b, id)
		b = appendTime(b, s.watermark)
		b = appendTime(b, s.closed)
		b = appendTime(b, s.arrived)
		b = binary.AppendUvarint(b, uint64(len(s.keys)))
		for n, k := range s.keys {
			b = appendString(b, k.asset)
			b = append(b, byte(k.metric))
			h := &s.holds[n]
			if !h.has {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			b = appendFloat(b, h.v)
			b = appendTime(b, h.at)
		}
		starts := make([]time.Time, 0, len(s.periods))
		for st := range s.periods {
			starts = append(starts, st)
		}
		slices.SortFunc(starts, time.Time.Compare)
		b = binary.AppendUvarint(b, uint64(len(starts)))
		for _, st := range starts {
			p := s.periods[st]
			b = appendTime(b, st)
			used := 0
			for n := range p.series {
				if p.series[n].count > 0 {
					used++
				}
			}
			b = binary.AppendUvarint(b, uint64(used))
			for n := range p.series {
				c := &p.series[n]
				if c.count == 0 {
					continue
				}
				b = binary.AppendUvarint(b, uint64(n))
				b = appendFloat(b, c.min)
				b = appendFloat(b, c.max)
				b = appendFloat(b, c.sum)
				b = appendFloat(b, c.last)
				b = binary.AppendUvarint(b, uint64(c.count))
			}
			used = 0
			for an := range p.assets {
				if p.assets[an].used {
					used++
				}
			}
			b = binary.AppendUvarint(b, uint64(used))
			for an := range p.assets {
				d := &p.assets[an]
				if !d.used {
					continue
				}
				b = binary.AppendUvarint(b, uint64(an))
				for i := range 3 {
					b = appendFloat(b, d.onSecs[i])
					b = appendFloat(b, d.seenSecs[i])
				}
				b = binary.AppendUvarint(b, uint64(d.starts))
				b = binary.AppendUvarint(b, uint64(d.defrosts))
			}
		}
		assets := sortedKeys(s.predictions)
		b = binary.AppendUvarint(b, uint64(len(assets)))
		for _, asset := range assets {
			pr := s.predictions[asset]
			b = appendString(b, asset)
			b = appendFloat(b, pr.SlopePerHour)
			b = appendFloat(b, pr.HoursToLimit)
		}
	}
	return b
}

// Restore replaces the aggregator's state with a snapshot's. Every site's
// newest reading is taken to have arrived no earlier than arrived (the
// agent gives its restart's time): the readings queued for a site while
// the agent was down get their grace before the wall clock closes its
// periods. On error the aggregator is left empty.
func (a *Aggregator) Restore(data []byte, arrived time.Time) error {
	a.sites, a.last = map[string]*siteState{}, nil
	if err := a.restore(&reader{b: data}, arrived); err != nil {
		a.sites, a.last = map[string]*siteState{}, nil
		return err
	}
	return nil
}

func (a *Aggregator) restore(r *reader, arrived time.Time) error {
	if v := r.byte(); v != snapshotVersion {
		return fmt.Errorf("%w: version %d", ErrSnapshot, v)
	}
	if p := time.Duration(r.varint()); r.err == nil && p != a.period {
		return fmt.Errorf("%w: periods of %v, not %v", ErrSnapshot, p, a.period)
	}
	nsites := r.count()
	for range nsites {
		s := a.site(r.string())
		s.watermark, s.closed, s.arrived = r.time(), r.time(), r.time()
		if s.arrived.Before(arrived) {
			s.arrived = arrived
		}
		nkeys := r.count()
		for range nkeys {
			asset, m := r.string(), rules.MetricID(r.byte())
			if r.err != nil {
				return r.err
			}
			_, n := s.series(asset, m)
			if int(n) != len(s.keys)-1 {
				return fmt.Errorf("%w: series %s %v twice", ErrSnapshot, asset, m)
			}
			if r.byte() == 1 {
				s.holds[n] = hold{v: r.float(), at: r.time(), has: true}
			}
		}
		nperiods := r.count()
		for range nperiods {
			p := s.open(r.time())
			nseries := r.count()
			for range nseries {
				n := r.index(len(s.keys))
				if int(n) >= len(p.series) {
					p.series = append(p.series, make([]acc, int(n)+1-len(p.series))...)
				}
				p.series[n] = acc{min: r.float(), max: r.float(), sum: r.float(), last: r.float(), count: int(r.uvarint())}
			}
			nassets := r.count()
			for range nassets {
				d := p.asset(r.index(len(s.assets)))
				for i := range 3 {
					d.onSecs[i], d.seenSecs[i] = r.float(), r.float()
				}
				d.starts, d.defrosts = int(r.uvarint()), int(r.uvarint())
			}
		}
		npred := r.count()
		for range npred {
			asset := r.string()
			s.predictions[asset] = rules.Prediction{Site: s.id, Asset: asset, SlopePerHour: r.float(), HoursToLimit: r.float()}
		}
		s.cur = nil
		if r.err != nil {
			return r.err
		}
	}
	if r.err == nil && len(r.b) > 0 {
		return fmt.Errorf("%w: %d bytes after the end", ErrSnapshot, len(r.b))
	}
	a.last = nil
	return r.err
}

// CloseSite closes a site's periods up to t, as the wall clock closed them
// in Flush (see CloseIdle): the agent logs each such closing with the
// readings and replays it after a restart.
func (a *Aggregator) CloseSite(site string, t time.Time) {
	a.closeUpTo(a.site(site), t)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// zeroTime stands for time.Time{}, whose UnixNano is out of range.
const zeroTime = math.MinInt64

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, zeroTime)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// reader decodes a snapshot; the first error sticks and makes every later
// read return zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = ErrSnapshot
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items, each at least a byte long: a count past
// what is left is corrupt (and would make a huge loop).
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

// index reads a number below n.
func (r *reader) index(n int) int32 {
	v := r.uvarint()
	if v >= uint64(n) {
		r.fail()
		return 0
	}
	return int32(v)
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) time() time.Time {
	v := r.varint()
	if v == zeroTime || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
