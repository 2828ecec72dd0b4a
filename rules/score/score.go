package score

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// DefaultGrace is how long after a fault's end an incident still counts
// for it: a rule that needs its delay to see a fault end may open late.
const DefaultGrace = 60 * time.Minute

// Sudden failures are the faults whose first incident is judged against
// the breach: an alarm after the food is unsafe is too late.
var Sudden = []string{"compressor_failure", "rack_failure"}

// Leak is the fault whose lead before the breach the report gives.
const Leak = "refrigerant_leak"

// Report is what scoring found. Minutes are float64 and NaN where there is
// nothing to measure (a median of no delays).
type Report struct {
	Opened     int // incidents opened
	Unreadable int // opening lines that could not be read
	Faults     int

	TruePositives  int
	FalsePositives int
	Precision      float64 // TP / (TP + FP); 0 without incidents
	Recall         float64 // faults detected / faults; 1 without faults

	Kinds []KindFigures // by fault kind, sorted

	LeakLeads []float64 // minutes from each detected leak's first incident to its breach

	// Incidents per whole-site outage and per rack trip, in label order:
	// one is ideal.
	PerOutage []int
	PerTrip   []int

	Sudden []SuddenFigures // by kind, sorted; only kinds with a detected, breached fault

	// False positives by problem code (the rule's id when the incident has
	// no problem, "?" when neither), in the order first seen.
	FPByProblem   []Count
	FPPerAssetDay float64
	// FPOnNegatives counts the false positives that fell in a labelled
	// negative window (inside it or within the grace after).
	FPOnNegatives int

	// Negatives is how many negative windows the labels have.
	Negatives int

	// Accepted counts the true positives whose problem code the fault
	// accepts.
	Accepted int
}

// KindFigures is one fault kind's detection.
type KindFigures struct {
	Kind        string
	Detected    int
	Total       int
	MedianDelay float64 // minutes from fault start to its first incident
}

// SuddenFigures is how long before the breach the sudden failures of one
// kind were flagged.
type SuddenFigures struct {
	Kind    string
	Leads   []float64 // minutes, in label order
	Median  float64
	Min     float64
	Before  int // flagged before the breach (lead > 0)
	Flagged int
}

// Count is one problem code's false positives.
type Count struct {
	Problem string
	N       int
}

// Median is the upper median, as the Python scorer takes it
// (sorted(xs)[len(xs)//2]); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return slices.Min(xs)
}

// minutes is d in minutes, computed as Python's total_seconds()/60 is
// (microseconds / 1e6, then / 60) so that both round alike.
func minutes(d time.Duration) float64 { return seconds(d) / 60 }

func seconds(d time.Duration) float64 { return float64(d/time.Microsecond) / 1e6 }

// Score matches incidents to the labels. An incident matches the first
// fault (in label order) at its site, on its asset (the fault's own, one
// of its members, or any asset for "*") with start <= at <= end + grace;
// it is then a true positive, else a false positive. A fault is detected
// when an incident matches it; its first incident sets its delay and lead.
func Score(l *Labels, incs []Incident, unreadable int, grace time.Duration) Report {
	r := Report{Opened: len(incs), Unreadable: unreadable, Faults: len(l.Faults), Negatives: len(l.Negatives)}
	in := func(f *Fault, i *Incident) bool {
		return f.Site == i.Site && f.on(i.Asset) && !i.At.Before(f.Start) && !i.At.After(f.End.Add(grace))
	}
	detected := make([]*Incident, len(l.Faults))
	fps := map[string]int{}
	for k := range incs {
		i := &incs[k]
		hit := -1
		for j := range l.Faults {
			if in(&l.Faults[j], i) {
				hit = j
				break
			}
		}
		if hit < 0 {
			r.FalsePositives++
			p := i.Problem
			if p == "" {
				p = i.Rule
			}
			if p == "" {
				p = "?"
			}
			if _, ok := fps[p]; !ok {
				r.FPByProblem = append(r.FPByProblem, Count{Problem: p})
			}
			fps[p]++
			for _, n := range l.Negatives {
				if n.Site == i.Site && n.Asset == i.Asset && !i.At.Before(n.Start) && !i.At.After(n.End.Add(grace)) {
					r.FPOnNegatives++
					break
				}
			}
			continue
		}
		r.TruePositives++
		if slices.Contains(l.Faults[hit].Accept, i.Problem) && i.Problem != "" {
			r.Accepted++
		}
		if d := detected[hit]; d == nil || i.At.Before(d.At) {
			detected[hit] = i
		}
	}
	for k := range r.FPByProblem {
		r.FPByProblem[k].N = fps[r.FPByProblem[k].Problem]
	}

	kinds := map[string]*KindFigures{}
	delays := map[string][]float64{}
	sudden := map[string][]float64{}
	found := 0
	for k := range l.Faults {
		f := &l.Faults[k]
		kf := kinds[f.Fault]
		if kf == nil {
			kf = &KindFigures{Kind: f.Fault}
			kinds[f.Fault] = kf
		}
		kf.Total++
		d := detected[k]
		if d == nil {
			continue
		}
		found++
		kf.Detected++
		delays[f.Fault] = append(delays[f.Fault], minutes(d.At.Sub(f.Start)))
		if f.Breach == nil {
			continue
		}
		if f.Fault == Leak {
			r.LeakLeads = append(r.LeakLeads, minutes(f.Breach.Sub(d.At)))
		}
		if slices.Contains(Sudden, f.Fault) {
			sudden[f.Fault] = append(sudden[f.Fault], minutes(f.Breach.Sub(d.At)))
		}
	}
	for _, kf := range kinds {
		kf.MedianDelay = Median(delays[kf.Kind])
		r.Kinds = append(r.Kinds, *kf)
	}
	slices.SortFunc(r.Kinds, func(a, b KindFigures) int { return cmp.Compare(a.Kind, b.Kind) })
	for kind, xs := range sudden {
		sf := SuddenFigures{Kind: kind, Leads: xs, Median: Median(xs), Min: minOf(xs), Flagged: len(xs)}
		for _, x := range xs {
			if x > 0 {
				sf.Before++
			}
		}
		r.Sudden = append(r.Sudden, sf)
	}
	slices.SortFunc(r.Sudden, func(a, b SuddenFigures) int { return cmp.Compare(a.Kind, b.Kind) })

	// Every incident in a group's window counts for it, even one that
	// matched an earlier fault.
	for k := range l.Faults {
		f := &l.Faults[k]
		if !f.Group() {
			continue
		}
		n := 0
		for j := range incs {
			if in(f, &incs[j]) {
				n++
			}
		}
		if f.Asset == WholeSite {
			r.PerOutage = append(r.PerOutage, n)
		}
		if f.Members != nil {
			r.PerTrip = append(r.PerTrip, n)
		}
	}

	r.Recall = 1
	if len(l.Faults) > 0 {
		r.Recall = float64(found) / float64(len(l.Faults))
	}
	if r.TruePositives+r.FalsePositives > 0 {
		r.Precision = float64(r.TruePositives) / float64(r.TruePositives+r.FalsePositives)
	}
	days := seconds(l.End.Sub(l.Epoch)) / 86400
	r.FPPerAssetDay = float64(r.FalsePositives) / (float64(len(l.Assets)) * days)
	return r
}

// LeakLead is the median and the least of the leak leads; NaN for none.
func (r *Report) LeakLead() (median, least float64) { return Median(r.LeakLeads), minOf(r.LeakLeads) }

// SuddenMin is the least lead of any sudden failure; ok is false when none
// was flagged with a breach.
func (r *Report) SuddenMin() (least float64, ok bool) {
	var all []float64
	for _, s := range r.Sudden {
		all = append(all, s.Leads...)
	}
	if len(all) == 0 {
		return math.NaN(), false
	}
	return slices.Min(all), true
}

// Groups is the incident count of every outage then every rack trip.
func (r *Report) Groups() []int { return append(slices.Clone(r.PerOutage), r.PerTrip...) }

// AcceptedFraction is the share of true positives whose problem code the
// fault accepts; NaN without true positives.
func (r *Report) AcceptedFraction() float64 {
	if r.TruePositives == 0 {
		return math.NaN()
	}
	return float64(r.Accepted) / float64(r.TruePositives)
}
