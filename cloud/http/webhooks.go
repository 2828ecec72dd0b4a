package http

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
)

// webhookStore is what the webhook routes need of a store.
type webhookStore interface {
	CreateWebhook(ctx context.Context, h *notify.Webhook) error
	Webhook(ctx context.Context, id string) (*notify.Webhook, error)
	Webhooks(ctx context.Context, createdBy string) ([]*notify.Webhook, error)
	UpdateWebhook(ctx context.Context, h *notify.Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	RotateWebhookSecret(ctx context.Context, id string, now time.Time, grace time.Duration) (notify.Secret, error)
	WebhookDeliveries(ctx context.Context, webhook string, state notify.State, limit int) ([]*notify.WebhookDelivery, error)
	ReplayDelivery(ctx context.Context, webhook, id string, now time.Time) error
}

// Limits on webhooks.
const (
	maxWebhooksPerOwner = 50
	maxWebhookURL       = 2048
	maxDescription      = 200
	// DefaultRotationGrace is how long a rotated-out secret keeps
	// signing, so receivers can switch at their own pace.
	DefaultRotationGrace = 24 * time.Hour
	maxRotationGrace     = 7 * 24 * time.Hour
)

func (s *Server) routesWebhooks() {
	s.api("POST /api/v1/webhooks", s.createWebhook)
	s.api("GET /api/v1/webhooks", s.listWebhooks)
	s.api("GET /api/v1/webhooks/{id}", s.getWebhook)
	s.api("PUT /api/v1/webhooks/{id}", s.putWebhook)
	s.api("DELETE /api/v1/webhooks/{id}", s.deleteWebhook)
	s.api("POST /api/v1/webhooks/{id}/rotate", s.rotateWebhook)
	s.api("GET /api/v1/webhooks/{id}/deliveries", s.webhookDeliveries)
	s.api("POST /api/v1/webhooks/{id}/deliveries/{delivery}/replay", s.replayDelivery)
}

// WebhookRequest registers or replaces a webhook. Scope, when omitted, is
// everything the caller sees; when given, it must lie within it.
type WebhookRequest struct {
	URL         string               `json:"url"`
	Description string               `json:"description,omitempty"`
	Events      []string             `json:"events,omitempty"`
	Scope       *notify.WebhookScope `json:"scope,omitempty"`
	Active      *bool                `json:"active,omitempty"`
}

// WebhookView is a webhook as the API shows it: its secrets by date only.
// Secret carries the new secret in the answers to create and rotate, and
// nowhere else.
type WebhookView struct {
	ID             string              `json:"id"`
	URL            string              `json:"url"`
	Description    string              `json:"description,omitempty"`
	Events         []string            `json:"events"`
	Scope          notify.WebhookScope `json:"scope"`
	Active         bool                `json:"active"`
	DisabledReason string              `json:"disabled_reason,omitempty"`
	CreatedBy      string              `json:"created_by"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	Secrets        []SecretInfo        `json:"secrets"`
	Secret         string              `json:"secret,omitempty"`
}

// SecretInfo describes a secret without showing it.
type SecretInfo struct {
	Created time.Time  `json:"created_at"`
	Expires *time.Time `json:"expires_at,omitempty"`
}

func webhookView(h *notify.Webhook) WebhookView {
	v := WebhookView{ID: h.ID, URL: h.URL, Description: h.Description, Events: h.Events, Scope: h.Scope, Active: h.Active,
		DisabledReason: h.DisabledReason, CreatedBy: h.CreatedBy, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
		Secrets: make([]SecretInfo, 0, len(h.Secrets))}
	if v.Events == nil {
		v.Events = []string{}
	}
	for _, sec := range h.Secrets {
		i := SecretInfo{Created: sec.Created}
		if !sec.Expires.IsZero() {
			e := sec.Expires
			i.Expires = &e
		}
		v.Secrets = append(v.Secrets, i)
	}
	return v
}

// mayManageWebhooks: admins and facilities managers manage webhooks, and
// a vendor its own; store staff and technicians do not.
func (c *caller) mayManageWebhooks() error {
	return c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor)
}

// ownedWebhook loads a webhook the caller may manage: an admin any, anyone
// else those registered with their token. Others' answer 404, like any
// object outside the caller's scope.
func (s *Server) ownedWebhook(r *http.Request, c *caller) (*notify.Webhook, error) {
	if err := c.mayManageWebhooks(); err != nil {
		return nil, err
	}
	h, err := s.store.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if c.Role != cloud.RoleAdmin && h.CreatedBy != c.TokenID {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "webhook %s not found", h.ID)
	}
	return h, nil
}

// webhookScope decides what a webhook registered by c may see: what was
// asked for, within what c sees, resolved against c's grant. Tenant
// isolation for webhooks rests on this and on notify.Subscription.Wants.
func (s *Server) webhookScope(ctx context.Context, c *caller, asked *notify.WebhookScope) (notify.WebhookScope, error) {
	unscoped := c.Role == cloud.RoleAdmin || (c.Role == cloud.RoleFM && c.Region == "" && len(c.Sites) == 0)
	if asked == nil {
		switch {
		case unscoped:
			return notify.WebhookScope{All: true}, nil
		case c.Role == cloud.RoleFM:
			return notify.WebhookScope{Sites: slices.Clone(c.Sites), Region: c.Region}, nil
		}
		return notify.WebhookScope{Vendor: c.Vendor}, nil
	}
	sc := *asked
	if sc.All && (len(sc.Sites) > 0 || sc.Region != "" || sc.Vendor != "") {
		return sc, cloud.FieldError("scope", "all excludes sites, region and vendor")
	}
	if !sc.All && len(sc.Sites) == 0 && sc.Region == "" && sc.Vendor == "" {
		return sc, cloud.FieldError("scope", "want all, sites, a region or a vendor; omit scope for everything you see")
	}
	for _, site := range sc.Sites {
		if unscoped {
			if _, err := s.store.Site(ctx, site); err != nil {
				return sc, cloud.FieldError("scope.sites", "unknown site %q", site)
			}
		}
	}
	switch {
	case unscoped:
		return sc, nil
	case c.Role == cloud.RoleFM:
		if sc.All {
			return sc, cloud.FieldError("scope.all", "your token sees only its region and sites")
		}
		if sc.Region != "" && sc.Region != c.Region {
			return sc, cloud.FieldError("scope.region", "region %q is outside your scope", sc.Region)
		}
		for _, site := range sc.Sites {
			if !c.scope.SeesSite(site) {
				return sc, cloud.FieldError("scope.sites", "site %q is outside your scope", site)
			}
		}
		if len(sc.Sites) == 0 && sc.Region == "" { // a vendor alone: within the FM's sites
			sc.Sites, sc.Region = slices.Clone(c.Sites), c.Region
		}
		return sc, nil
	}
	// A vendor: its own work orders, optionally only at some sites.
	if sc.All || (sc.Vendor != "" && sc.Vendor != c.Vendor) {
		return sc, cloud.FieldError("scope.vendor", "a vendor's webhook sees only its own work orders")
	}
	sc.Vendor = c.Vendor
	return sc, nil
}

// webhookFrom validates a request into h, for create and replace.
func (s *Server) webhookFrom(ctx context.Context, c *caller, q *WebhookRequest, h *notify.Webhook, keepScope bool) error {
	switch {
	case len(q.URL) > maxWebhookURL:
		return cloud.FieldError("url", "longer than %d bytes", maxWebhookURL)
	case utf8.RuneCountInString(q.Description) > maxDescription:
		return cloud.FieldError("description", "longer than %d characters", maxDescription)
	}
	if q.Scope != nil || !keepScope {
		sc, err := s.webhookScope(ctx, c, q.Scope)
		if err != nil {
			return err
		}
		h.Scope = sc
	}
	h.URL, h.Description, h.Events = strings.TrimSpace(q.URL), q.Description, q.Events
	slices.Sort(h.Events)
	h.Events = slices.Compact(h.Events)
	if q.Active != nil {
		if *q.Active && !h.Active {
			h.DisabledReason = ""
		}
		h.Active = *q.Active
	}
	sub := h.Subscription(nil) // a region's sites are resolved at fan-out
	if err := sub.Validate(); err != nil {
		return err
	}
	if !s.allowPrivateTargets {
		// Refuse now what delivery would refuse on every attempt (the
		// same rule: notify.Public), rather than a webhook that never works.
		if err := notify.CheckTarget(ctx, h.URL, s.lookupHost); err != nil {
			return cloud.FieldError("url", "%v: deliveries go to public addresses only (webhooks.allow_private_targets allows private ones)", err)
		}
	}
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.mayManageWebhooks(); err != nil {
		return err
	}
	var q WebhookRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	now := s.now().UTC()
	h := &notify.Webhook{ID: cloud.NewID("wh_"), Active: true, CreatedBy: c.TokenID, CreatedAt: now, UpdatedAt: now,
		Secrets: []notify.Secret{notify.NewSecret(now)}}
	if err := s.webhookFrom(r.Context(), c, &q, h, false); err != nil {
		return err
	}
	mine, err := s.store.Webhooks(r.Context(), c.TokenID)
	if err != nil {
		return err
	}
	if len(mine) >= maxWebhooksPerOwner {
		return cloud.Errorf(cloud.ECONFLICT, "a token may register at most %d webhooks", maxWebhooksPerOwner)
	}
	if err := s.store.CreateWebhook(r.Context(), h); err != nil {
		return err
	}
	v := webhookView(h)
	v.Secret = h.Secrets[0].Value
	w.Header().Set("Location", "/api/v1/webhooks/"+h.ID)
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.mayManageWebhooks(); err != nil {
		return err
	}
	owner := c.TokenID
	if c.Role == cloud.RoleAdmin {
		owner = ""
	}
	hooks, err := s.store.Webhooks(r.Context(), owner)
	if err != nil {
		return err
	}
	out := struct {
		Items []WebhookView `json:"items"`
	}{Items: make([]WebhookView, 0, len(hooks))}
	for _, h := range hooks {
		out.Items = append(out.Items, webhookView(h))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookView(h))
}

func (s *Server) putWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	var q WebhookRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	if err := s.webhookFrom(r.Context(), c, &q, h, true); err != nil {
		return err
	}
	h.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateWebhook(r.Context(), h); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookView(h))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhook(r.Context(), h.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RotateRequest asks for a new secret; Grace ("24h", "0s") is how long the
// current secrets keep signing beside it.
type RotateRequest struct {
	Grace string `json:"grace,omitempty"`
}

func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	var q RotateRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &q); err != nil {
			return err
		}
	}
	grace := DefaultRotationGrace
	if q.Grace != "" {
		d, err := time.ParseDuration(q.Grace)
		if err != nil || d < 0 || d > maxRotationGrace {
			return cloud.FieldError("grace", "want a duration from 0s to %s, got %q", maxRotationGrace, q.Grace)
		}
		grace = d
	}
	fresh, err := s.store.RotateWebhookSecret(r.Context(), h.ID, s.now().UTC(), grace)
	if err != nil {
		return err
	}
	if h, err = s.store.Webhook(r.Context(), h.ID); err != nil {
		return err
	}
	v := webhookView(h)
	v.Secret = fresh.Value
	return writeJSON(w, http.StatusOK, v)
}

// DeliveryView is one delivery of a webhook with its attempts.
type DeliveryView struct {
	// ID is what the receiver got in Frostline-Delivery.
	ID        string        `json:"id"`
	Event     string        `json:"event"`
	Type      string        `json:"type"`
	WorkOrder string        `json:"work_order"`
	State     notify.State  `json:"state"`
	Attempts  int           `json:"attempts"`
	Replays   int           `json:"replays,omitempty"`
	NextAt    *time.Time    `json:"next_at,omitempty"`
	LastError string        `json:"last_error,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Log       []AttemptView `json:"log"`
}

// AttemptView is one attempt in the delivery log.
type AttemptView struct {
	N        int            `json:"attempt"`
	At       time.Time      `json:"at"`
	URL      string         `json:"url"`
	Status   int            `json:"status,omitempty"`
	Error    string         `json:"error,omitempty"`
	Response string         `json:"response,omitempty"`
	TookMS   float64        `json:"took_ms"`
	Outcome  notify.Outcome `json:"outcome"`
	NextAt   *time.Time     `json:"next_at,omitempty"`
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	state := notify.State(q.Get("state"))
	if state != "" && !slices.Contains([]notify.State{notify.Pending, notify.Delivered, notify.Dead}, state) {
		return cloud.FieldError("state", "want pending, delivered or dead, got %q", state)
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return cloud.FieldError("limit", "want 1-500, got %q", v)
		}
		limit = n
	}
	ds, err := s.store.WebhookDeliveries(r.Context(), h.ID, state, limit)
	if err != nil {
		return err
	}
	out := struct {
		Items []DeliveryView `json:"items"`
	}{Items: make([]DeliveryView, 0, len(ds))}
	for _, d := range ds {
		v := DeliveryView{ID: d.ID, Event: d.Event, Type: d.Type, WorkOrder: d.WorkOrder, State: d.State, Attempts: d.Attempts,
			Replays: d.Replays, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Log: make([]AttemptView, 0, len(d.Log))}
		if d.State == notify.Pending {
			next := d.NextAt
			v.NextAt = &next
		}
		for _, a := range d.Log {
			av := AttemptView{N: a.N, At: a.At, URL: a.URL, Status: a.Status, Error: a.Error, Response: a.Response,
				TookMS: float64(a.Took.Microseconds()) / 1000, Outcome: a.Outcome}
			if !a.NextAt.IsZero() {
				next := a.NextAt
				av.NextAt = &next
			}
			v.Log = append(v.Log, av)
		}
		out.Items = append(out.Items, v)
	}
	return writeJSON(w, http.StatusOK, out)
}

// replayDelivery re-queues a dead delivery. {delivery} is the delivery's
// event id ("wo_...-7") or its whole id ("wh_.../wo_...-7", escaped).
func (s *Server) replayDelivery(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownedWebhook(r, c)
	if err != nil {
		return err
	}
	id := r.PathValue("delivery")
	if !strings.Contains(id, "/") {
		id = h.ID + "/" + id
	}
	if err := s.store.ReplayDelivery(r.Context(), h.ID, id, s.now().UTC()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, struct {
		ID    string       `json:"id"`
		State notify.State `json:"state"`
	}{id, notify.Pending})
}
