// Package http is the cloud service's face: the JSON API under /api/v1
// that every other part of Frostline uses, and the server-rendered pages
// for store staff and facilities managers.
//
// Every request is authenticated by a bearer token (a cookie for pages),
// resolved to a cloud.Principal and its cloud.Scope; an object outside the
// scope answers 404, so ids cannot be probed. Errors are one type,
// cloud.Error, written as RFC 9457 problem+json by writeError, the one place
// that maps codes to statuses.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// Store is what the API needs of a store: its own needs below, and those
// of its route files (vendorStore, pmStore, purchasingStore, webhookStore,
// kpiStore), each declared beside the routes that use it.
type Store interface {
	store.Updater
	vendorStore
	pmStore
	purchasingStore
	webhookStore
	kpiStore
	windowStore
	peopleStore
	invoicing.Store
	ratingStore
	WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error)
	Events(ctx context.Context, id string) ([]workorder.Event, error)
	WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
	PutSite(ctx context.Context, s *cloud.Site) error
	Site(ctx context.Context, id string) (*cloud.Site, error)
	Sites(ctx context.Context, only []string) ([]*cloud.Site, error)
	SitesInRegion(ctx context.Context, region string) ([]string, error)
	DeleteSite(ctx context.Context, id string) error
	PutAsset(ctx context.Context, a *cloud.Asset) error
	Asset(ctx context.Context, site, id string) (*cloud.Asset, error)
	Assets(ctx context.Context, site string) ([]*cloud.Asset, error)
	DeleteAsset(ctx context.Context, site, id string) error
	PutToken(ctx context.Context, hash string, p *cloud.Principal) error
	Token(ctx context.Context, hash string, now time.Time) (*cloud.Principal, error)
	PutSession(ctx context.Context, hash string, s *cloud.Session) error
	Session(ctx context.Context, hash string, now time.Time, idle time.Duration) (*cloud.Principal, *cloud.Session, error)
	TouchSession(ctx context.Context, hash string, at time.Time, every time.Duration) error
	DeleteSession(ctx context.Context, hash string) error
	Tokens(ctx context.Context) ([]*cloud.Principal, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error
	Photo(ctx context.Context, workOrder, id string) (contentType string, data []byte, err error)
}

// Limits on what a request may send.
const (
	MaxJSONBody = 64 << 10 // API request bodies
	MaxFormBody = 64 << 10 // page forms
	MaxPhoto    = 6 << 20  // one photo with a report
)

// Server serves the API and the pages.
type Server struct {
	store  Store
	trends Trends // nil: no time-series database to extend the charts
	intake *workorder.Intake[store.Tx]
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	// routes lists the API's method+pattern pairs, for the OpenAPI check.
	routes  []string
	latency *prometheus.HistogramVec
	merges  prometheus.Counter
	// dispatch is the dispatcher, told when the vendor register changes
	// and asked for its ranking weights; nil without one.
	dispatch *dispatch.Service
	// allowPrivateTargets and lookupHost: webhook registration's check
	// of its target (Options).
	allowPrivateTargets bool
	lookupHost          notify.Lookup
	auth                AuthConfig
	// proxies are the TLS-terminating proxies whose X-Forwarded-Proto and
	// X-Forwarded-For are believed.
	proxies []netip.Prefix
	// unlisted warns, once, of requests forwarded by a proxy that
	// proxies does not list.
	unlisted sync.Once
	limiter  *limiter // backoff on failed authentications
	authm    authMetrics
	// links checks the acknowledge links in notifications; nil: none.
	links *notify.Links
	// invoices is the invoice policy; nil: invoicing.DefaultPolicy.
	invoices *invoicing.Policy
	// planner tells vendors of disputed invoices; nil: nobody is told.
	planner *notify.Planner
}

// Options configure a Server.
type Options struct {
	Store    Store
	Intake   *workorder.Intake[store.Tx]
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: metrics not registered
	Now      func() time.Time      // nil: time.Now
	Dispatch *dispatch.Service     // nil: no dispatcher to tell of vendor changes
	// AllowPrivateTargets lets webhooks be registered for loopback and
	// private addresses (webhooks.allow_private_targets: delivery reaches
	// them too); otherwise registration refuses what delivery would.
	AllowPrivateTargets bool
	// LookupHost resolves a webhook's host at registration; nil: DNS.
	LookupHost notify.Lookup
	Auth       *AuthConfig // nil: DefaultAuthConfig
	// Trends extends the evidence charts from the time-series database;
	// nil: they show the windows the incidents carried.
	Trends Trends
	// TrustedProxies are the proxies whose X-Forwarded-Proto and
	// X-Forwarded-For headers are believed (see ParseProxies).
	TrustedProxies []netip.Prefix
	// Links checks acknowledge links (/ack/{token}); nil: they are
	// refused.
	Links *notify.Links
	// Invoices is the policy submitted invoices are checked and approved
	// by; nil: invoicing.DefaultPolicy.
	Invoices *invoicing.Policy
	// Planner plans the notifications the API makes itself (an invoice
	// disputed); nil when no channel is configured.
	Planner *notify.Planner
}

// New returns a server with every route registered.
func New(o Options) *Server {
	s := &Server{store: o.Store, intake: o.Intake, log: o.Log.With("component", "http"), now: o.Now, mux: http.NewServeMux(), dispatch: o.Dispatch,
		allowPrivateTargets: o.AllowPrivateTargets, lookupHost: o.LookupHost, links: o.Links, invoices: o.Invoices, planner: o.Planner,
		trends: o.Trends}
	if s.now == nil {
		s.now = time.Now
	}
	s.auth, s.proxies = DefaultAuthConfig(), o.TrustedProxies
	if o.Auth != nil {
		s.auth = *o.Auth
	}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "frostline_http_request_duration_seconds", Help: "HTTP request latency by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
	}, []string{"route", "code"})
	s.merges = prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_report_merges_total",
		Help: "Manual reports merged into an open work order (dedup)."})
	s.limiter, s.authm = newLimiter(s.auth.Backoff), newAuthMetrics()
	if o.Registry != nil {
		o.Registry.MustRegister(s.latency, s.merges, s.authm.failures, s.authm.throttled, s.limiter.tracked, s.limiter.evicted)
	}
	s.routesAPI()
	s.routesRegister()
	s.routesTokens()
	s.routesAnalytics()
	s.routesWebhooks()
	s.routesVendors()
	s.routesPM()
	s.routesPurchasing()
	s.routesPeople()
	s.routesInvoices()
	s.routesRatings()
	s.routesPages()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Routes returns the API routes as "METHOD /path" for documentation checks.
func (s *Server) Routes() []string { return s.routes }

// api registers an authenticated API route.
func (s *Server) api(pattern string, h func(w http.ResponseWriter, r *http.Request, p *caller) error) {
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, s.instrument(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, false)
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// instrument records the latency of a route.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.latency.WithLabelValues(route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// caller is an authenticated request's principal and resolved scope.
type caller struct {
	*cloud.Principal
	scope cloud.Scope
}

func (c *caller) actor() string {
	if c.Name != "" {
		return c.Name
	}
	return c.TokenID
}

// scopeOf resolves what a principal may see.
func (s *Server) scopeOf(ctx context.Context, p *cloud.Principal) (cloud.Scope, error) {
	switch p.Role {
	case cloud.RoleAdmin:
		return cloud.Scope{All: true}, nil
	case cloud.RoleFM:
		if p.Region == "" && len(p.Sites) == 0 {
			return cloud.Scope{All: true}, nil
		}
		sites := append([]string{}, p.Sites...)
		if p.Region != "" {
			in, err := s.store.SitesInRegion(ctx, p.Region)
			if err != nil {
				return cloud.Scope{}, err
			}
			sites = append(sites, in...)
		}
		return cloud.Scope{Sites: sites}, nil
	case cloud.RoleStore:
		return cloud.Scope{Sites: append([]string{}, p.Sites...)}, nil
	case cloud.RoleVendor:
		return cloud.Scope{Vendor: p.Vendor}, nil
	case cloud.RoleTechnician:
		return cloud.Scope{Vendor: p.Vendor, Technician: p.Name}, nil
	}
	return cloud.Scope{}, nil
}

// may returns EFORBIDDEN unless the caller has one of roles.
func (c *caller) may(roles ...cloud.Role) error {
	for _, r := range roles {
		if c.Role == r {
			return nil
		}
	}
	return cloud.Errorf(cloud.EFORBIDDEN, "a %s may not do this", c.Role)
}
