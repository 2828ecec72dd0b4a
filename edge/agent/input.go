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
// sequence of records: a reading (site, asset, metric, time, value) or an
// advance of the wall clock.
const (
	recReading byte = 1
	recAdvance byte = 2
)

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

var errInput = errors.New("agent: corrupt input log")

// replayInput calls reading or advance for each record of data, in order.
func replayInput(data []byte, reading func(rules.Reading), advance func(time.Time)) error {
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
			reading(r)
		case recAdvance:
			at, ok := varint()
			if !ok {
				return errInput
			}
			advance(time.Unix(0, at).UTC())
		default:
			return errInput
		}
	}
	return nil
}
