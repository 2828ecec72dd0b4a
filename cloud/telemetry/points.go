package telemetry

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// Measurements, as docs/telemetry.md describes them.
const (
	Rollups   = "rollups"
	Signals   = "signals"
	Incidents = "incidents"
	KPIs      = "kpis"
)

// Precision is the timestamp precision of every point written.
const Precision = time.Millisecond

// lines is line protocol being built: one point per line, timestamps in
// milliseconds. It is encoded by hand rather than through write.Point so a
// batch of 5,000 points costs one buffer, not 5,000 maps.
type lines struct {
	b []byte
	n int // points
}

func (l *lines) reset() { l.b, l.n = l.b[:0], 0 }

// mark and rollback take back what was appended since the mark, such as
// the first points of a message found invalid half-way.
func (l *lines) mark() (int, int)     { return len(l.b), l.n }
func (l *lines) rollback(size, n int) { l.b, l.n = l.b[:size], n }

// start begins a point; tags are name, value pairs, empty values left out.
func (l *lines) start(measurement string, tags ...string) {
	if l.n > 0 {
		l.b = append(l.b, '\n')
	}
	l.b = append(l.b, measurement...)
	for i := 0; i+1 < len(tags); i += 2 {
		// Line protocol cannot end a tag value in a backslash (it would
		// escape the separator after it): trailing ones are dropped. Tag
		// values are ids and rule vocabulary, which have none.
		v := strings.TrimRight(tags[i+1], `\`)
		if v == "" {
			continue
		}
		l.b = append(l.b, ',')
		l.b = append(l.b, tags[i]...)
		l.b = append(l.b, '=')
		l.b = appendTag(l.b, v)
	}
	l.b = append(l.b, ' ')
}

// fieldSep is appended before every field but the first of a point.
func (l *lines) sep() {
	if c := l.b[len(l.b)-1]; c != ' ' {
		l.b = append(l.b, ',')
	}
}

func (l *lines) float(name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return // InfluxDB refuses them; the field is left unknown
	}
	l.sep()
	l.b = append(l.b, name...)
	l.b = append(l.b, '=')
	l.b = strconv.AppendFloat(l.b, v, 'f', -1, 64)
}

func (l *lines) floatp(name string, v *float64) {
	if v != nil {
		l.float(name, *v)
	}
}

func (l *lines) int(name string, v int) {
	l.sep()
	l.b = append(l.b, name...)
	l.b = append(l.b, '=')
	l.b = strconv.AppendInt(l.b, int64(v), 10)
	l.b = append(l.b, 'i')
}

func (l *lines) intp(name string, v *int) {
	if v != nil {
		l.int(name, *v)
	}
}

func (l *lines) str(name, v string) {
	if v == "" {
		return
	}
	l.sep()
	l.b = append(l.b, name...)
	l.b = append(l.b, '=', '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\':
			l.b = append(l.b, '\\', c)
		default:
			if c < 0x20 || c == 0x7f { // line breaks and other controls: parsers differ on them
				c = ' '
			}
			l.b = append(l.b, c)
		}
	}
	l.b = append(l.b, '"')
}

// end finishes a point at t. A point with no field is taken back: line
// protocol has no empty points.
func (l *lines) end(t time.Time, mark int) {
	if l.b[len(l.b)-1] == ' ' {
		l.b = l.b[:mark]
		return
	}
	l.b = append(l.b, ' ')
	l.b = strconv.AppendInt(l.b, t.UnixMilli(), 10)
	l.n++
}

// appendTag escapes a tag value: commas, equals signs and spaces are
// backslashed; control characters (line breaks) cannot be carried and
// become spaces.
func appendTag(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ',', '=', ' ':
			b = append(b, '\\', c)
		default:
			if c < 0x20 || c == 0x7f { // line breaks and other controls become (escaped) spaces
				b = append(b, '\\', ' ')
			} else {
				b = append(b, c)
			}
		}
	}
	return b
}

// ErrInvalid marks a message that can never be written: retrying cannot
// help, so the consumer terminates it (counted) instead of redelivering.
var ErrInvalid = errors.New("telemetry: invalid")

// telemetry appends the points of one batch: a rollups point per series
// and period, a signals point per asset and period.
func (l *lines) telemetry(t *wire.Telemetry) error {
	for i := range t.Rollups {
		r := &t.Rollups[i]
		if err := checkNames(t.Site, r.Asset); err != nil {
			return err
		}
		// The metric tag is bounded by Frostline's vocabulary: a name
		// outside it is refused, not stored as a new series.
		if rules.LookupMetric(r.Metric) == rules.NoMetric {
			return fmt.Errorf("%w: rollup of unknown metric %q", ErrInvalid, r.Metric)
		}
		mark := len(l.b)
		l.start(Rollups, "asset", r.Asset, "asset_class", r.Class, "metric", r.Metric, "site", t.Site)
		l.float("min", r.Min)
		l.float("mean", r.Mean)
		l.float("max", r.Max)
		l.float("last", r.Last)
		l.int("count", r.Count)
		l.end(r.Start, mark)
	}
	for i := range t.Signals {
		s := &t.Signals[i]
		if err := checkNames(t.Site, s.Asset); err != nil {
			return err
		}
		mark := len(l.b)
		l.start(Signals, "asset", s.Asset, "asset_class", s.Class, "site", t.Site)
		l.floatp("duty_cycle", s.DutyCycle)
		l.intp("compressor_starts", s.CompressorStarts)
		l.floatp("door_open_minutes", s.DoorOpenMinutes)
		l.intp("defrost_cycles", s.DefrostCycles)
		l.floatp("slope_per_hour", s.SlopePerHour)
		l.floatp("hours_to_limit", s.HoursToLimit)
		l.floatp("run_hours", s.RunHours)
		l.end(s.At, mark)
	}
	return nil
}

// idPattern is the form site files give site and asset ids (rules.ParseSite
// enforces it). Tags outside it are refused: they could only come from a
// misbehaving gateway, and each would be a new series.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// wholeSite is the asset of an incident about a whole store (a gateway
// offline).
const wholeSite = "*"

func checkNames(site, asset string) error {
	if site == "" || asset == "" {
		return fmt.Errorf("%w: empty site or asset", ErrInvalid)
	}
	if !idPattern.MatchString(site) {
		return fmt.Errorf("%w: site %q is not an id", ErrInvalid, site)
	}
	if asset != wholeSite && !idPattern.MatchString(asset) {
		return fmt.Errorf("%w: asset %q is not an id", ErrInvalid, asset)
	}
	return nil
}

// incident appends one incident event as an annotation point.
func (l *lines) incident(ev *rules.Event) error {
	if err := checkNames(ev.Site, ev.Asset); err != nil {
		return err
	}
	if ev.At.IsZero() || ev.Event == "" {
		return fmt.Errorf("%w: incident %s without time or event", ErrInvalid, ev.Incident)
	}
	mark := len(l.b)
	// rule is a tag, not only a field: two rules may name the same
	// problem on one asset and update in step (compressor-long-run and
	// compressor-high-duty do on the sample), and a point's identity is
	// its tags and time, so without it one would overwrite the other.
	// Rules are a bounded set, like problems.
	l.start(Incidents, "asset", ev.Asset, "event", string(ev.Event), "priority", ev.Priority,
		"problem", ev.Problem, "rule", ev.Rule, "site", ev.Site)
	l.str("incident", ev.Incident)
	l.str("title", ev.Title)
	l.str("summary", ev.Summary)
	l.float("value", ev.Value)
	l.float("peak", ev.Peak)
	l.floatp("limit", ev.Limit)
	if ev.PredictedAt != nil {
		l.float("hours_to_limit", math.Max(0, ev.PredictedAt.Sub(ev.At).Hours()))
	}
	switch {
	case ev.BreachedAt != nil:
		l.float("hours_to_breach", 0)
	case ev.PredictedBreachAt != nil:
		l.float("hours_to_breach", math.Max(0, ev.PredictedBreachAt.Sub(ev.At).Hours()))
	}
	l.end(ev.At, mark)
	return nil
}

// WorkOrderEvent is a work-order event as Grafana annotates graphs with
// it. The cloud maps its own events to it, so the schema does not follow
// every change of the work-order package.
type WorkOrderEvent struct {
	At        time.Time
	Site      string
	Asset     string
	Problem   string
	Priority  string
	Event     string // what happened: created, dispatched, on_site, completed, verified, avoided, reopened...
	WorkOrder string // the work order's number
	Incident  string // the incident that opened it, if any
	Vendor    string // not a tag: vendors come and go
	Summary   string
}

// workOrderEventPrefix tells work-order events apart from incident events
// in the shared event tag ("wo_dispatched" against "opened").
const workOrderEventPrefix = "wo_"

func (l *lines) workOrder(ev *WorkOrderEvent) error {
	if err := checkNames(ev.Site, ev.Asset); err != nil {
		return err
	}
	if ev.At.IsZero() || ev.Event == "" || ev.WorkOrder == "" {
		return fmt.Errorf("%w: work-order event without time, event or work order", ErrInvalid)
	}
	mark := len(l.b)
	l.start(Incidents, "asset", ev.Asset, "event", workOrderEventPrefix+ev.Event, "priority", ev.Priority,
		"problem", ev.Problem, "site", ev.Site)
	l.str("work_order", ev.WorkOrder)
	l.str("incident", ev.Incident)
	l.str("vendor", ev.Vendor)
	l.str("title", "WO "+ev.WorkOrder+" "+ev.Event)
	l.str("summary", ev.Summary)
	l.end(ev.At, mark)
	return nil
}

// KPI scopes: a point is about a whole site, one asset of it, or one
// vendor's work at it.
const (
	ScopeSite   = "site"
	ScopeAsset  = "asset"
	ScopeVendor = "vendor"
)

// KPI is one day's key figures for one scope, written by cloud/analytics.
type KPI struct {
	Day   time.Time // the day's start, in UTC
	Scope string    // ScopeSite, ScopeAsset or ScopeVendor
	Site  string
	// Region is the site's region, on site points (the dashboards'
	// region variable lists the sites of a region from them).
	Region string
	Asset  string // ScopeAsset only
	Vendor string // ScopeVendor only
	Values map[string]float64
}

// KPIFields are the fields a kpis point may carry, by scope; the
// dashboards use no others. Rates are fractions (0..1), times hours.
var KPIFields = map[string][]string{
	ScopeSite: {
		"created", "completed", "backlog",
		"backlog_age_0_2d", "backlog_age_2_7d", "backlog_age_7_30d", "backlog_age_30d_plus",
		"open_p1", "open_p2", "open_p3", "open_p4",
		"open_new", "open_dispatched", "open_in_progress", "open_on_hold", "open_verifying",
		"mttr_hours", "time_to_restore_hours", "response_accept_hours", "response_onsite_hours",
		"first_time_fix_rate", "recall_rate", "completion_rate",
		"sla_compliance", "sla_ack", "sla_arrive", "sla_complete", "sla_lateness_hours",
		"cost_per_wo", "cost_per_wo_nonzero", "nte_overrun_rate",
		"pm_ratio", "pm_ratio_cost", "pm_compliance", "doc_completion",
		"avoided", "call_avoidance_rate",
		"invoices", "invoices_approved", "invoice_cycle_hours", "invoice_dispute_rate",
		"ratings", "store_rating", "store_fixed_rate",
	},
	ScopeAsset: {
		"incidents", "work_orders", "recalls", "first_time_fix_rate",
		"mtbf_hours", "availability", "mttr_hours", "time_to_restore_hours",
	},
	ScopeVendor: {
		"completed", "first_time_fix_rate", "recall_rate", "mttr_hours",
		"dispatch_confirmation", "checkin_compliance", "on_time_arrival",
		"sla_compliance", "sla_lateness_hours", "cost_per_wo", "nte_overrun_rate", "score",
		"invoice_cycle_hours", "invoice_dispute_rate", "invoice_accuracy",
		"store_rating", "store_fixed_rate",
	},
}

func (l *lines) kpi(k *KPI) error {
	fields, ok := KPIFields[k.Scope]
	if !ok {
		return fmt.Errorf("%w: kpi scope %q (want site, asset or vendor)", ErrInvalid, k.Scope)
	}
	switch {
	case k.Site == "":
		return fmt.Errorf("%w: kpi without site", ErrInvalid)
	case (k.Scope == ScopeAsset) != (k.Asset != ""):
		return fmt.Errorf("%w: kpi asset is set for, and only for, scope asset", ErrInvalid)
	case (k.Scope == ScopeVendor) != (k.Vendor != ""):
		return fmt.Errorf("%w: kpi vendor is set for, and only for, scope vendor", ErrInvalid)
	}
	names := make([]string, 0, len(k.Values))
	for name := range k.Values {
		if !slices.Contains(fields, name) {
			return fmt.Errorf("%w: kpi field %q is not in the %s schema", ErrInvalid, name, k.Scope)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	mark := len(l.b)
	l.start(KPIs, "asset", k.Asset, "region", k.Region, "scope", k.Scope, "site", k.Site, "vendor", k.Vendor)
	for _, name := range names {
		l.float(name, k.Values[name])
	}
	l.end(k.Day, mark)
	return nil
}

// String is the line protocol built so far (for tests and logs).
func (l *lines) String() string { return strings.Clone(string(l.b)) }
