package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// pmStore is what the maintenance routes need of a store.
type pmStore interface {
	pm.Store
	PutPMSchedule(ctx context.Context, s *pm.Schedule, seen int) error
	PMSchedule(ctx context.Context, id string) (*pm.Schedule, error)
	DeletePMSchedule(ctx context.Context, id string) error
	PutPMCalendar(ctx context.Context, c *pm.StoreCalendar) error
	PMOccurrences(ctx context.Context, site string, from, to time.Time) ([]pm.Visit, error)
	RecordRuntime(ctx context.Context, site string, samples []pm.Sample) error
}

func (s *Server) routesPM() {
	s.api("GET /api/v1/pm/schedules", s.listSchedules)
	s.api("POST /api/v1/pm/schedules", s.createSchedule)
	s.api("GET /api/v1/pm/schedules/{id}", s.getSchedule)
	s.api("PUT /api/v1/pm/schedules/{id}", s.putSchedule)
	s.api("DELETE /api/v1/pm/schedules/{id}", s.deleteSchedule)
	s.api("GET /api/v1/pm/forecast", s.forecast)
	s.api("GET /api/v1/pm/compliance", s.compliance)
	s.api("GET /api/v1/pm/calendars/{site}", s.getCalendar)
	s.api("PUT /api/v1/pm/calendars/{site}", s.putCalendar)
	s.api("POST /api/v1/pm/runtime/{site}", s.postRuntime)
	s.api("POST /api/v1/workorders/{id}/checklist", s.checklist)
	s.api("POST /api/v1/workorders/{id}/corrective", s.corrective)
}

// managesSchedule: FMs and admins manage schedules of their sites; a
// schedule for a class at every site needs a caller who sees every site.
func (c *caller) managesSchedule(sc *pm.Schedule) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	if sc.Site == "" && !c.scope.All {
		return cloud.FieldError("site", "a schedule for every site needs access to every site; name a site")
	}
	if sc.Site != "" && !c.scope.SeesSite(sc.Site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", sc.Site)
	}
	return nil
}

// seesSchedule: store staff and FMs see the schedules of their sites (and
// the class-wide ones, which apply there); vendors see none.
func (c *caller) seesSchedule(sc *pm.Schedule) bool {
	return sc.Site == "" || c.scope.SeesSite(sc.Site)
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	site := r.URL.Query().Get("site")
	if site != "" && !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	all, err := s.store.PMSchedules(r.Context(), site)
	if err != nil {
		return err
	}
	out := []*pm.Schedule{}
	for _, sc := range all {
		if c.seesSchedule(sc) {
			out = append(out, sc)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// readSchedule decodes a schedule body strictly and validates it. A
// schedule without a start starts at start (now for a new one, the
// stored start for a replacement), to the minute.
func readSchedule(w http.ResponseWriter, r *http.Request, start time.Time) (*pm.Schedule, error) {
	var sc pm.Schedule
	if err := decodeJSON(w, r, &sc); err != nil {
		return nil, err
	}
	if sc.Start.IsZero() {
		sc.Start = start.Truncate(time.Minute)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	sc, err := readSchedule(w, r, s.now().UTC())
	if err != nil {
		return err
	}
	if err := c.managesSchedule(sc); err != nil {
		return err
	}
	if sc.ID == "" {
		sc.ID = cloud.NewID("pms_")
	} else if !cloud.ValidID(sc.ID) {
		return cloud.FieldError("id", "%q is not a valid id", sc.ID)
	}
	now := s.now().UTC()
	sc.Version, sc.CreatedAt, sc.UpdatedAt = 1, now, now
	if err := s.store.PutPMSchedule(r.Context(), sc, 0); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/pm/schedules/"+sc.ID)
	return writeJSON(w, http.StatusCreated, sc)
}

// visibleSchedule loads a schedule the caller may see, or ENOTFOUND.
func (s *Server) visibleSchedule(r *http.Request, c *caller) (*pm.Schedule, error) {
	sc, err := s.store.PMSchedule(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !c.seesSchedule(sc) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "schedule %s not found", sc.ID)
	}
	return sc, nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	sc, err := s.visibleSchedule(r, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sc)
}

// putSchedule replaces a schedule. The body's version, if given, must be
// the stored one (optimistic locking); the work orders already generated
// keep the template they were made with.
func (s *Server) putSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	old, err := s.visibleSchedule(r, c)
	if err != nil {
		return err
	}
	if err := c.managesSchedule(old); err != nil {
		return err
	}
	sc, err := readSchedule(w, r, old.Start)
	if err != nil {
		return err
	}
	if err := c.managesSchedule(sc); err != nil {
		return err
	}
	if sc.ID != "" && sc.ID != old.ID {
		return cloud.FieldError("id", "the id is the path's")
	}
	if sc.Version != 0 && sc.Version != old.Version {
		return cloud.Errorf(cloud.ECONFLICT, "schedule %s is at version %d, not %d; reload and try again", old.ID, old.Version, sc.Version)
	}
	sc.ID, sc.Version, sc.CreatedAt, sc.UpdatedAt = old.ID, old.Version+1, old.CreatedAt, s.now().UTC()
	if err := s.store.PutPMSchedule(r.Context(), sc, old.Version); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sc)
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	sc, err := s.visibleSchedule(r, c)
	if err != nil {
		return err
	}
	if err := c.managesSchedule(sc); err != nil {
		return err
	}
	if err := s.store.DeletePMSchedule(r.Context(), sc.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// period reads from and to (RFC 3339), both required, to after from.
func period(r *http.Request, maxSpan time.Duration) (time.Time, time.Time, error) {
	var out [2]time.Time
	for i, name := range []string{"from", "to"} {
		v := r.URL.Query().Get(name)
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return out[0], out[1], cloud.FieldError(name, "required: an RFC 3339 time, got %q", v)
		}
		out[i] = t.UTC()
	}
	if !out[1].After(out[0]) || out[1].Sub(out[0]) > maxSpan {
		return out[0], out[1], cloud.FieldError("to", "want a time after from, at most %d days later", int(maxSpan.Hours()/24))
	}
	return out[0], out[1], nil
}

// forecast answers the visits due in a period at a site (or every site the
// caller sees), for budgeting.
func (s *Server) forecast(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	from, to, err := period(r, pm.MaxForecast)
	if err != nil {
		return err
	}
	site := r.URL.Query().Get("site")
	if site == "" && !c.scope.All {
		return cloud.FieldError("site", "required: a site you can see")
	}
	if site != "" && !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	items, err := pm.Forecast(r.Context(), s.store, site, from, to, s.now().UTC())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// Compliance is the PM compliance KPI over a period: of the visits due in
// it, how many were completed within the window after their due time.
type Compliance struct {
	Due       int     `json:"due"`
	OnTime    int     `json:"completed_on_time"`
	Late      int     `json:"completed_late"`
	Open      int     `json:"not_completed"`
	Ratio     float64 `json:"compliance"`
	Window    string  `json:"window"`
	Generated int     `json:"generated"`
}

// completed is when a work order's work was completed (the check-out of
// the visit that completed it), or nil.
func completed(w *workorder.WorkOrder) *time.Time {
	switch w.Status {
	case workorder.WorkComplete, workorder.Verifying, workorder.Verified, workorder.Closed:
	default:
		return nil
	}
	for i := len(w.Visits) - 1; i >= 0; i-- {
		if w.Visits[i].Out != nil {
			return w.Visits[i].Out
		}
	}
	return &w.UpdatedAt
}

func (s *Server) compliance(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	from, to, err := period(r, pm.MaxForecast)
	if err != nil {
		return err
	}
	site := r.URL.Query().Get("site")
	if site == "" && !c.scope.All {
		return cloud.FieldError("site", "required: a site you can see")
	}
	if site != "" && !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	window := 7 * 24 * time.Hour
	if v := r.URL.Query().Get("window"); v != "" {
		var d pm.Duration
		if err := json.Unmarshal([]byte(strconv.Quote(v)), &d); err != nil || d.D() > 90*24*time.Hour {
			return cloud.FieldError("window", "want a duration up to 90d, such as 7d")
		}
		window = d.D()
	}
	occs, err := s.store.PMOccurrences(r.Context(), site, from, to)
	if err != nil {
		return err
	}
	k := Compliance{Window: rules.Duration(window).String()}
	for _, o := range occs {
		if o.WorkOrder == "" {
			continue
		}
		k.Generated++
		wo, err := s.store.WorkOrder(r.Context(), o.WorkOrder)
		if err != nil {
			return err
		}
		if wo.Status == workorder.Cancelled || wo.Status == workorder.Duplicate {
			continue // not due any more
		}
		k.Due++
		switch at := completed(wo); {
		case at == nil:
			k.Open++
		case !at.After(o.DueAt.Add(window)):
			k.OnTime++
		default:
			k.Late++
		}
	}
	if k.Due > 0 {
		k.Ratio = float64(k.OnTime) / float64(k.Due)
	}
	return writeJSON(w, http.StatusOK, k)
}

func (s *Server) getCalendar(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	site := r.PathValue("site")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	cals, err := s.store.PMCalendars(r.Context(), []string{site})
	if err != nil {
		return err
	}
	cal := cals[site]
	if cal == nil {
		cal = &pm.StoreCalendar{Site: site}
	}
	return writeJSON(w, http.StatusOK, cal)
}

func (s *Server) putCalendar(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	site := r.PathValue("site")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	if _, err := s.store.Site(r.Context(), site); err != nil {
		return err
	}
	var cal pm.StoreCalendar
	if err := decodeJSON(w, r, &cal); err != nil {
		return err
	}
	if cal.Site == "" {
		cal.Site = site
	}
	if cal.Site != site {
		return cloud.FieldError("site", "the site is the path's")
	}
	if err := cal.Compile(); err != nil {
		return err
	}
	if err := s.store.PutPMCalendar(r.Context(), &cal); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &cal)
}

// postRuntime records runtime samples for a site's assets (an integration
// without the edge's telemetry stream, or a back-fill).
func (s *Server) postRuntime(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	site := r.PathValue("site")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	var q struct {
		Samples []pm.Sample `json:"samples"`
	}
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	if len(q.Samples) == 0 || len(q.Samples) > 1000 {
		return cloud.FieldError("samples", "send 1 to 1000 samples")
	}
	for i := range q.Samples {
		if err := q.Samples[i].Validate(); err != nil {
			return cloud.FieldError("samples["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	if err := s.store.RecordRuntime(r.Context(), site, q.Samples); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]int{"recorded": len(q.Samples)})
}

// ChecklistRequest answers checklist items of a planned visit.
type ChecklistRequest struct {
	Answers  []workorder.Answer `json:"answers"`
	SignedBy string             `json:"signed_by,omitempty"`
}

func (s *Server) checklist(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q ChecklistRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	if len(q.Answers) > 200 || len(q.SignedBy) > 200 {
		return cloud.FieldError("answers", "at most 200 answers")
	}
	id := r.PathValue("id")
	var out *workorder.WorkOrder
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		wo, err := tx.WorkOrder(r.Context(), id)
		if err != nil {
			return err
		}
		if wo == nil || !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
		}
		ev, err := wo.Checked(q.Answers, q.SignedBy, c.actor(), c.Role, s.now().UTC())
		if err != nil {
			return err
		}
		out = wo
		return tx.Save(r.Context(), wo, ev)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(c, out))
}

// corrective raises the work order for a failed checklist item of a
// planned visit, linked to it.
func (s *Server) corrective(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician); err != nil {
		return err
	}
	var q struct {
		Item string `json:"item"`
	}
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	id := r.PathValue("id")
	var res workorder.Result
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		wo, err := tx.WorkOrder(r.Context(), id)
		if err != nil {
			return err
		}
		if wo == nil || !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
		}
		res, err = s.intake.Corrective(r.Context(), tx, wo, q.Item, c.actor(), s.now().UTC())
		return err
	})
	if err != nil {
		return err
	}
	if res.Reason == workorder.Repeat {
		return cloud.Errorf(cloud.ECONFLICT, "corrective work for item %s was already raised", q.Item)
	}
	w.Header().Set("Location", "/api/v1/workorders/"+res.WorkOrder.ID)
	status := http.StatusCreated
	if res.Reason == workorder.Merged {
		status = http.StatusOK
	}
	// The caller raised it; what they see of it is their scope's business.
	if !c.scope.SeesWorkOrder(res.WorkOrder.Site, res.WorkOrder.Vendor, res.WorkOrder.Technician) {
		return writeJSON(w, status, map[string]any{"id": res.WorkOrder.ID, "number": res.WorkOrder.Number, "origin": res.WorkOrder.Origin})
	}
	return writeJSON(w, status, view(c, res.WorkOrder))
}
