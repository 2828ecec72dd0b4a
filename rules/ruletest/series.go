package ruletest

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/frostline/frostline/rules"
)

// MaxSamples bounds how many steps one series may expand to: a month of
// one-minute readings is 43,200, so this is room for any sensible test and
// a wall against "1x999999999" exhausting memory.
const MaxSamples = 500_000

// Missing is the value of a step with no sample (`_`).
var Missing = math.NaN()

// IsMissing reports whether a step of a series has no sample.
func IsMissing(v float64) bool { return math.IsNaN(v) }

// SeriesError is a problem in a series string, at a byte offset into it,
// so that the caller can point at the token in the file.
type SeriesError struct {
	Offset int
	Msg    string
}

func (e *SeriesError) Error() string { return e.Msg }

// ParseSeries expands promtool's compact notation into one value per step,
// Missing for `_`:
//
//	3 3.5 -2       plain numbers
//	3+0.1x4        3 3.1 3.2 3.3 3.4: a start, then N further steps of b
//	8-0.5x2        8 7.5 7
//	3x4            3 3 3 3 3: shorthand for 3+0x4
//	_  _x4         one missing step; four missing steps
//	cool  coolx4   a word the metric knows (rules.WordValue): 1 and 5 steps
//	(0x9 1x4)*3    a group, repeated 3 times: a cycle such as a compressor's
//
// As in promtool, `x` always means "repeat": a token with an x in it is
// read as a repetition, never as a hexadecimal number. Groups are
// Frostline's own: equipment cycles, and writing out a day of thermostat
// cycles by hand would bury the test. A group is repeated N times exactly
// (`*`, not `x`, so that it cannot be mistaken for promtool's N+1).
func ParseSeries(metric rules.MetricID, s string) ([]float64, error) {
	p := seriesParser{metric: metric, s: s}
	out, err := p.seq(0)
	if err != nil {
		return nil, err
	}
	if p.off < len(s) {
		return nil, &SeriesError{Offset: p.off, Msg: "unmatched )"}
	}
	if len(out) == 0 {
		return nil, &SeriesError{Msg: "no values"}
	}
	return out, nil
}

type seriesParser struct {
	metric rules.MetricID
	s      string
	off    int
}

// seq reads tokens and groups up to the end of the string or a ")".
func (p *seriesParser) seq(depth int) ([]float64, error) {
	var out []float64
	for {
		for p.off < len(p.s) && isSpace(p.s[p.off]) {
			p.off++
		}
		if p.off == len(p.s) || p.s[p.off] == ')' {
			return out, nil
		}
		start := p.off
		if p.s[p.off] == '(' {
			if depth >= 8 {
				return nil, &SeriesError{Offset: start, Msg: "groups nested too deep"}
			}
			p.off++
			inner, err := p.seq(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.off == len(p.s) {
				return nil, &SeriesError{Offset: start, Msg: "( without a closing )"}
			}
			p.off++ // the ')'
			end := p.off
			for end < len(p.s) && !isSpace(p.s[end]) && p.s[end] != '(' && p.s[end] != ')' {
				end++
			}
			times, err := strconv.Atoi(strings.TrimPrefix(p.s[p.off:end], "*"))
			if !strings.HasPrefix(p.s[p.off:end], "*") || err != nil || times < 1 {
				return nil, &SeriesError{Offset: start, Msg: fmt.Sprintf("%q: want a group repeated N times, (...)*N", p.s[start:end])}
			}
			p.off = end
			if len(inner) > 0 && times > (MaxSamples-len(out))/len(inner) {
				return nil, &SeriesError{Offset: start, Msg: fmt.Sprintf("more than %d steps in one series", MaxSamples)}
			}
			for range times {
				out = append(out, inner...)
			}
			continue
		}
		end := p.off
		for end < len(p.s) && !isSpace(p.s[end]) && p.s[end] != '(' && p.s[end] != ')' {
			end++
		}
		p.off = end
		var err error
		if out, err = expand(out, p.metric, p.s[start:end]); err != nil {
			return nil, &SeriesError{Offset: start, Msg: fmt.Sprintf("%q: %v", p.s[start:end], err)}
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' }

// expand appends the steps one token stands for.
func expand(out []float64, metric rules.MetricID, tok string) ([]float64, error) {
	head, n, repeat := splitRepeat(tok)
	if head == "_" {
		if !repeat {
			n = 1 // `_` is one step; `_xN` is N steps, as in promtool
		}
		if n == 0 {
			return nil, fmt.Errorf("_x0 is no steps at all")
		}
		return appendN(out, Missing, 0, n)
	}
	count := n + 1 // `axN` and `a+bxN`: the start, then N more
	if !repeat {
		count = 1
	}
	if v, err := value(metric, head); err == nil {
		return appendN(out, v, 0, count)
	} else if !repeat {
		return nil, err
	}
	a, b, ok := splitStep(head)
	if !ok {
		_, err := value(metric, head)
		return nil, err
	}
	va, err := number(a)
	if err != nil {
		return nil, err
	}
	vb, err := number(b)
	if err != nil {
		return nil, err
	}
	if last := va + vb*float64(n); math.IsInf(last, 0) || math.IsNaN(last) {
		return nil, fmt.Errorf("the series runs out of range")
	}
	return appendN(out, va, vb, count)
}

// splitRepeat splits "HEADxN" at its last x. repeat is false when there is
// no x followed by a whole number.
func splitRepeat(tok string) (head string, n int, repeat bool) {
	i := strings.LastIndexByte(tok, 'x')
	if i <= 0 {
		return tok, 0, false
	}
	n, err := strconv.Atoi(tok[i+1:])
	if err != nil || n < 0 || tok[i+1] == '+' || tok[i+1] == '-' {
		return tok, 0, false
	}
	return tok[:i], n, true
}

// splitStep splits "a+b" or "a-b" at the operator: not a leading sign and
// not the sign of an exponent (1e-3).
func splitStep(s string) (a, b string, ok bool) {
	for i := 1; i < len(s); i++ {
		if (s[i] == '+' || s[i] == '-') && s[i-1] != 'e' && s[i-1] != 'E' {
			if s[i] == '-' {
				return s[:i], s[i:], true // keep the minus on b
			}
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func appendN(out []float64, start, step float64, n int) ([]float64, error) {
	if n > MaxSamples-len(out) {
		return nil, fmt.Errorf("more than %d steps in one series", MaxSamples)
	}
	out = append(out, make([]float64, n)...)
	for i := range n {
		out[len(out)-n+i] = start + step*float64(i)
	}
	return out, nil
}

// value reads one step's value: a number, or a word of the metric.
func value(metric rules.MetricID, s string) (float64, error) {
	if v, err := number(s); err == nil {
		return v, nil
	}
	if v, ok := rules.WordValue(metric, s); ok {
		return v, nil
	}
	if metric < rules.MetricID(len(rules.Metrics)) {
		m := rules.Metrics[metric]
		switch m.Kind {
		case rules.Enum:
			return 0, fmt.Errorf("not a number or a %s word (%s)", m.Name, strings.Join(m.Words, ", "))
		case rules.Binary:
			return 0, fmt.Errorf("not 0/1 or a %s word (on, off, open, closed, true, false)", m.Name)
		}
	}
	return 0, fmt.Errorf("not a number")
}

// number parses a finite decimal number. ParseFloat's extras (hex floats,
// underscores, Inf, NaN) are refused: the engine would refuse them too, and
// a test should not depend on them.
func number(s string) (float64, error) {
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, fmt.Errorf("not a number")
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number")
	}
	return v, nil
}
