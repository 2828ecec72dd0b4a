package workorder

import (
	"fmt"
	"slices"
	"time"
)

// SLAMark is a service-level action taken on a work order: a reminder to
// the vendor before a milestone is due, or a breach, recorded with how
// late the milestone was when it was found overdue (the FM is told). Key
// is the action's deterministic key (cloud/sla), so that a replica sweeping
// the same timer again finds it done.
type SLAMark struct {
	Key       string        `json:"key"`
	Kind      string        `json:"kind"`      // remind or breach
	Milestone string        `json:"milestone"` // acknowledge, arrive, complete
	Vendor    string        `json:"vendor,omitempty"`
	Due       time.Time     `json:"due"`
	Lateness  time.Duration `json:"lateness,omitempty"`
	At        time.Time     `json:"at"`
}

// HasSLA reports whether the action with the key was taken.
func (w *WorkOrder) HasSLA(key string) bool {
	return slices.ContainsFunc(w.SLA, func(m SLAMark) bool { return m.Key == key })
}

// MarkSLA records an SLA action, once: a key already recorded yields no
// event.
func (w *WorkOrder) MarkSLA(m SLAMark) []Event {
	if w.HasSLA(m.Key) {
		return nil
	}
	reason := fmt.Sprintf("%s due %s", m.Milestone, m.Due.Format(time.RFC3339))
	if m.Kind == "breach" {
		reason = fmt.Sprintf("%s breached: due %s, %s late", m.Milestone, m.Due.Format(time.RFC3339), m.Lateness.Round(time.Minute))
	}
	var out []Event
	w.record(&out, Event{Kind: SLAMarked, Actor: string(System), At: m.At, SLA: &m, Reason: reason})
	return out
}
