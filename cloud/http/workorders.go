package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// routesAPI registers the API's own routes (its description, and the
// answer for a path it does not have) and the work orders'; every other
// resource registers its routes in its own file (routesRegister,
// routesTokens, ...).
func (s *Server) routesAPI() {
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	// Anything else under the API answers in the API's own error format.
	s.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, cloud.Errorf(cloud.ENOTFOUND, "no endpoint %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
	})
	s.routes = append(s.routes, "GET /api/v1/openapi.json")
	s.api("GET /api/v1/workorders", s.listWorkOrders)
	s.api("POST /api/v1/workorders", s.report)
	s.api("GET /api/v1/workorders/{id}", s.getWorkOrder)
	s.api("GET /api/v1/workorders/{id}/events", s.workOrderEvents)
	s.api("POST /api/v1/workorders/{id}/actions/{action}", s.action)
	s.api("POST /api/v1/workorders/{id}/notes", s.note)
	s.api("GET /api/v1/workorders/{id}/photos/{photo}", s.photo)
	s.api("GET /api/v1/me", s.me)
}

// woView is a work order as a caller sees it: notes filtered by
// visibility.
type woView struct {
	*workorder.WorkOrder
	Merged *bool `json:"merged,omitempty"`
}

func view(c *caller, w *workorder.WorkOrder) woView {
	if c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician {
		cp := *w
		cp.Notes = slices.DeleteFunc(slices.Clone(w.Notes), func(n workorder.Note) bool { return n.Visibility != "shared" })
		w = &cp
	}
	return woView{WorkOrder: w}
}

type page struct {
	Items      []woView `json:"items"`
	NextCursor *string  `json:"next_cursor"`
}

// parseFilter reads the list filters from a query string.
func parseFilter(q map[string][]string) (workorder.Filter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := workorder.Filter{Site: get("site"), Asset: get("asset"), Source: get("source"),
		Priority: get("priority"), Trade: get("trade"), Vendor: get("vendor")}
	if v := get("status"); v != "" {
		st, ok := workorder.ParseStatus(v)
		if !ok {
			return f, cloud.FieldError("status", "unknown status %q", v)
		}
		f.Status = string(st)
	}
	if f.Priority != "" && !slices.Contains(rules.Priorities, f.Priority) {
		return f, cloud.FieldError("priority", "want P1-P4, got %q", f.Priority)
	}
	if f.Source != "" && !slices.Contains([]string{"sensor", "manual", "preventive"}, f.Source) {
		return f, cloud.FieldError("source", "want sensor, manual or preventive, got %q", f.Source)
	}
	if f.Trade != "" && !slices.Contains(rules.Trades, f.Trade) {
		return f, cloud.FieldError("trade", "unknown trade %q", f.Trade)
	}
	if get("open") == "true" {
		f.Open = true
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, cloud.FieldError(t.name, "want an RFC 3339 time, got %q", v)
			}
			*t.dst = tm
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return f, cloud.FieldError("limit", "want 1-500, got %q", v)
		}
		f.Limit = n
	}
	if v := get("cursor"); v != "" {
		n, ok := decodeCursor(v)
		if !ok {
			return f, cloud.FieldError("cursor", "not a cursor this API gave out")
		}
		f.Before = n
	}
	return f, nil
}

// EncodeCursor makes the opaque cursor for "numbers below n": clients see
// only a token, the last number seen, encoded.
func EncodeCursor(n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("wo:" + strconv.FormatInt(n, 10)))
}

func decodeCursor(s string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "wo:")
	n, err := strconv.ParseInt(v, 10, 64)
	return n, ok && err == nil && n > 0
}

func (s *Server) listWorkOrders(w http.ResponseWriter, r *http.Request, c *caller) error {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	f.Scope = c.scope
	ws, err := s.store.WorkOrders(r.Context(), f)
	if err != nil {
		return err
	}
	p := page{Items: make([]woView, 0, len(ws))}
	for _, wo := range ws {
		p.Items = append(p.Items, view(c, wo))
	}
	if len(ws) == f.Limit {
		cur := EncodeCursor(ws[len(ws)-1].Number)
		p.NextCursor = &cur
	}
	return writeJSON(w, http.StatusOK, p)
}

// visible loads a work order the caller may see, or answers ENOTFOUND.
func (s *Server) visible(r *http.Request, c *caller, id string) (*workorder.WorkOrder, error) {
	wo, err := s.store.WorkOrder(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
	}
	return wo, nil
}

func (s *Server) getWorkOrder(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(c, wo))
}

func (s *Server) workOrderEvents(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, err := s.store.Events(r.Context(), wo.ID)
	if err != nil {
		return err
	}
	if c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician {
		ev = slices.DeleteFunc(ev, func(e workorder.Event) bool { return e.Note != nil && e.Note.Visibility != "shared" })
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ev})
}

// ReportRequest is a person's report of a problem.
type ReportRequest struct {
	Site        string `json:"site"`
	Asset       string `json:"asset"`
	Problem     string `json:"problem"`
	Description string `json:"description"`
	Priority    string `json:"priority,omitempty"`
	Reporter    string `json:"reporter,omitempty"`
	// Photo is an optional picture of the problem, held to the same
	// checks as the report page's upload.
	Photo *PhotoUpload `json:"photo,omitempty"`
}

// PhotoUpload is a picture sent inside a JSON body: either a data URL
// ("data:image/jpeg;base64,...") or {"content_type": ..., "data": base64}.
// The bytes decide what it is, as for the page's upload: ContentType, if
// given, must agree with them.
type PhotoUpload struct {
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	// raw is a page upload's bytes, which need no base64 round trip.
	raw []byte
}

// UnmarshalJSON reads either form; checks are left to decode, so that
// errors name the field.
func (p *PhotoUpload) UnmarshalJSON(b []byte) error {
	var url string
	if err := json.Unmarshal(b, &url); err == nil {
		rest, ok := strings.CutPrefix(url, "data:")
		meta, data, ok2 := strings.Cut(rest, ",")
		ct, b64 := strings.CutSuffix(meta, ";base64")
		if !ok || !ok2 || !b64 {
			return cloud.FieldError("photo", "want a base64 data URL (data:image/jpeg;base64,...) or {content_type, data}")
		}
		p.ContentType, p.Data = ct, data
		return nil
	}
	type plain PhotoUpload // no UnmarshalJSON: no recursion
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode((*plain)(p)); err != nil {
		return cloud.FieldError("photo", "want a base64 data URL (data:image/jpeg;base64,...) or {content_type, data}")
	}
	return nil
}

// decode checks the picture as readPhoto checks an upload: at most
// MaxPhoto bytes, and an image by its bytes.
func (p *PhotoUpload) decode() (*upload, error) {
	data := p.raw
	if data == nil {
		if base64.StdEncoding.DecodedLen(len(p.Data)) > MaxPhoto+2 {
			return nil, &cloud.Error{Code: cloud.ETOOLARGE, Field: "photo", Message: "the photo is larger than 6 MB"}
		}
		var err error
		if data, err = base64.StdEncoding.DecodeString(p.Data); err != nil {
			return nil, cloud.FieldError("photo", "data is not base64")
		}
	}
	u, err := readPhoto(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if p.ContentType != "" && p.ContentType != u.contentType {
		return nil, cloud.FieldError("photo", "content type %q does not match the picture (%s)", p.ContentType, u.contentType)
	}
	return u, nil
}

// maxReportBody is the limit for a JSON report: a photo of MaxPhoto
// bytes in base64, and the rest of the report.
const maxReportBody = MaxJSONBody + (MaxPhoto+2)/3*4

// Validate checks a report's fields, naming the first at fault.
func (q *ReportRequest) Validate() error {
	switch {
	case !cloud.ValidID(q.Site):
		return cloud.FieldError("site", "required: a site id")
	case !cloud.ValidID(q.Asset) && q.Asset != rules.SiteAsset:
		return cloud.FieldError("asset", "required: an asset id, or %q for the whole site", rules.SiteAsset)
	case !slices.Contains(workorder.ReportProblems, q.Problem):
		return cloud.FieldError("problem", "unknown problem %q (want one of %s)", q.Problem, strings.Join(workorder.ReportProblems, ", "))
	case q.Priority != "" && !slices.Contains(rules.Priorities, q.Priority):
		return cloud.FieldError("priority", "want P1-P4, got %q", q.Priority)
	case utf8.RuneCountInString(q.Description) > 2000 || !utf8.ValidString(q.Description):
		return cloud.FieldError("description", "at most 2000 characters of UTF-8")
	case !cloud.PlainText(q.Reporter, 100):
		return cloud.FieldError("reporter", "at most 100 characters of plain text")
	}
	return nil
}

// submitReport validates and files a report for the caller, merging it
// into the open work order for the problem if there is one.
func (s *Server) submitReport(r *http.Request, c *caller, q ReportRequest, key string, photo *upload) (workorder.Result, error) {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return workorder.Result{}, err
	}
	if err := q.Validate(); err != nil {
		return workorder.Result{}, err
	}
	if !c.scope.SeesSite(q.Site) {
		return workorder.Result{}, cloud.Errorf(cloud.ENOTFOUND, "site %s not found", q.Site)
	}
	// The whole site ("*", the asset site-wide incidents such as
	// gateway_offline carry) is no register entry: the site must exist,
	// and a report on it merges with sensor work orders for the site.
	var class string
	if q.Asset == rules.SiteAsset {
		if _, err := s.store.Site(r.Context(), q.Site); err != nil {
			return workorder.Result{}, err
		}
	} else {
		asset, err := s.store.Asset(r.Context(), q.Site, q.Asset)
		if err != nil {
			return workorder.Result{}, err
		}
		class = asset.Class
	}
	if q.Reporter == "" {
		q.Reporter = c.actor()
	}
	// The events' actor is the authenticated principal; reporter is only
	// the name shown (a shared store tablet's user, say).
	rep := workorder.Report{Source: workorder.Manual, Site: q.Site, Asset: q.Asset, AssetClass: class,
		Problem: q.Problem, Priority: q.Priority, Description: q.Description, Reporter: q.Reporter, Actor: c.actor(), At: s.now().UTC()}
	if key != "" {
		rep.Key = "report:" + c.TokenID + ":" + key
	}
	var photoID string
	if photo != nil {
		photoID = cloud.NewID("ph_")
		rep.Photos = []string{photoID}
	}
	var res workorder.Result
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		var err error
		if res, err = s.intake.Receive(r.Context(), tx, rep); err != nil || photo == nil || res.WorkOrder == nil {
			return err
		}
		// A staff member's photo loses its EXIF position (withoutLocation).
		return putPhotos(r.Context(), tx, res.WorkOrder.ID, []workorder.Photo{{ID: photoID}}, []*upload{photo.withoutLocation()})
	})
	if err == nil && (res.Reason == workorder.Merged || res.Reason == workorder.Updated) {
		s.merges.Inc()
	}
	return res, err
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q ReportRequest
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxReportBody), &q); err != nil {
		return err
	}
	var photo *upload
	if q.Photo != nil {
		var err error
		if photo, err = q.Photo.decode(); err != nil {
			return err
		}
	}
	res, err := s.submitReport(r, c, q, r.Header.Get("Idempotency-Key"), photo)
	if err != nil {
		return err
	}
	if res.Reason == workorder.Repeat {
		return cloud.Errorf(cloud.ECONFLICT, "this Idempotency-Key was already used")
	}
	merged := res.Reason == workorder.Merged || res.Reason == workorder.Updated
	v := view(c, res.WorkOrder)
	v.Merged = &merged
	status := http.StatusCreated
	if merged {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/api/v1/workorders/"+res.WorkOrder.ID)
	return writeJSON(w, status, v)
}

// ActionRequest is the body of POST /workorders/{id}/actions/{action}.
// Which fields matter depends on the action.
type ActionRequest struct {
	Reason      string   `json:"reason,omitempty"`
	Version     int      `json:"version,omitempty"` // if set, the version the caller saw
	Vendor      string   `json:"vendor,omitempty"`
	Technician  string   `json:"technician,omitempty"`
	Lat         *float64 `json:"lat,omitempty"`
	Lon         *float64 `json:"lon,omitempty"`
	Override    string   `json:"override,omitempty"`
	DuplicateOf string   `json:"duplicate_of,omitempty"`
	// ETA is, on accept, when the technician expects to be on site.
	ETA *time.Time `json:"eta,omitempty"`
	// complete
	Problem         string             `json:"problem,omitempty"`
	Cause           string             `json:"cause,omitempty"`
	Remedy          string             `json:"remedy,omitempty"`
	Parts           []workorder.Part   `json:"parts,omitempty"`
	Labour          []workorder.Labour `json:"labour,omitempty"`
	Recommendations string             `json:"recommendations,omitempty"`
	// Photos are pictures of the visit, on check_in, check_out and
	// complete: at most MaxVisitPhotos, each held to the report's checks.
	Photos []VisitPhoto `json:"photos,omitempty"`
}

// VisitPhoto is a picture a technician attaches to a visit, and what it
// shows (workorder.PhotoKinds).
type VisitPhoto struct {
	Kind  string      `json:"kind"`
	Photo PhotoUpload `json:"photo"`
}

// MaxVisitPhotos is how many pictures one action may attach.
const MaxVisitPhotos = 4

// maxActionBody is the limit for an action's body: MaxVisitPhotos photos
// in base64 and the rest.
const maxActionBody = MaxJSONBody + MaxVisitPhotos*((MaxPhoto+2)/3*4+64)

// visitPhotos checks an action's pictures and gives each an id; the
// returned uploads are stored with the action, in its transaction.
func (q *ActionRequest) visitPhotos(action workorder.Action, at time.Time) ([]workorder.Photo, []*upload, error) {
	if len(q.Photos) == 0 {
		return nil, nil, nil
	}
	switch {
	case action != workorder.CheckIn && action != workorder.CheckOut && action != workorder.Complete:
		return nil, nil, cloud.FieldError("photos", "photos go with check_in, check_out or complete, not %s", action)
	case len(q.Photos) > MaxVisitPhotos:
		return nil, nil, cloud.FieldError("photos", "at most %d photos per action", MaxVisitPhotos)
	}
	refs := make([]workorder.Photo, len(q.Photos))
	ups := make([]*upload, len(q.Photos))
	for i := range q.Photos {
		p := &q.Photos[i]
		if !slices.Contains(workorder.PhotoKinds, p.Kind) {
			return nil, nil, cloud.FieldError(fmt.Sprintf("photos[%d].kind", i), "want one of %s", strings.Join(workorder.PhotoKinds, ", "))
		}
		u, err := p.Photo.decode()
		if err != nil {
			if e, ok := err.(*cloud.Error); ok {
				e.Field = fmt.Sprintf("photos[%d].photo", i)
			}
			return nil, nil, err
		}
		refs[i] = workorder.Photo{ID: cloud.NewID("ph_"), Kind: p.Kind, At: at}
		ups[i] = u
	}
	return refs, ups, nil
}

// validNumbers checks every number of an action at the API's edge,
// whatever the action: a position on the globe, parts and labour in
// their ranges (workorder.ValidLines). Nothing non-finite gets further.
func (q *ActionRequest) validNumbers() error {
	if q.Lat != nil && !cloud.InRange(*q.Lat, -90, 90) {
		return cloud.FieldError("lat", "lat must be a number in [-90, 90]")
	}
	if q.Lon != nil && !cloud.InRange(*q.Lon, -180, 180) {
		return cloud.FieldError("lon", "lon must be a number in [-180, 180]")
	}
	if (q.Lat == nil) != (q.Lon == nil) {
		return cloud.FieldError("lat", "give both lat and lon, or neither")
	}
	return workorder.ValidLines(q.Parts, q.Labour)
}

// apiActions are the actions people take through the API; the others
// (triage, release, avoid) are the service's own.
var apiActions = []workorder.Action{
	workorder.Accept, workorder.Decline, workorder.CheckIn, workorder.CheckOut, workorder.Complete,
	workorder.Verify, workorder.Hold, workorder.Resume, workorder.Cancel, workorder.Approve, workorder.Reopen,
	workorder.Dispatch, workorder.Close, workorder.MarkDuplicate, workorder.StartVerifying,
}

func (s *Server) action(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q ActionRequest
	if r.ContentLength != 0 {
		if err := decodeBody(http.MaxBytesReader(w, r.Body, maxActionBody), &q); err != nil {
			return err
		}
	}
	wo, err := s.act(r, c, r.PathValue("id"), workorder.Action(r.PathValue("action")), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(c, wo))
}

// act takes an action on a work order for the caller in one transaction.
func (s *Server) act(r *http.Request, c *caller, id string, action workorder.Action, q ActionRequest) (*workorder.WorkOrder, error) {
	if !slices.Contains(apiActions, action) {
		return nil, &cloud.Error{Code: cloud.ENOTFOUND, Field: "action", Message: "unknown action " + strconv.Quote(string(action))}
	}
	for _, l := range []struct {
		field   string
		n, most int
	}{{"reason", len(q.Reason), 2000}, {"recommendations", len(q.Recommendations), 4000}, {"parts", len(q.Parts), 100}, {"labour", len(q.Labour), 100}} {
		if l.n > l.most {
			return nil, cloud.FieldError(l.field, "at most %d", l.most)
		}
	}
	if err := q.validNumbers(); err != nil {
		return nil, err
	}
	in := workorder.Input{Actor: c.actor(), Role: c.Role, Reason: q.Reason, Vendor: q.Vendor, Technician: q.Technician,
		Lat: q.Lat, Lon: q.Lon, Override: q.Override, DuplicateOf: q.DuplicateOf, At: s.now().UTC()}
	if c.Role == cloud.RoleVendor && action == workorder.Dispatch {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a vendor may not dispatch")
	}
	if c.Role == cloud.RoleTechnician {
		in.Technician = c.Name // a technician acts as themself
	}
	if c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician {
		in.Vendor = c.Vendor // and answers for their own company
	}
	in.ETA = q.ETA
	if action == workorder.Complete {
		in.Completion = &workorder.Completion{Problem: q.Problem, Cause: q.Cause, Remedy: q.Remedy, Parts: q.Parts,
			Labour: q.Labour, Recommendations: q.Recommendations}
	}
	photos, uploads, perr := q.visitPhotos(action, in.At)
	if perr != nil {
		return nil, perr
	}
	in.Photos = photos
	var out *workorder.WorkOrder
	var refused error
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		refused = nil
		wo, err := tx.WorkOrder(r.Context(), id)
		if err != nil {
			return err
		}
		if wo == nil || !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
		}
		if q.Version != 0 && q.Version != wo.Version {
			return cloud.Errorf(cloud.ECONFLICT, "work order %d is at version %d, not %d; reload and try again", wo.Number, wo.Version, q.Version)
		}
		if action == workorder.MarkDuplicate && in.DuplicateOf != "" {
			// The original must exist and be one the caller sees, and
			// not be this work order.
			orig, err := tx.WorkOrder(r.Context(), in.DuplicateOf)
			if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
				return err
			}
			if orig == nil || orig.ID == wo.ID || !c.scope.SeesWorkOrder(orig.Site, orig.Vendor, orig.Technician) {
				return cloud.FieldError("duplicate_of", "no work order %q to be a duplicate of", in.DuplicateOf)
			}
		}
		if action == workorder.CheckIn || action == workorder.CheckOut || action == workorder.Complete {
			site, err := s.store.Site(r.Context(), wo.Site)
			if err == nil {
				in.Site = site
			}
		}
		ev, err := s.intake.Act(r.Context(), tx, wo, action, in)
		var moved *workorder.MovedOn
		if errors.As(err, &moved) {
			refused, err = moved.Err, nil // the refusal moved the work order on: keep that
		}
		if err != nil {
			return err
		}
		if refused == nil && len(uploads) > 0 {
			if err := putPhotos(r.Context(), tx, wo.ID, photos, uploads); err != nil {
				return err
			}
		}
		out = wo
		return tx.Save(r.Context(), wo, ev)
	})
	if err == nil && refused != nil {
		return nil, refused
	}
	return out, err
}

// NoteRequest adds a note.
type NoteRequest struct {
	Text       string `json:"text"`
	Visibility string `json:"visibility"` // internal (default) or shared
}

func (s *Server) note(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q NoteRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	if strings.TrimSpace(q.Text) == "" || utf8.RuneCountInString(q.Text) > 4000 {
		return cloud.FieldError("text", "required, at most 4000 characters")
	}
	switch q.Visibility {
	case "":
		q.Visibility = "internal"
	case "internal", "shared":
	default:
		return cloud.FieldError("visibility", "want internal or shared")
	}
	if (c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician) && q.Visibility != "shared" {
		q.Visibility = "shared" // a vendor's note is for the organisation to see
	}
	out, err := s.change(r, c, func(wo *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
		return wo.AddNote(workorder.Note{Author: c.actor(), Text: q.Text, Visibility: q.Visibility, At: at}), nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(c, out))
}

// putPhotos stores checked photos of a work order in the action's or
// report's transaction.
func putPhotos(ctx context.Context, tx store.Photos, workOrder string, refs []workorder.Photo, ups []*upload) error {
	for i, u := range ups {
		if err := tx.PutPhoto(ctx, refs[i].ID, workOrder, u.contentType, u.data); err != nil {
			return err
		}
	}
	return nil
}

// upload is a checked photo.
type upload struct {
	contentType string
	data        []byte
}

// readPhoto checks an uploaded picture: an image by its bytes, not by what
// the client claims, and not larger than MaxPhoto.
func readPhoto(f io.Reader) (*upload, error) {
	data, err := io.ReadAll(io.LimitReader(f, MaxPhoto+1))
	if err != nil {
		return nil, cloud.FieldError("photo", "could not read the photo")
	}
	if len(data) > MaxPhoto {
		return nil, &cloud.Error{Code: cloud.ETOOLARGE, Field: "photo", Message: "the photo is larger than 6 MB"}
	}
	ct := http.DetectContentType(data)
	switch ct {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return &upload{contentType: ct, data: data}, nil
	}
	return nil, cloud.FieldError("photo", "want a JPEG, PNG, GIF or WebP picture, got %s", ct)
}

func (s *Server) photo(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	ct, data, err := s.store.Photo(r.Context(), wo.ID, r.PathValue("photo"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, err = w.Write(data)
	return err
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	return writeJSON(w, http.StatusOK, c.Principal)
}
