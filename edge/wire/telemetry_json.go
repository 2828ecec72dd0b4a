package wire

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// AppendJSON appends t's JSON to b: the bytes json.Marshal gives, written
// without reflection. A large store's minute is thousands of rollups, and
// encoding/json took a tenth of the edge agent's CPU time on them. What
// this does not lay out itself (signals, odd strings, non-finite numbers)
// it hands to encoding/json, so the result is the same in every case
// (TestTelemetryAppendJSON).
func (t *Telemetry) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"schema":`...)
	b = appendString(b, t.Schema)
	b = append(b, `,"site":`...)
	b = appendString(b, t.Site)
	if t.Gateway != "" {
		b = append(b, `,"gateway":`...)
		b = appendString(b, t.Gateway)
	}
	b = append(b, `,"batch":`...)
	b = appendString(b, t.Batch)
	if len(t.Rollups) > 0 {
		b = append(b, `,"rollups":[`...)
		var prev rollupText
		for i := range t.Rollups {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = t.Rollups[i].appendJSON(b, &prev); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if len(t.Signals) > 0 {
		s, err := json.Marshal(t.Signals)
		if err != nil {
			return b, err
		}
		b = append(b, `,"signals":`...)
		b = append(b, s...)
	}
	return append(b, '}'), nil
}

// rollupText remembers where the previous rollup's start was written: a
// batch's rollups nearly all share one period, whose time is then copied
// rather than formatted again.
type rollupText struct {
	start    time.Time
	from, to int // the start's text in b; to 0: none yet
}

// appendJSON appends r's JSON to b. A value equal to the one before it
// (a minute of one reading has min, mean, max and last alike, which is
// every rollup of a backlog caught up at one reading a minute) is copied
// from what was just written rather than formatted again.
func (r *Rollup) appendJSON(b []byte, prev *rollupText) ([]byte, error) {
	odd := r.Start.Year() < 0 || r.Start.Year() > 9999
	for _, f := range [...]float64{r.Period, r.Min, r.Mean, r.Max, r.Last} {
		odd = odd || math.IsNaN(f) || math.IsInf(f, 0)
	}
	if odd {
		// encoding/json's refusal (or its way with such a time).
		s, err := json.Marshal(r)
		return append(b, s...), err
	}
	b = append(b, `{"asset":`...)
	b = appendString(b, r.Asset)
	if r.Class != "" {
		b = append(b, `,"class":`...)
		b = appendString(b, r.Class)
	}
	b = append(b, `,"metric":`...)
	b = appendString(b, r.Metric)
	b = append(b, `,"start":"`...)
	if prev.to > 0 && r.Start.Equal(prev.start) && r.Start.Location() == prev.start.Location() {
		b = append(b, b[prev.from:prev.to]...)
	} else {
		from := len(b)
		b = r.Start.AppendFormat(b, time.RFC3339Nano)
		*prev = rollupText{start: r.Start, from: from, to: len(b)}
	}
	b = append(b, `","period_s":`...)
	b = appendFloat(b, r.Period)
	b = append(b, `,"min":`...)
	from := len(b)
	b = appendFloat(b, r.Min)
	to := len(b)
	for _, f := range [...]struct {
		key string
		v   float64
		was float64
	}{{`,"mean":`, r.Mean, r.Min}, {`,"max":`, r.Max, r.Mean}, {`,"last":`, r.Last, r.Max}} {
		b = append(b, f.key...)
		if f.v == f.was && math.Signbit(f.v) == math.Signbit(f.was) {
			n := len(b)
			b = append(b, b[from:to]...)
			from, to = n, len(b)
			continue
		}
		from = len(b)
		b = appendFloat(b, f.v)
		to = len(b)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(r.Count), 10)
	return append(b, '}'), nil
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s as encoding/json does: plain ASCII as it is,
// anything needing an escape through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
