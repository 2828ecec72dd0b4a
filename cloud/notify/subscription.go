package notify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// Event types a subscription can ask for.
const (
	WorkOrderCreated    = "workorder.created"
	WorkOrderTransition = "workorder.transition"
	WorkOrderEscalated  = "workorder.escalated"
	WorkOrderQuote      = "workorder.quote"    // a vendor priced the work
	WorkOrderApproval   = "workorder.approval" // the NTE was raised
	WorkOrderInvoice    = "workorder.invoice"  // an invoice was made (for accounting)
	WorkOrderSLA        = "workorder.sla"      // a reminder before due, or a breach
	PurchaseOrder       = "purchase_order"     // a purchase order was raised or changed status (for accounting)
)

// EventTypes lists every event type.
var EventTypes = []string{WorkOrderCreated, WorkOrderTransition, WorkOrderEscalated, WorkOrderQuote, WorkOrderApproval, WorkOrderInvoice, WorkOrderSLA, PurchaseOrder}

// Subscription is a registered webhook.
type Subscription struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the event types wanted; empty means all.
	Events []string `json:"events,omitempty"`
	// Scope is whose events the subscription gets. It is the scope of the
	// token that registered it, resolved when it was registered: a
	// store's subscription sees its sites, a vendor's its own work
	// orders. The zero Scope sees nothing.
	Scope   cloud.Scope `json:"scope"`
	Secrets []Secret    `json:"-"`
	// Disabled stops deliveries (an admin's switch, or after the
	// receiver answered 410 Gone).
	Disabled bool `json:"disabled,omitempty"`
}

// Validate checks a subscription, naming the field at fault. Plain http
// is allowed only to loopback addresses (a receiver on the same host, and
// tests).
func (s *Subscription) Validate() error {
	var errs []error
	u, err := url.Parse(s.URL)
	switch {
	case err != nil || u.Host == "":
		errs = append(errs, cloud.FieldError("url", "want an absolute https URL"))
	case u.Scheme == "http" && !loopback(u.Hostname()):
		errs = append(errs, cloud.FieldError("url", "webhooks need https (http only to localhost)"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, cloud.FieldError("url", "want an absolute https URL"))
	case u.User != nil:
		errs = append(errs, cloud.FieldError("url", "credentials do not belong in the URL; the signature authenticates"))
	}
	for i, e := range s.Events {
		if !slices.Contains(EventTypes, e) {
			errs = append(errs, cloud.FieldError(fmt.Sprintf("events[%d]", i), "unknown event type %q (want one of %s)", e, strings.Join(EventTypes, ", ")))
		}
	}
	if !s.Scope.All && s.Scope.Sites == nil && s.Scope.Vendor == "" && s.Scope.Technician == "" {
		errs = append(errs, cloud.FieldError("scope", "a subscription must be scoped to sites, a vendor or everything"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Wants reports whether the subscription gets a notice: it is enabled,
// the event type is wanted, and its scope sees the work order, by the
// same rule the API's list filter uses (cloud.Scope.SeesWorkOrder). This is
// the one place tenant isolation is decided for webhooks.
func (s *Subscription) Wants(n *workorder.Notice) bool {
	return s.wants(EventType(n), n.Site, n.Vendor)
}

// wants is Wants for any event: of a type, at a site, for a vendor.
func (s *Subscription) wants(typ, site, vendor string) bool {
	if s.Disabled {
		return false
	}
	if len(s.Events) > 0 && !slices.Contains(s.Events, typ) {
		return false
	}
	return s.Scope.SeesWorkOrder(site, vendor, "")
}

// EventType names a notice's event for subscribers.
func EventType(n *workorder.Notice) string {
	switch n.Event.Kind {
	case workorder.Created:
		return WorkOrderCreated
	case workorder.Escalated:
		return WorkOrderEscalated
	case workorder.Quoted:
		return WorkOrderQuote
	case workorder.Approved:
		return WorkOrderApproval
	case workorder.Invoiced:
		return WorkOrderInvoice
	case workorder.SLAMarked:
		return WorkOrderSLA
	}
	return WorkOrderTransition
}

// Envelope is the JSON body of a delivery.
type Envelope struct {
	// ID is the event's id, "<work order>-<version>": the same for every
	// subscription and every retry.
	ID        string           `json:"id"`
	Type      string           `json:"type"`
	CreatedAt time.Time        `json:"created_at"`
	Data      workorder.Notice `json:"data"`
}

// EnvelopeOf wraps a notice.
func EnvelopeOf(n workorder.Notice) Envelope {
	return Envelope{ID: fmt.Sprintf("%s-%d", n.ID, n.Event.Version), Type: EventType(&n), CreatedAt: n.Event.At, Data: n}
}
