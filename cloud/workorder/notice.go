package workorder

import "time"

// NoticeSchema names the version of Notice messages.
const NoticeSchema = "frostline.workorder_event.v1"

// Notice is what the cloud tells listeners (notifications, analytics) about
// a work-order event worth telling: its opening, a status change or an
// escalation. Evidence updates and notes stay inside. It travels on
// "frostline.events.workorder.<site>" in the FROSTLINE_EVENTS stream, with
// Nats-Msg-Id "<work order>-<version>".
type Notice struct {
	Schema    string    `json:"schema"`
	Event     Event     `json:"event"`
	ID        string    `json:"id"`
	Number    int64     `json:"number"`
	Site      string    `json:"site"`
	Asset     string    `json:"asset"`
	Source    Source    `json:"source"`
	Problem   string    `json:"problem"`
	Trade     string    `json:"trade"`
	Priority  string    `json:"priority"`
	Status    Status    `json:"status"`
	Vendor    string    `json:"vendor,omitempty"`
	Recall    bool      `json:"recall,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Notable reports whether listeners are told about the event.
func (e *Event) Notable() bool {
	return e.Kind == Created || e.Kind == Transition || e.Kind == Escalated || e.Kind == Quoted || e.Kind == Approved || e.Kind == Invoiced || e.Kind == SLAMarked
}

// NoticeSubject is the subject a site's work-order notices go to.
func NoticeSubject(site string) string { return "frostline.events.workorder." + site }

// NoticeOf describes event e of work order w. Status is the status right
// after e; the other fields are the work order as saved with e.
func NoticeOf(w *WorkOrder, e Event) Notice {
	e.Opening = nil // the notice carries the work order's fields itself
	status := w.Status
	switch e.Kind {
	case Created:
		status = New
	case Transition:
		status = e.To
	}
	return Notice{Schema: NoticeSchema, Event: e, ID: w.ID, Number: w.Number, Site: w.Site, Asset: w.Asset,
		Source: w.Source, Problem: w.Problem, Trade: w.Trade, Priority: w.Priority, Status: status,
		Vendor: w.Vendor, Recall: w.Recall, UpdatedAt: w.UpdatedAt}
}
