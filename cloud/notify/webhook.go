package notify

import (
	"time"

	"github.com/frostline/frostline/cloud"
)

// Webhook is a registered webhook: a Subscription as its registration
// stored it, with the scope it was granted rather than resolved.
type Webhook struct {
	ID          string
	URL         string
	Description string
	Scope       WebhookScope
	// Events are the event types wanted; empty means all.
	Events  []string
	Secrets []Secret
	Active  bool
	// DisabledReason says why a webhook stopped, when the system stopped
	// it (the receiver answered 410 Gone).
	DisabledReason       string
	CreatedBy            string // the registering token's id
	CreatedAt, UpdatedAt time.Time
}

// WebhookScope is whose events a webhook gets, as its registration
// granted: everything, sites and/or a region (the union), or one vendor's
// work orders (within the sites, if both are set). A region is matched
// against the register when each notice is fanned out.
type WebhookScope struct {
	All    bool     `json:"all,omitempty"`
	Sites  []string `json:"sites,omitempty"`
	Region string   `json:"region,omitempty"`
	Vendor string   `json:"vendor,omitempty"`
}

// Resolve is the scope as cloud.SeesWorkOrder reads it, given the sites
// of the region.
func (s WebhookScope) Resolve(regionSites []string) cloud.Scope {
	if s.All {
		return cloud.Scope{All: true}
	}
	sc := cloud.Scope{Vendor: s.Vendor}
	if s.Sites != nil || s.Region != "" {
		sc.Sites = append(append([]string{}, s.Sites...), regionSites...)
	}
	return sc
}

// Subscription is the webhook as the fan-out routes to it.
func (h *Webhook) Subscription(regionSites []string) Subscription {
	return Subscription{ID: h.ID, URL: h.URL, Events: h.Events, Scope: h.Scope.Resolve(regionSites),
		Secrets: h.Secrets, Disabled: !h.Active}
}

// WebhookDelivery is one line of a webhook's delivery log, with its
// attempts, oldest first.
type WebhookDelivery struct {
	Delivery
	WorkOrder string
	Replays   int
	CreatedAt time.Time
	UpdatedAt time.Time
	Log       []Attempt
}
