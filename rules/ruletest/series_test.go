package ruletest_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/ruletest"
)

// M is a missing step in a want list.
var M = math.NaN()

func TestParseSeries(t *testing.T) {
	air, mode, door := rules.LookupMetric("air_temp"), rules.LookupMetric("mode"), rules.LookupMetric("door_open")
	tests := []struct {
		metric rules.MetricID
		in     string
		want   []float64
	}{
		{air, "3", []float64{3}},
		{air, "3 3.5 -2", []float64{3, 3.5, -2}},
		{air, "-2+4x3", []float64{-2, 2, 6, 10}},
		{air, "1-2x4", []float64{1, -1, -3, -5, -7}},
		{air, "1x4", []float64{1, 1, 1, 1, 1}},
		{air, "3x0", []float64{3}},
		{air, "1e1+1e-1x2", []float64{10, 10.1, 10.2}},
		{air, "-1e-1-1e+0x1", []float64{-0.1, -1.1}},
		{air, "1 _x3 2", []float64{1, M, M, M, 2}},
		{air, "_ 1 _", []float64{M, 1, M}},
		{air, "  1,2\n3\t", []float64{1, 2, 3}},
		{air, "(1 2)*2 3", []float64{1, 2, 1, 2, 3}},
		{air, "((0x1 1)*2 _)*2", []float64{0, 0, 1, 0, 0, 1, M, 0, 0, 1, 0, 0, 1, M}},
		{air, "(5)*3(6)*1", []float64{5, 5, 5, 6}},
		{mode, "cool coolx2 off 2", []float64{1, 1, 1, 1, 0, 2}},
		{door, "open closed on off 1 0 openx1", []float64{1, 0, 1, 0, 1, 0, 1, 1}},
	}
	for _, tt := range tests {
		got, err := ruletest.ParseSeries(tt.metric, tt.in)
		if err != nil {
			t.Errorf("ParseSeries(%s, %q): %v", tt.metric, tt.in, err)
			continue
		}
		if !equal(got, tt.want) {
			t.Errorf("ParseSeries(%s, %q) = %v, want %v", tt.metric, tt.in, got, tt.want)
		}
	}
}

func TestParseSeriesErrors(t *testing.T) {
	air, mode := rules.LookupMetric("air_temp"), rules.LookupMetric("mode")
	tests := []struct {
		metric rules.MetricID
		in     string
		offset int    // where the error points
		msg    string // a part of the message
	}{
		{air, "", 0, "no values"},
		{air, "   ", 0, "no values"},
		{air, "1 cool", 2, "not a number"},
		{mode, "cool warm", 5, "not a number or a mode word"},
		{air, "1 NaN", 2, "not a number"},
		{air, "Inf", 0, "not a number"},
		{air, "1e999", 0, "not a number"},
		{air, "0x10", 0, ""}, // not hex: 0 repeated; see TestParseSeries
		{air, "3+x4", 0, "not a number"},
		{air, "3+1x", 0, "not a number"},
		{air, "_x0", 0, "no steps"},
		{air, "1 (2 3", 2, "without a closing )"},
		{air, "1 2)", 3, "unmatched )"},
		{air, "(1)x3", 0, "(...)*N"},
		{air, "(1)*0", 0, "(...)*N"},
		{air, "(1)", 0, "(...)*N"},
		{air, "1x500000", 0, "more than"},
		{air, "(1x999)*501", 0, "more than"},
		{air, "1e308+1e308x10", 0, "out of range"},
	}
	for _, tt := range tests {
		got, err := ruletest.ParseSeries(tt.metric, tt.in)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("ParseSeries(%q): %v", tt.in, err)
			}
			continue
		}
		var se *ruletest.SeriesError
		if !errors.As(err, &se) {
			t.Errorf("ParseSeries(%q) = %v, %v; want a SeriesError", tt.in, got, err)
			continue
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ParseSeries(%q): error %q at %d, want %q at %d", tt.in, se.Msg, se.Offset, tt.msg, tt.offset)
		}
	}
}

// FuzzParseSeries: any string either expands to at most MaxSamples finite
// or missing values, or is refused with an offset inside the string.
func FuzzParseSeries(f *testing.F) {
	for _, s := range []string{"3x60 3+0.1x120 15x60", "_x4 1", "(0x9 1x4)*3", "cool heatx2", "1e-3-2x3", "((1)*2)*2", "(", ")", "0x10"} {
		f.Add(s)
	}
	air, mode := rules.LookupMetric("air_temp"), rules.LookupMetric("mode")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []rules.MetricID{air, mode} {
			vs, err := ruletest.ParseSeries(m, s)
			if err != nil {
				var se *ruletest.SeriesError
				if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
					t.Fatalf("ParseSeries(%q): %v, want a SeriesError inside the string", s, err)
				}
				continue
			}
			if len(vs) == 0 || len(vs) > ruletest.MaxSamples {
				t.Fatalf("ParseSeries(%q): %d values", s, len(vs))
			}
			for _, v := range vs {
				if math.IsInf(v, 0) || (math.IsNaN(v) && !strings.Contains(s, "_")) {
					t.Fatalf("ParseSeries(%q): value %v", s, v)
				}
			}
		}
	})
}

func equal(got, want []float64) bool {
	return slices.EqualFunc(got, want, func(g, w float64) bool {
		if math.IsNaN(w) {
			return ruletest.IsMissing(g)
		}
		return g == w
	})
}
