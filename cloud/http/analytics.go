package http

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/rules"
)

// kpiStore is what the analytics routes need of a store.
type kpiStore interface {
	KPIs(ctx context.Context, q analytics.Query) (*analytics.Report, error)
}

// DefaultKPIPeriod is the period of a KPI query that names none: the 30
// days up to now.
const DefaultKPIPeriod = 30 * 24 * time.Hour

func (s *Server) routesAnalytics() {
	s.api("GET /api/v1/analytics/kpis", s.kpis)
	s.api("GET /api/v1/analytics/labels", s.labels)
}

// kpiParams are the query parameters GET /analytics/kpis accepts.
var kpiParams = []string{"from", "to", "group_by", "format"}

// kpis answers GET /api/v1/analytics/kpis: the KPIs over a period, sliced
// by the dimensions given and grouped by group_by, within the caller's
// scope (an FM of a region sees its sites, a vendor its own work). JSON,
// or CSV with format=csv or Accept: text/csv.
func (s *Server) kpis(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, csv, err := parseKPIQuery(r, s.now())
	if err != nil {
		return err
	}
	q.Scope = c.scope
	rep, err := s.store.KPIs(r.Context(), q)
	if err != nil {
		return err
	}
	if csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="kpis.csv"`)
		return rep.WriteCSV(w)
	}
	return writeJSON(w, http.StatusOK, rep)
}

// parseKPIQuery reads and checks the query string; every error names its
// parameter.
func parseKPIQuery(r *http.Request, now time.Time) (analytics.Query, bool, error) {
	v := r.URL.Query()
	q := analytics.Query{Now: now, Filter: map[analytics.Dimension]string{}}
	for name, vals := range v {
		if name == "" {
			return q, false, cloud.FieldError("query", "a parameter without a name")
		}
		if _, dim := analytics.ParseDimension(name); !dim && !slices.Contains(kpiParams, name) {
			return q, false, cloud.FieldError(name, "unknown parameter (want from, to, group_by, format or a dimension: %s)", dims())
		}
		if len(vals) > 1 {
			return q, false, cloud.FieldError(name, "given %d times; give it once", len(vals))
		}
	}
	var err error
	if q.To, err = parseWhen(v.Get("to"), "to", now); err != nil {
		return q, false, err
	}
	if q.From, err = parseWhen(v.Get("from"), "from", q.To.Add(-DefaultKPIPeriod)); err != nil {
		return q, false, err
	}
	if !q.From.Before(q.To) {
		return q, false, cloud.FieldError("to", "to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	for _, d := range analytics.Dimensions {
		val := v.Get(string(d))
		if val == "" {
			continue
		}
		var allowed []string
		switch d {
		case analytics.Priority:
			allowed = rules.Priorities
		case analytics.Source:
			allowed = []string{"sensor", "manual", "preventive"}
		case analytics.Trade:
			allowed = rules.Trades
		case analytics.AssetClass:
			allowed = rules.AssetClasses
		}
		if allowed != nil && !slices.Contains(allowed, val) {
			return q, false, cloud.FieldError(string(d), "unknown %s %q (want one of %s)", d, val, strings.Join(allowed, ", "))
		}
		q.Filter[d] = val
	}
	if g := v.Get("group_by"); g != "" {
		for _, name := range strings.Split(g, ",") {
			d, ok := analytics.ParseDimension(strings.TrimSpace(name))
			if !ok {
				return q, false, cloud.FieldError("group_by", "unknown dimension %q (want a comma-separated list of %s)", name, dims())
			}
			if slices.Contains(q.GroupBy, d) {
				return q, false, cloud.FieldError("group_by", "dimension %q given twice", d)
			}
			q.GroupBy = append(q.GroupBy, d)
		}
	}
	csv := false
	switch f := v.Get("format"); f {
	case "csv":
		csv = true
	case "json":
	case "":
		csv = strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		return q, false, cloud.FieldError("format", "want json or csv, got %q", f)
	}
	if err := q.Validate(); err != nil {
		return q, false, err
	}
	return q, csv, nil
}

// parseWhen reads an RFC 3339 time or a date (midnight UTC); def when
// empty.
func parseWhen(s, field string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, cloud.FieldError(field, "want an RFC 3339 time or a date (2026-03-01), got %q", s)
}

func dims() string {
	s := make([]string, len(analytics.Dimensions))
	for i, d := range analytics.Dimensions {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}
