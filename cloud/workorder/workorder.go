package workorder

import (
	"time"
)

// Source says where a work order came from.
type Source string

// Sources.
const (
	Sensor     Source = "sensor"     // a sensor incident from an edge agent
	Manual     Source = "manual"     // a person's report
	Preventive Source = "preventive" // a planned maintenance visit
)

// WorkOrder is the cloud's record of one real problem, as folded from its
// events by Replay. Its fields are a projection; the events are the truth.
type WorkOrder struct {
	ID          string     `json:"id"`
	Number      int64      `json:"number"`
	Site        string     `json:"site"`
	Asset       string     `json:"asset"`
	AssetClass  string     `json:"asset_class,omitempty"`
	Source      Source     `json:"source"`
	Problem     string     `json:"problem"`
	Family      string     `json:"family"`
	Trade       string     `json:"trade"`
	Priority    string     `json:"priority"`
	Status      Status     `json:"status"`
	Vendor      string     `json:"vendor"`
	Technician  string     `json:"technician,omitempty"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	Reporter    string     `json:"reporter,omitempty"`
	Incidents   []string   `json:"incidents"`
	Evidence    []Evidence `json:"evidence"`
	Reports     int        `json:"reports,omitempty"` // manual reports merged in
	Occurrences int        `json:"occurrences"`
	// Recall is set when the problem came back within the recall window
	// of a verified work order, RecallOf.
	Recall      bool   `json:"recall,omitempty"`
	RecallOf    string `json:"recall_of,omitempty"`
	DuplicateOf string `json:"duplicate_of,omitempty"`
	Approval    bool   `json:"approval_required,omitempty"`
	Warranty    string `json:"warranty,omitempty"`
	// NTE is the not-to-exceed amount in USD: the dispatched vendor's
	// default for the trade and priority, else the policy's default for
	// the priority, raised only by an approval. It is never "no limit": 0
	// (work dispatched before every dispatch carried one) allows nothing
	// without an approval.
	NTE float64 `json:"nte,omitempty"`
	// Quote is a vendor's proposal above the NTE, waiting for approval.
	Quote *Quote `json:"quote,omitempty"`
	// Approvals are the NTE raises granted, oldest first.
	Approvals []Approval `json:"approvals,omitempty"`
	// Invoice is what the vendor is paid, made when the work is verified.
	Invoice *Invoice `json:"invoice,omitempty"`
	// Rating is the store's latest say on a verified visit.
	Rating *Rating `json:"rating,omitempty"`
	// Plan is a preventive work order's schedule occurrence and template.
	Plan *Plan `json:"plan,omitempty"`
	// Origin is the preventive work order whose failed checklist item
	// raised this one.
	Origin string `json:"origin,omitempty"`
	// ETA is when the accepting vendor said it would arrive.
	ETA *time.Time `json:"eta,omitempty"`
	// VerifyUntil is the end of the sensor verification window while
	// VERIFYING; Verification says how the fix was verified.
	VerifyUntil  *time.Time `json:"verify_until,omitempty"`
	Verification string     `json:"verification,omitempty"`
	// SLA lists the service-level reminders sent and breaches recorded.
	SLA []SLAMark `json:"sla,omitempty"`
	// AcceptBy is when the current dispatch lapses unless accepted.
	AcceptBy *time.Time `json:"accept_by,omitempty"`
	// Declined lists vendors that declined or let a dispatch lapse; the
	// next dispatch goes to another.
	Declined     []string    `json:"declined,omitempty"`
	HoldUntil    *time.Time  `json:"hold_until,omitempty"`
	Visits       []Visit     `json:"visits,omitempty"`
	Completion   *Completion `json:"completion,omitempty"`
	Notes        []Note      `json:"notes,omitempty"`
	CreatedAt    time.Time   `json:"created_at"`
	UpdatedAt    time.Time   `json:"updated_at"`
	DispatchedAt *time.Time  `json:"dispatched_at,omitempty"`
	VerifiedAt   *time.Time  `json:"verified_at,omitempty"`
	EscalatedAt  *time.Time  `json:"escalated_at,omitempty"`
	Version      int         `json:"version"`

	// linked lists incidents attached since the work order was loaded,
	// for the store to index; not part of the projection.
	linked []string
}

// Linked returns the incidents attached since the work order was loaded
// or last saved, and forgets them: a store indexes them on Save.
func (w *WorkOrder) Linked() []string {
	l := w.linked
	w.linked = nil
	return l
}

// Evidence is what one incident, or one person's report, says about the
// problem. A work order keeps the latest evidence per incident.
type Evidence struct {
	Incident    string     `json:"incident,omitempty"`
	Seq         int        `json:"seq,omitempty"`
	Event       string     `json:"event"` // opened, updated, cleared, report
	Rule        string     `json:"rule,omitempty"`
	Problem     string     `json:"problem"`
	Priority    string     `json:"priority,omitempty"`
	Title       string     `json:"title,omitempty"`
	Summary     string     `json:"summary,omitempty"`
	Metric      string     `json:"metric,omitempty"`
	Value       float64    `json:"value,omitempty"`
	Peak        float64    `json:"peak,omitempty"`
	Limit       *float64   `json:"limit,omitempty"`
	OutOfRange  float64    `json:"out_of_range_s,omitempty"`
	Occurrences int        `json:"occurrences,omitempty"`
	Started     *time.Time `json:"started,omitempty"`
	At          time.Time  `json:"at"`
	PredictedAt *time.Time `json:"predicted_at,omitempty"`
	// PredictedBreachAt is when the asset's product passes its
	// food-safety limit, as the edge's product model predicts it;
	// BreachedAt, when it already has.
	PredictedBreachAt *time.Time `json:"predicted_breach_at,omitempty"`
	BreachedAt        *time.Time `json:"breached_at,omitempty"`
	// Affected are, on an incident of equipment that serves other assets
	// (a compressor rack), the assets that lost cooling with it.
	Affected    []string `json:"affected,omitempty"`
	Reporter    string   `json:"reporter,omitempty"`
	Description string   `json:"description,omitempty"`
	// Panel links to the Grafana panel for the asset over the incident's
	// window.
	Panel string `json:"panel,omitempty"`
	// Photos are ids of pictures a reporter attached.
	Photos []string `json:"photos,omitempty"`
}

// Visit is one technician visit, from check-in to check-out.
type Visit struct {
	Technician string     `json:"technician,omitempty"`
	In         time.Time  `json:"in"`
	Out        *time.Time `json:"out,omitempty"`
	Lat        *float64   `json:"lat,omitempty"`
	Lon        *float64   `json:"lon,omitempty"`
	// Override is the logged reason for a check-in outside the geofence.
	Override string `json:"override,omitempty"`
	// OutLat and OutLon are where the technician checked out (or
	// completed), OutOverride the reason for leaving outside the geofence.
	OutLat      *float64 `json:"out_lat,omitempty"`
	OutLon      *float64 `json:"out_lon,omitempty"`
	OutOverride string   `json:"out_override,omitempty"`
	// Photos are what the technician attached at check-in, check-out
	// and completion.
	Photos []Photo `json:"photos,omitempty"`
}

// Photo is a picture a technician attached to a visit: its id in the
// store, what it shows, and when it was attached.
type Photo struct {
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// PhotoKinds are what a visit's photo may show: the equipment before and
// after the work, its nameplate (make, model, serial), a part replaced.
var PhotoKinds = []string{"before", "after", "nameplate", "part"}

// Completion is what the technician records when the work is done.
type Completion struct {
	Problem         string   `json:"problem"`
	Cause           string   `json:"cause"`
	Remedy          string   `json:"remedy"`
	Parts           []Part   `json:"parts,omitempty"`
	Labour          []Labour `json:"labour,omitempty"`
	Recommendations string   `json:"recommendations,omitempty"`
}

// Part is a part used.
type Part struct {
	Code        string  `json:"code,omitempty"`
	Description string  `json:"description"`
	Quantity    float64 `json:"quantity"`
	UnitCost    float64 `json:"unit_cost"`
}

// Labour is time worked.
type Labour struct {
	Technician string  `json:"technician,omitempty"`
	Hours      float64 `json:"hours"`
	Rate       float64 `json:"rate"`
}

// Cost is the completion's parts and labour in USD, at the rates typed.
// A line outside today's ranges (stored before they were checked) counts
// as nothing (Sane), so the sum is always finite.
func (c *Completion) Cost() float64 {
	if c == nil {
		return 0
	}
	c = c.Sane()
	var sum float64
	for _, p := range c.Parts {
		sum += p.Quantity * p.UnitCost
	}
	for _, l := range c.Labour {
		sum += l.Hours * l.Rate
	}
	return sum
}

// Note is a remark on a work order.
type Note struct {
	Author     string    `json:"author"`
	Text       string    `json:"text"`
	Visibility string    `json:"visibility"` // "internal" (org only) or "shared" (vendors too)
	At         time.Time `json:"at"`
}

// AllCleared reports whether every incident on the work order has cleared
// and no person reported the problem: the condition for AVOIDED.
func (w *WorkOrder) AllCleared() bool {
	if w.Reports > 0 || len(w.Evidence) == 0 {
		return false
	}
	for _, e := range w.Evidence {
		if e.Event != "cleared" {
			return false
		}
	}
	return true
}

// evidenceFor returns the index of the evidence for incident, or -1.
func (w *WorkOrder) evidenceFor(incident string) int {
	if incident == "" {
		return -1
	}
	for i := range w.Evidence {
		if w.Evidence[i].Incident == incident {
			return i
		}
	}
	return -1
}

// openVisit returns the visit in progress, or nil.
func (w *WorkOrder) openVisit() *Visit {
	if n := len(w.Visits); n > 0 && w.Visits[n-1].Out == nil {
		return &w.Visits[n-1]
	}
	return nil
}
