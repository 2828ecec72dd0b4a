package score

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Thresholds make a report a verdict. A nil field is not checked; the
// minimum precision and recall are checked always (0 when nil).
type Thresholds struct {
	MinPrecision *float64
	MinRecall    *float64
	// MinLead is the least median leak lead (minutes); MinLeakFloor the
	// least lead of every leak.
	MinLead      *float64
	MinLeakFloor *float64
	// MinSuddenLead is the least lead (minutes) of every compressor
	// failure and rack trip before its breach.
	MinSuddenLead *float64
	// MaxPerGroup is the most incidents per whole-site outage and per rack
	// trip.
	MaxPerGroup *int
	// MinAccepted is the least share of true positives whose problem code
	// is accepted; MaxFPPerAssetDay the most false positives per
	// asset-day.
	MinAccepted      *float64
	MaxFPPerAssetDay *float64
}

// Verdict checks the report against th. need says what was asked, as the
// summary line prints it.
func (r *Report) Verdict(th Thresholds) (ok bool, need string) {
	minP, minR := 0.0, 0.0
	needP, needR := "0", "0" // the Python scorer's defaults are the int 0
	if th.MinPrecision != nil {
		minP, needP = *th.MinPrecision, pyRepr(*th.MinPrecision)
	}
	if th.MinRecall != nil {
		minR, needR = *th.MinRecall, pyRepr(*th.MinRecall)
	}
	ok = r.Precision >= minP && r.Recall >= minR
	need = "need " + needP + " / " + needR
	if th.MinLead != nil {
		lead, _ := r.LeakLead()
		ok = ok && len(r.LeakLeads) > 0 && lead >= *th.MinLead
		need += " / lead >= " + pyFixed(*th.MinLead, 0) + " min"
	}
	if th.MinLeakFloor != nil {
		_, least := r.LeakLead()
		ok = ok && len(r.LeakLeads) > 0 && least >= *th.MinLeakFloor
		need += " / every leak >= " + pyFixed(*th.MinLeakFloor, 0) + " min"
	}
	if th.MinSuddenLead != nil {
		least, found := r.SuddenMin()
		ok = ok && found && least >= *th.MinSuddenLead
		need += " / every sudden failure >= " + pyFixed(*th.MinSuddenLead, 0) + " min before breach"
	}
	if th.MaxPerGroup != nil {
		for _, n := range r.Groups() {
			ok = ok && n <= *th.MaxPerGroup
		}
		need += fmt.Sprintf(" / <= %d per outage or rack trip", *th.MaxPerGroup)
	}
	if th.MinAccepted != nil {
		ok = ok && r.TruePositives > 0 && r.AcceptedFraction() >= *th.MinAccepted
		need += " / accepted >= " + pyRepr(*th.MinAccepted)
	}
	if th.MaxFPPerAssetDay != nil {
		ok = ok && r.FPPerAssetDay <= *th.MaxFPPerAssetDay
		need += " / fp per asset-day <= " + pyRepr(*th.MaxFPPerAssetDay)
	}
	return ok, need
}

// Summary is the report's last line: the figures a CI log shows.
func (r *Report) Summary(need string) string {
	lead, _ := r.LeakLead()
	var extra string
	if least, ok := r.SuddenMin(); ok {
		extra += " sudden-min " + pyFixed(least, 0) + " min"
	}
	if g := r.Groups(); len(g) > 0 {
		extra += fmt.Sprintf(" per-group-max %d", slices.Max(g))
	}
	return fmt.Sprintf("precision %s recall %s leak-lead %s min%s (%s)",
		pyFixed(r.Precision, 3), pyFixed(r.Recall, 3), pyFixed(lead, 0), extra, need)
}

// Print writes the report as the Python scorer prints it, the summary
// line last. Only a report with negatives has one line more.
func (r *Report) Print(w io.Writer, th Thresholds) (ok bool, err error) {
	var b strings.Builder
	fmt.Fprintf(&b, "incidents opened: %d (unreadable lines: %d); faults: %d\n", r.Opened, r.Unreadable, r.Faults)
	for _, k := range r.Kinds {
		fmt.Fprintf(&b, "  %-20s detected %d/%d  median delay %s min\n", k.Kind, k.Detected, k.Total, pyFixed(k.MedianDelay, 0))
	}
	if len(r.LeakLeads) > 0 {
		med, least := r.LeakLead()
		fmt.Fprintf(&b, "  %s lead time before food-safety breach: median %s min, min %s min\n", Leak, pyFixed(med, 0), pyFixed(least, 0))
	}
	if r.PerOutage != nil {
		fmt.Fprintf(&b, "  incidents per whole-store outage (1 is ideal): %s\n", pyInts(r.PerOutage))
	}
	if r.PerTrip != nil {
		fmt.Fprintf(&b, "  incidents per rack trip (1 is ideal): %s\n", pyInts(r.PerTrip))
	}
	for _, s := range r.Sudden {
		fmt.Fprintf(&b, "  %s first incident before breach: median %s min, min %s min, %d/%d before\n",
			s.Kind, pyFixed(s.Median, 0), pyFixed(s.Min, 0), s.Before, s.Flagged)
	}
	b.WriteString("  false positives by problem: {")
	for i, c := range r.FPByProblem {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", pyStr(c.Problem), c.N)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "  false positives per asset-day: %s\n", pyFixed(r.FPPerAssetDay, 3))
	if r.Negatives > 0 {
		fmt.Fprintf(&b, "  false positives on labelled negatives: %d (%d negatives)\n", r.FPOnNegatives, r.Negatives)
	}
	fmt.Fprintf(&b, "  problem code accepted for the fault: %d/%d\n", r.Accepted, r.TruePositives)
	ok, need := r.Verdict(th)
	b.WriteString(r.Summary(need) + "\n")
	_, err = io.WriteString(w, b.String())
	return ok, err
}

// JSON is the report as `frostline rules score --json` writes it. Figures
// that cannot be measured (no leak found) are null.
type JSON struct {
	Opened         int        `json:"incidents_opened"`
	Unreadable     int        `json:"unreadable_lines"`
	Faults         int        `json:"faults"`
	TruePositives  int        `json:"true_positives"`
	FalsePositives int        `json:"false_positives"`
	Precision      float64    `json:"precision"`
	Recall         float64    `json:"recall"`
	Kinds          []JSONKind `json:"kinds"`
	LeakLead       *JSONLead  `json:"leak_lead_min,omitempty"`
	// Incidents per whole-site outage and per rack trip: one is ideal.
	PerOutage     []int          `json:"incidents_per_outage"`
	PerTrip       []int          `json:"incidents_per_rack_trip"`
	Sudden        []JSONSudden   `json:"sudden_before_breach"`
	FPByProblem   map[string]int `json:"false_positives_by_problem"`
	FPPerAssetDay float64        `json:"false_positives_per_asset_day"`
	Negatives     int            `json:"negatives"`
	FPOnNegatives int            `json:"false_positives_on_negatives"`
	Accepted      int            `json:"problem_accepted"`
	// AcceptedFraction is Accepted over the true positives; null without
	// any.
	AcceptedFraction *float64 `json:"problem_accepted_fraction"`
	Pass             bool     `json:"pass"`
	Need             string   `json:"need"`
	Summary          string   `json:"summary"`
}

// JSONKind is one fault kind's detection; the median delay (minutes) is
// null when none was detected.
type JSONKind struct {
	Kind        string   `json:"fault"`
	Detected    int      `json:"detected"`
	Total       int      `json:"total"`
	MedianDelay *float64 `json:"median_delay_min"`
}

// JSONLead is a median and a least lead, minutes.
type JSONLead struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
}

// JSONSudden is SuddenFigures in JSON.
type JSONSudden struct {
	Kind    string    `json:"fault"`
	Median  float64   `json:"median_min"`
	Min     float64   `json:"min_min"`
	Before  int       `json:"before"`
	Flagged int       `json:"flagged"`
	Leads   []float64 `json:"leads_min"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// JSON gives the report and its verdict as JSON values.
func (r *Report) JSON(th Thresholds) JSON {
	ok, need := r.Verdict(th)
	j := JSON{Opened: r.Opened, Unreadable: r.Unreadable, Faults: r.Faults, TruePositives: r.TruePositives,
		FalsePositives: r.FalsePositives, Precision: r.Precision, Recall: r.Recall,
		PerOutage: nonNil(r.PerOutage), PerTrip: nonNil(r.PerTrip), FPByProblem: map[string]int{},
		FPPerAssetDay: r.FPPerAssetDay, Negatives: r.Negatives, FPOnNegatives: r.FPOnNegatives,
		Accepted: r.Accepted, AcceptedFraction: finite(r.AcceptedFraction()), Pass: ok, Need: need, Summary: r.Summary(need),
		Kinds: []JSONKind{}, Sudden: []JSONSudden{}}
	for _, k := range r.Kinds {
		j.Kinds = append(j.Kinds, JSONKind{Kind: k.Kind, Detected: k.Detected, Total: k.Total, MedianDelay: finite(k.MedianDelay)})
	}
	if len(r.LeakLeads) > 0 {
		med, least := r.LeakLead()
		j.LeakLead = &JSONLead{Median: med, Min: least}
	}
	for _, s := range r.Sudden {
		j.Sudden = append(j.Sudden, JSONSudden{Kind: s.Kind, Median: s.Median, Min: s.Min, Before: s.Before, Flagged: s.Flagged, Leads: s.Leads})
	}
	for _, c := range r.FPByProblem {
		j.FPByProblem[c.Problem] = c.N
	}
	return j
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer, th Thresholds) (ok bool, err error) {
	j := r.JSON(th)
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return false, fmt.Errorf("score: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return j.Pass, err
}

func nonNil(xs []int) []int {
	if xs == nil {
		return []int{}
	}
	return xs
}

// pyFixed formats v as Python's f"{v:.Nf}" does: correctly rounded, ties
// to even (as Go's), and nan, inf, -inf spelt Python's way.
func pyFixed(v float64, prec int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// pyRepr is Python's repr of a float: the shortest digits that read back,
// positional between 1e-4 and 1e16 (always with a decimal point),
// scientific outside with at least two exponent digits.
func pyRepr(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(v, 'e', -1, 64) // 1e-05, 1.5e+16
		return s
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyInts is Python's repr of a list of ints.
func pyInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyStr is Python's repr of a str: single quotes unless the text has one
// and no double quote; backslash escapes for the quote, the backslash and
// what does not print.
func pyStr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteRune(r)
		case r < 0x7f && r >= 0x20, r > 0x7f && unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
