package http

import (
	"embed"
	"errors"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/locale"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(pageFuncs).ParseFS(templateFS, "templates/*.html"))

// checkinJS is the check-in form's script, served from the pages' own origin: the
// Content-Security-Policy (default-src 'self') blocks inline scripts.
//
//go:embed static/checkin.js
var checkinJS []byte

// problemLabels are the words store staff pick from; codes are what the
// work order carries.
var problemLabels = []struct{ Code, Label string }{
	{"not_cold", "Not cold enough"}, {"temp_low", "Too cold / freezing"}, {"no_cooling", "Not cooling at all"},
	{"ice_buildup", "Ice building up"}, {"water_leak", "Water leaking"}, {"door_damage", "Door won't close / damaged"},
	{"noise", "Strange noise"}, {"lighting", "Lights out"}, {"other", "Something else"},
}

func (s *Server) routesPages() {
	s.mux.HandleFunc("GET /static/checkin.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(checkinJS) //nolint:errcheck // the client went away
	})
	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request, c *caller) error) {
		s.mux.Handle(pattern, s.instrument(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && !sameOrigin(r) {
				http.Error(w, "cross-site form post refused", http.StatusForbidden)
				return
			}
			c, err := s.authenticate(r, true)
			if cloud.ErrorCode(err) == cloud.EUNAUTHORIZED {
				if _, had := r.Cookie(SessionCookie); had == nil {
					s.clearSession(w, r) // ended, revoked or unknown: forget it
				}
				to := "/login"
				if r.Method == http.MethodGet && r.URL.Path != "/" {
					// Back here after signing in: a QR label's report page.
					to += "?" + url.Values{"next": {r.URL.RequestURI()}}.Encode()
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			if err == nil {
				err = h(w, r, c)
			}
			if err != nil {
				s.pageError(w, r, c, err)
			}
		}))
	}
	s.mux.Handle("GET /login", s.instrument("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s.renderLogin(w, r, http.StatusOK, "", localPath(r.URL.Query().Get("next")))
	}))
	s.mux.Handle("POST /login", s.instrument("POST /login", s.login))
	s.mux.Handle("POST /logout", s.instrument("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			http.Error(w, "cross-site form post refused", http.StatusForbidden)
			return
		}
		s.closeSession(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}))
	page("GET /{$}", func(w http.ResponseWriter, r *http.Request, c *caller) error {
		to := "/workorders"
		if c.Role == cloud.RoleStore {
			to = "/store"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	})
	page("GET /store", s.storePage)
	page("POST /store/rate/{id}", s.storeRatePost)
	page("GET /report", s.reportForm)
	page("POST /report", s.reportPost)
	page("GET /workorders", s.listPage)
	page("GET /workorders/{id}", s.workOrderPage)
	page("POST /workorders/{id}/act", s.actPost)
	page("POST /workorders/{id}/invoices", s.invoicePost)
	page("GET /workorders/{id}/photos/{photo}", s.photo)
	page("GET /sites/{site}/assets/{asset}", s.assetPage)
	page("GET /sites/{id}/labels", s.labelsPage)
}

// sameOrigin: the pages' cookie is SameSite=Strict; checking Origin as well
// refuses cross-site posts from browsers that ignore SameSite.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Page URLs carry work-order ids and flash messages: not for other sites.
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render", "page", name, "err", err)
	}
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, c *caller, err error) {
	code := cloud.ErrorCode(err)
	if code == cloud.EINTERNAL {
		s.log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	retryAfter(w.Header(), err)
	data := map[string]any{"Title": "Error", "Error": cloud.ErrorMessage(err)}
	if c != nil {
		data["Who"] = c.actor()
	}
	s.render(w, statusOf(code), "login.html", data)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	var p *cloud.Principal
	var err error = cloud.ErrTokenUnknown
	if tok != "" {
		p, err = s.verify(r, "login", tok)
	}
	if err != nil {
		if cloud.ErrorCode(err) != cloud.EUNAUTHORIZED {
			s.pageError(w, r, nil, err) // throttled: 429 with Retry-After
			return
		}
		s.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.", localPath(r.PostFormValue("next")))
		return
	}
	if err := s.openSession(w, r, p); err != nil {
		s.pageError(w, r, nil, err)
		return
	}
	to := localPath(r.PostFormValue("next"))
	if to == "" {
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// renderLogin shows the sign-in form in the request's language (store
// staff sign in on it first), with msg, a catalogue message, as the error.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	data := map[string]any{"Next": next}
	p := s.localize(w, r, data)
	data["Title"] = p.T("Sign in")
	if msg != "" {
		data["Error"] = p.T(msg)
	}
	s.render(w, status, "login.html", data)
}

// localPath returns next when it is a path on this site ("/report?..."),
// else "": a sign-in must not send the browser to another site
// ("//evil.example", "https://...", "/\\evil").
func localPath(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

func (s *Server) reportForm(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.renderReport(w, r, c, http.StatusOK, "")
}

func (s *Server) renderReport(w http.ResponseWriter, r *http.Request, c *caller, status int, msg string) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	var only []string
	if !c.scope.All {
		only = c.scope.Sites
	}
	sites, err := s.store.Sites(r.Context(), only)
	if err != nil {
		return err
	}
	var assets []*cloud.Asset
	for _, site := range sites {
		as, err := s.store.Assets(r.Context(), site.ID)
		if err != nil {
			return err
		}
		assets = append(assets, as...)
	}
	chosen := r.URL.Query().Get("asset") // from a QR label
	if r.Method == http.MethodPost {
		chosen = r.PostFormValue("asset")
	}
	data := map[string]any{"Who": c.actor(), "Assets": assets, "Sites": sites, "MultiSite": len(sites) > 1, "Chosen": chosen}
	p := s.localize(w, r, data)
	data["Title"] = p.T("Report a problem")
	problems := make([]struct{ Code, Label string }, len(problemLabels))
	for i, pl := range problemLabels {
		problems[i].Code, problems[i].Label = pl.Code, p.T(pl.Label)
	}
	data["Problems"] = problems
	if msg != "" {
		data["Error"] = msg
		if locale.Has(msg) {
			data["Error"] = p.T(msg)
		}
	}
	s.render(w, status, "report.html", data)
	return nil
}

func (s *Server) reportPost(w http.ResponseWriter, r *http.Request, c *caller) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody+MaxPhoto)
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return s.renderReport(w, r, c, http.StatusRequestEntityTooLarge, "The photo is too large (6 MB at most).")
	}
	site, asset, _ := strings.Cut(r.PostFormValue("asset"), "/")
	q := ReportRequest{Site: site, Asset: asset, Problem: r.PostFormValue("problem"),
		Description: r.PostFormValue("description"), Priority: r.PostFormValue("priority")}
	var photo *upload
	if f, _, err := r.FormFile("photo"); err == nil {
		defer f.Close()
		if photo, err = readPhoto(f); err != nil {
			return s.renderReport(w, r, c, http.StatusBadRequest, cloud.ErrorMessage(err))
		}
	}
	res, err := s.submitReport(r, c, q, "", photo)
	if code := cloud.ErrorCode(err); code == cloud.EINVALID || code == cloud.ENOTFOUND {
		return s.renderReport(w, r, c, http.StatusBadRequest, cloud.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	v := url.Values{"reported": {itoa(res.WorkOrder.Number)}}
	if res.Reason == workorder.Merged || res.Reason == workorder.Updated {
		v.Set("merged", "1")
	}
	to := "/store?"
	if c.Role != cloud.RoleStore {
		to = "/workorders/" + res.WorkOrder.ID + "?"
	}
	http.Redirect(w, r, to+v.Encode(), http.StatusSeeOther)
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// pageActions are the buttons the work-order page offers the caller now:
// the field's steps for vendors and technicians, verification for the
// store and the FM. The transition table still decides when one is used.
func pageActions(c *caller, w *workorder.WorkOrder) map[string]bool {
	a := map[string]bool{}
	field := c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician || c.Role == cloud.RoleAdmin
	switch w.Status {
	case workorder.Dispatched:
		a["accept"] = field
		a["decline"] = c.Role == cloud.RoleVendor || c.Role == cloud.RoleAdmin
	case workorder.Accepted:
		a["check_in"] = field || c.Role == cloud.RoleFM
	case workorder.InProgress:
		a["complete"], a["hold"], a["check_out"] = field || c.Role == cloud.RoleFM, true, true
	case workorder.OnHold:
		a["resume"] = true
	case workorder.WorkComplete, workorder.Verifying:
		a["verify"] = c.Role == cloud.RoleStore || c.Role == cloud.RoleFM || c.Role == cloud.RoleAdmin
		a["reopen"] = a["verify"]
	}
	for k, v := range a {
		if !v || !workorder.Allowed(workorder.Action(k), c.Role) {
			delete(a, k)
		}
	}
	return a
}

// actPost takes a field action from the work-order page's forms: the same
// action as the API's, with the form's fields. A refusal is shown on the
// page, not as an error page, so a technician can correct and retry.
func (s *Server) actPost(w http.ResponseWriter, r *http.Request, c *caller) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody+MaxPhoto)
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return cloud.Errorf(cloud.EINVALID, "unreadable form (a photo is 6 MB at most)")
	}
	id := r.PathValue("id")
	f := r.PostForm
	q := ActionRequest{Reason: f.Get("reason"), Override: f.Get("override"), Technician: f.Get("technician"),
		Problem: f.Get("problem"), Cause: f.Get("cause"), Remedy: f.Get("remedy"), Recommendations: f.Get("recommendations")}
	if file, _, err := r.FormFile("photo"); err == nil {
		// The page's one photo goes the API's way: checked as the API
		// checks a photo in a JSON body.
		data, err := io.ReadAll(io.LimitReader(file, MaxPhoto+1))
		file.Close()
		if err != nil {
			return cloud.Errorf(cloud.EINVALID, "unreadable photo")
		}
		q.Photos = []VisitPhoto{{Kind: f.Get("photo_kind"), Photo: PhotoUpload{raw: data}}}
	}
	num := func(name string) (*float64, error) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			return nil, nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) { // ParseFloat takes "NaN" and "Inf"
			return nil, cloud.FieldError(name, "not a number")
		}
		return &x, nil
	}
	var err error
	if q.Lat, err = num("lat"); err == nil {
		q.Lon, err = num("lon")
	}
	if err == nil {
		var hours *float64
		if hours, err = num("hours"); err == nil && hours != nil {
			q.Labour = []workorder.Labour{{Technician: c.actor(), Hours: *hours}}
		}
	}
	if err == nil && f.Get("eta") != "" {
		var eta time.Time
		if eta, err = time.ParseInLocation("2006-01-02T15:04", f.Get("eta"), time.UTC); err != nil {
			err = cloud.FieldError("eta", "want a date and time")
		} else {
			q.ETA = &eta
		}
	}
	action := workorder.Action(f.Get("action"))
	if err == nil {
		_, err = s.act(r, c, id, action, q)
	}
	v := url.Values{}
	switch code := cloud.ErrorCode(err); {
	case err == nil:
		v.Set("flash", string(action)+" recorded")
	case code == cloud.EINVALID || code == cloud.ECONFLICT || code == cloud.EFORBIDDEN:
		v.Set("refused", cloud.ErrorMessage(err))
	default:
		return err
	}
	http.Redirect(w, r, "/workorders/"+url.PathEscape(id)+"?"+v.Encode(), http.StatusSeeOther)
	return nil
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request, c *caller) error {
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
	data := map[string]any{"Title": "Work orders", "Who": c.actor(), "WorkOrders": ws, "F": f,
		"Statuses": workorder.Statuses, "Priorities": rules.Priorities, "Sources": []string{"sensor", "manual", "preventive"}}
	if len(ws) == f.Limit {
		q := r.URL.Query()
		q.Set("cursor", EncodeCursor(ws[len(ws)-1].Number))
		data["Next"] = "/workorders?" + q.Encode()
	}
	s.render(w, http.StatusOK, "list.html", data)
	return nil
}

func (s *Server) workOrderPage(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, err := s.store.Events(r.Context(), wo.ID)
	if err != nil {
		return err
	}
	v := view(c, wo)
	if c.Role == cloud.RoleVendor || c.Role == cloud.RoleTechnician {
		ev = slices.DeleteFunc(ev, func(e workorder.Event) bool { return e.Note != nil && e.Note.Visibility != "shared" })
	}
	data := map[string]any{"Title": "Work order " + itoa(wo.Number), "Who": c.actor(), "WO": v.WorkOrder, "Events": ev, "Reporter": wo.Reporter,
		"Actions": pageActions(c, wo), "Flash": r.URL.Query().Get("flash"), "Refused": r.URL.Query().Get("refused"),
		"History": c.scope.SeesSite(wo.Site)}
	if data["Chart"], err = s.evidenceChart(r.Context(), wo); err != nil {
		return err
	}
	if data["Invoices"], err = s.invoiceSectionOf(r.Context(), c, wo); err != nil {
		return err
	}
	if c.Role == cloud.RoleAdmin || c.Role == cloud.RoleFM {
		// Facilities staff see why the work went where it went.
		if b, err := s.store.DispatchBook(r.Context(), wo.ID); err == nil && b != nil {
			data["Dispatch"] = b
		}
	}
	s.render(w, http.StatusOK, "workorder.html", data)
	return nil
}
