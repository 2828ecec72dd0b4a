package score

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Labels is a labels file: the recording it describes (epoch to end, the
// assets in it) and what went wrong in it. Unknown fields are ignored, as
// the Python scorer ignores them, so that a file can carry notes.
type Labels struct {
	Epoch  time.Time `json:"epoch"`
	End    time.Time `json:"end"`
	Assets []Asset   `json:"assets"`
	Faults []Fault   `json:"faults"`
	// Negatives are windows known to hold no fault on an asset, such as a
	// work order that was avoided or completed with no fault found. An
	// incident in one is a false positive, as any incident that matches no
	// fault is; the report counts those apart (FPOnNegatives).
	Negatives []Negative `json:"negatives,omitempty"`
}

// Asset is one asset of the recording. False positives are judged per
// asset-day over all of them.
type Asset struct {
	Site  string `json:"site"`
	Asset string `json:"asset"`
	Class string `json:"class,omitempty"`
}

// WholeSite is a fault's asset when the fault is the whole site's (a
// gateway offline): an incident on any asset of the site matches it.
const WholeSite = "*"

// Fault is one labelled fault: on Asset (or every asset of Site when Asset
// is "*", or Asset and its Members, the cases a rack serves) from Start to
// End. Breach is when the product passed its food-safety limit, for faults
// that lead to one. Accept lists the problem codes that name it right.
type Fault struct {
	Site  string `json:"site"`
	Asset string `json:"asset"`
	Class string `json:"class,omitempty"`
	Fault string `json:"fault"`
	// Members makes the fault a group (a rack trip): an incident on a
	// member matches it, and the report counts incidents per group. A
	// fault with a members list, even an empty one, is a group.
	Members []string   `json:"members,omitempty"`
	Start   time.Time  `json:"start"`
	End     time.Time  `json:"end"`
	Breach  *time.Time `json:"breach,omitempty"`
	Accept  []string   `json:"accept"`
}

// Group reports whether the fault is a whole-site outage or a rack trip,
// whose incidents the report counts (one is ideal).
func (f *Fault) Group() bool { return f.Asset == WholeSite || f.Members != nil }

// Negative is a window on an asset known to hold no fault: Reason says how
// it is known (avoided: the problem went away before anyone was sent;
// no_fault_found: a technician found nothing). Problem is the problem code
// that was raised then.
type Negative struct {
	Site      string    `json:"site"`
	Asset     string    `json:"asset"`
	Class     string    `json:"class,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Reason    string    `json:"reason"`
	Problem   string    `json:"problem,omitempty"`
	WorkOrder string    `json:"work_order,omitempty"`
}

// Reasons a negative can give.
const (
	Avoided      = "avoided"
	NoFaultFound = "no_fault_found"
)

// on reports whether an incident on asset belongs to the fault.
func (f *Fault) on(asset string) bool {
	if f.Asset == asset || f.Asset == WholeSite {
		return true
	}
	for _, m := range f.Members {
		if m == asset {
			return true
		}
	}
	return false
}

// The file as written, times as text: the Python scorer reads ISO 8601
// with fromisoformat, which takes a space for the T, and so does ParseTime.
type rawLabels struct {
	Epoch     *string       `json:"epoch"`
	End       *string       `json:"end"`
	Assets    []Asset       `json:"assets"`
	Faults    []rawFault    `json:"faults"`
	Negatives []rawNegative `json:"negatives"`
}

type rawFault struct {
	Site    string    `json:"site"`
	Asset   string    `json:"asset"`
	Class   string    `json:"class"`
	Fault   string    `json:"fault"`
	Members *[]string `json:"members"`
	Start   string    `json:"start"`
	End     string    `json:"end"`
	Breach  *string   `json:"breach"`
	Accept  []string  `json:"accept"`
}

type rawNegative struct {
	Site      string `json:"site"`
	Asset     string `json:"asset"`
	Class     string `json:"class"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Reason    string `json:"reason"`
	Problem   string `json:"problem"`
	WorkOrder string `json:"work_order"`
}

// ParseLabels decodes and checks a labels file. Every problem is reported,
// each naming its field ("faults[3].start: ...").
func ParseLabels(data []byte) (*Labels, error) {
	var raw rawLabels
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if dec.More() {
		return nil, errors.New("labels: more than one JSON value")
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	l := &Labels{Assets: raw.Assets}
	when := func(field string, s *string) time.Time {
		if s == nil || *s == "" {
			bad("%s: missing", field)
			return time.Time{}
		}
		t, err := ParseTime(*s)
		if err != nil {
			bad("%s: %v", field, err)
		}
		return t
	}
	l.Epoch = when("epoch", raw.Epoch)
	l.End = when("end", raw.End)
	if !l.Epoch.IsZero() && !l.End.IsZero() && !l.End.After(l.Epoch) {
		bad("end: %s is not after epoch %s", l.End.Format(time.RFC3339), l.Epoch.Format(time.RFC3339))
	}
	if len(raw.Assets) == 0 {
		bad("assets: none (false positives are judged per asset-day)")
	}
	for i, a := range raw.Assets {
		if a.Site == "" || a.Asset == "" {
			bad("assets[%d]: site and asset are required", i)
		}
	}
	for i, rf := range raw.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		f := Fault{Site: rf.Site, Asset: rf.Asset, Class: rf.Class, Fault: rf.Fault, Accept: rf.Accept}
		if f.Site == "" {
			bad("%s.site: missing", p)
		}
		if f.Asset == "" {
			bad("%s.asset: missing (\"*\" for the whole site)", p)
		}
		if f.Fault == "" {
			bad("%s.fault: missing", p)
		}
		if rf.Members != nil {
			f.Members = append([]string{}, (*rf.Members)...)
			for j, m := range f.Members {
				if m == "" {
					bad("%s.members[%d]: empty asset id", p, j)
				}
			}
		}
		f.Start = when(p+".start", &rf.Start)
		f.End = when(p+".end", &rf.End)
		if !f.Start.IsZero() && !f.End.IsZero() && f.End.Before(f.Start) {
			bad("%s.end: before its start", p)
		}
		if rf.Breach != nil && *rf.Breach != "" {
			b := when(p+".breach", rf.Breach)
			f.Breach = &b
		}
		l.Faults = append(l.Faults, f)
	}
	for i, rn := range raw.Negatives {
		p := fmt.Sprintf("negatives[%d]", i)
		n := Negative{Site: rn.Site, Asset: rn.Asset, Class: rn.Class, Reason: rn.Reason, Problem: rn.Problem, WorkOrder: rn.WorkOrder}
		if n.Site == "" || n.Asset == "" {
			bad("%s: site and asset are required", p)
		}
		if n.Reason != Avoided && n.Reason != NoFaultFound {
			bad("%s.reason: %q is neither %s nor %s", p, n.Reason, Avoided, NoFaultFound)
		}
		n.Start = when(p+".start", &rn.Start)
		n.End = when(p+".end", &rn.End)
		if !n.Start.IsZero() && !n.End.IsZero() && n.End.Before(n.Start) {
			bad("%s.end: before its start", p)
		}
		l.Negatives = append(l.Negatives, n)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("labels: %w", errors.Join(errs...))
	}
	return l, nil
}

// ParseTime reads an ISO 8601 time with a zone, as the labels and the
// incidents write it: 2026-07-06T08:15:00Z, with a space for the T, with
// fractional seconds (kept to the microsecond, as Python keeps them) or an
// offset. A time without a zone is refused: it names no instant.
func ParseTime(s string) (time.Time, error) {
	v := s
	if len(v) > 10 && (v[10] == ' ' || v[10] == 't') {
		v = v[:10] + "T" + v[11:]
	}
	if n := len(v); n > 0 && v[n-1] == 'z' {
		v = v[:n-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if _, nerr := time.Parse("2006-01-02T15:04:05.999999999", v); nerr == nil {
			return time.Time{}, fmt.Errorf("%q has no time zone (add Z or an offset)", s)
		}
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time such as 2026-07-06T08:15:00Z", strings.TrimSpace(s))
	}
	return t.Truncate(time.Microsecond), nil
}
