package ingest

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/frostline/frostline/rules"
)

// The fast path decodes the JSON payloads sensors actually send — an
// object of "value", "ts", "unit" and "values" whose members are plain
// numbers, booleans and strings — without encoding/json, which cost more
// than the rule engine per message (a map and its raw values allocated,
// reflection). It declines (ok false) anything else: escapes, nesting,
// unknown or repeated keys, a value the slow path would refuse. Decode
// then takes the encoding/json path, which stays the reference for every
// payload; FuzzDecodeFast checks that the two agree wherever the fast path
// answers.

// maxFastValues is the most members of "values" the fast path takes.
const maxFastValues = 16

// scanner reads JSON tokens from a payload.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c (after white space) if it is next.
func (s *scanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes, control or non-ASCII bytes and
// returns its contents.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// scalar reads a number, true, false or a plain string and returns its
// raw text (a string with its quotes).
func (s *scanner) scalar() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) {
		return nil, false
	}
	start := s.i
	switch c := s.b[s.i]; {
	case c == '"':
		if _, ok := s.str(); !ok {
			return nil, false
		}
	case c == 't' || c == 'f':
		for s.i < len(s.b) && s.b[s.i] >= 'a' && s.b[s.i] <= 'z' {
			s.i++
		}
		if w := string(s.b[start:s.i]); w != "true" && w != "false" {
			return nil, false
		}
	default:
		if !s.number() {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	first := s.i
	if n := digits(); n == 0 || (n > 1 && s.b[first] == '0') {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// view is b as a string without a copy. Only for calls that do not keep
// it past the payload's life (parsers whose errors are discarded).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// decodeFast decodes a JSON object payload, or declines. Site, asset and
// metric come from the topic; metric is "" for a per-asset payload.
func (d *Decoder) decodeFast(dst []rules.Reading, site, asset, metric string, data []byte) ([]rules.Reading, bool) {
	s := scanner{b: data}
	if !s.byte('{') || s.byte('}') {
		return dst, false
	}
	var value, ts, unit []byte
	var hasValue, hasTS, hasUnit, hasValues bool
	var names [maxFastValues][]byte
	var raws [maxFastValues][]byte
	n := 0
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return dst, false
		}
		switch string(key) {
		case "value":
			if hasValue {
				return dst, false
			}
			value, ok = s.scalar()
			hasValue = true
		case "ts":
			if hasTS {
				return dst, false
			}
			ts, ok = s.scalar()
			hasTS = true
		case "unit":
			if hasUnit {
				return dst, false
			}
			unit, ok = s.str()
			hasUnit = true
		case "values":
			if hasValues || !s.byte('{') || s.byte('}') {
				return dst, false
			}
			hasValues = true
			for {
				if n == maxFastValues {
					return dst, false
				}
				if names[n], ok = s.str(); !ok || !s.byte(':') {
					return dst, false
				}
				if raws[n], ok = s.scalar(); !ok {
					return dst, false
				}
				n++
				if s.byte(',') {
					continue
				}
				if s.byte('}') {
					break
				}
				return dst, false
			}
		default:
			return dst, false
		}
		if !ok {
			return dst, false
		}
		if s.byte(',') {
			continue
		}
		if s.byte('}') {
			break
		}
		return dst, false
	}
	if s.space(); s.i != len(s.b) {
		return dst, false
	}
	var at time.Time
	if hasTS {
		var ok bool
		if at, ok = fastTimestamp(ts); !ok {
			return dst, false
		}
	} else {
		at = d.now()
	}
	fahrenheit, err := isFahrenheit(view(unit))
	if err != nil {
		return dst, false
	}
	one := func(dst []rules.Reading, name string, raw []byte) ([]rules.Reading, bool) {
		id := rules.LookupMetric(name)
		if id == rules.NoMetric {
			return dst, false
		}
		v, ok := fastValue(id, raw)
		if !ok {
			return dst, false
		}
		if fahrenheit && id.IsTemperature() {
			v = (v - 32) * 5 / 9
		}
		return append(dst, rules.Reading{Site: site, Asset: asset, Metric: id, At: at, Value: v}), true
	}
	if metric != "" {
		if !hasValue {
			return dst, false
		}
		return one(dst, metric, value)
	}
	if !hasValues {
		return dst, false
	}
	// In name order, as the slow path gives them (insertion sort: a
	// handful of names).
	for i := 1; i < n; i++ {
		for j := i; j > 0 && string(names[j]) < string(names[j-1]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
			raws[j], raws[j-1] = raws[j-1], raws[j]
		}
	}
	start := len(dst)
	for i := range n {
		if i > 0 && string(names[i]) == string(names[i-1]) {
			return dst[:start], false // a repeated name: the last wins there
		}
		var ok bool
		if dst, ok = one(dst, view(names[i]), raws[i]); !ok {
			return dst[:start], false
		}
	}
	return dst, true
}

// fastValue reads a scalar as parseValue does, declining what parseValue
// would refuse.
func fastValue(id rules.MetricID, raw []byte) (float64, bool) {
	switch s := view(raw); {
	case s == "true":
		return 1, true
	case s == "false":
		return 0, true
	case s[0] == '"':
		s = strings.TrimSpace(s[1 : len(s)-1])
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v, !math.IsNaN(v) && !math.IsInf(v, 0)
		}
		return rules.WordValue(id, strings.ToLower(s))
	default:
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
}

// fastTimestamp reads ts as Decoder.timestamp does: epoch milliseconds (or
// seconds, below 1e11) as a whole number, or an RFC 3339 string.
func fastTimestamp(raw []byte) (time.Time, bool) {
	if raw[0] == '"' {
		t, err := time.Parse(time.RFC3339Nano, view(raw[1:len(raw)-1]))
		return t, err == nil
	}
	if raw[0] == 't' || raw[0] == 'f' {
		return time.Time{}, false
	}
	n, err := strconv.ParseFloat(view(raw), 64)
	if err != nil || n < 0 || n > 1e15 || math.IsNaN(n) {
		return time.Time{}, false
	}
	if n < 1e11 {
		n *= 1000
	}
	return time.UnixMilli(int64(n)).UTC(), true
}
