package wire

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Window is the evidence an incident carries: the asset's recent history,
// downsampled, so that the cloud can chart it without a time-series
// database. The edge attaches one to each incident event it has history
// for; it is part of IncidentSchema v2 (v1 incidents carry none).
type Window struct {
	// Metric is the temperature charted (the one the asset's product
	// model follows, usually air_temp); Unit is its unit ("C").
	Metric string `json:"metric"`
	Unit   string `json:"unit,omitempty"`
	// Step is each point's period in seconds (300 by default).
	Step float64 `json:"step_s"`
	// Limit is the food-safety limit the product model is held to.
	Limit *float64 `json:"limit,omitempty"`
	// Points are oldest first, one per step that had readings.
	Points []WindowPoint `json:"points"`
	// Changes are the on/off signals' transitions in the window, oldest
	// first: compressor, defrost and door.
	Changes []Change `json:"changes,omitempty"`
}

// WindowPoint is one step of a Window.
type WindowPoint struct {
	At             time.Time `json:"at"` // the step's start
	Min, Mean, Max float64
	// Product is the modelled product temperature at the step's end.
	Product *float64 `json:"product,omitempty"`
}

// Change is an on/off signal changing state.
type Change struct {
	At     time.Time `json:"at"`
	Signal string    `json:"signal"` // compressor, defrost or door
	On     bool      `json:"on"`
}

// The signals a Window's Changes name.
const (
	SignalCompressor = "compressor"
	SignalDefrost    = "defrost"
	SignalDoor       = "door"
)

// Window caps: what a cloud keeps of a window at most. 24 hours at 5
// minutes, and a door opened every five minutes for the same day, come to
// well under 64 KiB of JSON.
const (
	MaxWindowPoints  = 288
	MaxWindowChanges = 512
)

// check validates a received window and trims it to the caps, keeping
// the newest points and changes: an oversized window costs its oldest
// history, not the incident.
func (w *Window) check() error {
	if w.Metric == "" {
		return fmt.Errorf("wire: window: missing metric")
	}
	if !(w.Step > 0 && w.Step <= 86400) {
		return fmt.Errorf("wire: window: step_s %v out of range (0, 86400]", w.Step)
	}
	for i, p := range w.Points {
		if p.At.IsZero() || (i > 0 && !p.At.After(w.Points[i-1].At)) {
			return fmt.Errorf("wire: window: point %d: times must rise", i)
		}
		if !(p.Min <= p.Mean && p.Mean <= p.Max) || math.IsInf(p.Max-p.Min, 0) {
			return fmt.Errorf("wire: window: point %d: want min <= mean <= max", i)
		}
	}
	for i, c := range w.Changes {
		if !slices.Contains([]string{SignalCompressor, SignalDefrost, SignalDoor}, c.Signal) {
			return fmt.Errorf("wire: window: change %d: unknown signal %q", i, c.Signal)
		}
		if c.At.IsZero() || (i > 0 && c.At.Before(w.Changes[i-1].At)) {
			return fmt.Errorf("wire: window: change %d: times must not fall", i)
		}
	}
	if n := len(w.Points); n > MaxWindowPoints {
		w.Points = w.Points[n-MaxWindowPoints:]
	}
	if n := len(w.Changes); n > MaxWindowChanges {
		w.Changes = w.Changes[n-MaxWindowChanges:]
	}
	return nil
}
