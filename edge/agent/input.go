package agent

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/frostline/frostline/rules"
)

// The input log records what the engine evaluated between checkpoints, so
// that a restart replays it onto the last checkpoint. A batch's input is a
// sequence of records: a reading (site, asset, metric, time, value), an
// advance of the wall clock, or devices marked offline by a last will or
// a Sparkplug death (site, assets, time), or the wall clock closing a
// quiet site's telemetry periods (site, time to close up to), or the
// steady clock's state at the batch's commit (its time, the wall clock's).
const (
	recReading        byte = 1
	recAdvance        byte = 2
	recOffline        byte = 3
	recTelemetryClose byte = 4
	recClock          byte = 5
)

// replaySink takes the records of an input log.
type replaySink interface {
	reading(rules.Reading)
	advance(time.Time)
	offline(site string, assets []string, at time.Time)
	closeTelemetry(site string, upTo time.Time)
	clock(at, wall time.Time)
}

func appendReading(b []byte, r *rules.Reading) []byte {
	b = append(b, recReading)
	b = binary.AppendUvarint(b, uint64(len(r.Site)))
	b = append(b, r.Site...)
	b = binary.AppendUvarint(b, uint64(len(r.Asset)))
	b = append(b, r.Asset...)
	b = append(b, byte(r.Metric))
	b = binary.AppendVarint(b, r.At.UnixNano())
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Value))
}

func appendAdvance(b []byte, t time.Time) []byte {
	b = append(b, recAdvance)
	return binary.AppendVarint(b, t.UnixNano())
}

func appendOffline(b []byte, site string, assets []string, at time.Time) []byte {
	b = append(b, recOffline)
	b = binary.AppendUvarint(b, uint64(len(site)))
	b = append(b, site...)
	b = binary.AppendUvarint(b, uint64(len(assets)))
	for _, a := range assets {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	return binary.AppendVarint(b, at.UnixNano())
}

func appendTelemetryClose(b []byte, site string, upTo time.Time) []byte {
	b = append(b, recTelemetryClose)
	b = binary.AppendUvarint(b, uint64(len(site)))
	b = append(b, site...)
	return binary.AppendVarint(b, upTo.UnixNano())
}

func appendClock(b []byte, at, wall time.Time) []byte {
	b = append(b, recClock)
	b = binary.AppendVarint(b, at.UnixNano())
	return binary.AppendVarint(b, wall.UnixNano())
}

var errInput = errors.New("agent: corrupt input log")

// replayInput hands each record of data to sink, in order.
func replayInput(data []byte, sink replaySink) error {
	str := func() (string, bool) {
		n, w := binary.Uvarint(data)
		if w <= 0 || uint64(len(data)-w) < n {
			return "", false
		}
		s := string(data[w : w+int(n)])
		data = data[w+int(n):]
		return s, true
	}
	varint := func() (int64, bool) {
		v, w := binary.Varint(data)
		if w <= 0 {
			return 0, false
		}
		data = data[w:]
		return v, true
	}
	for len(data) > 0 {
		kind := data[0]
		data = data[1:]
		switch kind {
		case recReading:
			var r rules.Reading
			var ok bool
			if r.Site, ok = str(); !ok {
				return errInput
			}
			if r.Asset, ok = str(); !ok || len(data) < 1 {
				return errInput
			}
			r.Metric = rules.MetricID(data[0])
			data = data[1:]
			at, ok := varint()
			if !ok || len(data) < 8 {
				return errInput
			}
			r.At = time.Unix(0, at).UTC()
			r.Value = math.Float64frombits(binary.LittleEndian.Uint64(data))
			data = data[8:]
			sink.reading(r)
		case recAdvance:
			at, ok := varint()
			if !ok {
				return errInput
			}
			sink.advance(time.Unix(0, at).UTC())
		case recOffline:
			site, ok := str()
			if !ok {
				return errInput
			}
			n, w := binary.Uvarint(data)
			if w <= 0 || n > uint64(len(data)) {
				return errInput
			}
			data = data[w:]
			var assets []string
			for range n {
				a, ok := str()
				if !ok {
					return errInput
				}
				assets = append(assets, a)
			}
			at, ok := varint()
			if !ok {
				return errInput
			}
			sink.offline(site, assets, time.Unix(0, at).UTC())
		case recTelemetryClose:
			site, ok := str()
			if !ok {
				return errInput
			}
			at, ok := varint()
			if !ok {
				return errInput
			}
			sink.closeTelemetry(site, time.Unix(0, at).UTC())
		case recClock:
			at, ok := varint()
			if !ok {
				return errInput
			}
			wall, ok := varint()
			if !ok {
				return errInput
			}
			sink.clock(time.Unix(0, at).UTC(), time.Unix(0, wall).UTC())
		default:
			return errInput
		}
	}
	return nil
}
