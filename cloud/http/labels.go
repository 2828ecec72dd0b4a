package http

import (
	"net/http"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/workorder"
)

// labelsParams are the query parameters GET /analytics/labels accepts.
var labelsParams = []string{"from", "to"}

// labels answers GET /api/v1/analytics/labels: the fleet's own outcomes
// over [from, to) as a labels file (docs/labels.md) for `frostline rules
// score`, within the caller's sites. A vendor's or technician's scope is
// its own assignments, not a fleet's outcomes: they are refused.
func (s *Server) labels(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	from, to, err := parseLabelsQuery(r, s.now())
	if err != nil {
		return err
	}
	var only []string
	if !c.scope.All {
		only = append([]string{}, c.scope.Sites...)
	}
	var assets []*cloud.Asset
	if c.scope.All || len(only) > 0 {
		sites, err := s.store.Sites(r.Context(), only)
		if err != nil {
			return err
		}
		for _, site := range sites {
			as, err := s.store.Assets(r.Context(), site.ID)
			if err != nil {
				return err
			}
			assets = append(assets, as...)
		}
	}
	var wos []*workorder.WorkOrder
	var before int64
	for {
		page, err := s.store.WorkOrders(r.Context(), workorder.Filter{Source: string(workorder.Sensor), From: from, To: to,
			Before: before, Limit: 500, Scope: c.scope})
		if err != nil {
			return err
		}
		wos = append(wos, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].Number
	}
	w.Header().Set("Content-Disposition", `attachment; filename="labels.json"`)
	return writeJSON(w, http.StatusOK, analytics.Labels(from, to, assets, wos))
}

// parseLabelsQuery reads from and to (RFC 3339 or a date); to defaults to
// now and from to 30 days before to.
func parseLabelsQuery(r *http.Request, now time.Time) (from, to time.Time, err error) {
	v := r.URL.Query()
	for name, vals := range v {
		if name == "" {
			return from, to, cloud.FieldError("query", "a parameter without a name")
		}
		if !slices.Contains(labelsParams, name) {
			return from, to, cloud.FieldError(name, "unknown parameter (want from and to)")
		}
		if len(vals) > 1 {
			return from, to, cloud.FieldError(name, "given %d times; give it once", len(vals))
		}
	}
	if to, err = parseWhen(v.Get("to"), "to", now); err != nil {
		return from, to, err
	}
	if from, err = parseWhen(v.Get("from"), "from", to.Add(-DefaultKPIPeriod)); err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, cloud.FieldError("to", "to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return from, to, nil
}
