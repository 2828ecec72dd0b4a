package http

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/frostline/frostline/cloud/locale"
	"github.com/frostline/frostline/cloud/workorder"
)

// pageFuncs are the templates' functions. tr says a message in the
// page's language (data["L"], a *locale.Printer), or as written on pages
// without one.
var pageFuncs = template.FuncMap{
	"rateForm": rateForm,
	"tr": func(data map[string]any, key string, args ...any) string {
		if p, ok := data["L"].(*locale.Printer); ok {
			return p.T(key, args...)
		}
		if len(args) == 0 {
			return key
		}
		return fmt.Sprintf(key, args...)
	},
	// inc numbers from 1 what is indexed from 0; sub subtracts amounts.
	"inc":       func(i int) int { return i + 1 },
	"sub":       func(a, b float64) float64 { return a - b },
	"lineKinds": func() []string { return []string{"labour", "trip", "part"} },
}

// storeDays is how far back the store page lists the store's reports.
const storeDays = 30

// langLink is the language switcher's link to the page in another
// language, keeping the page's other parameters (a QR label's asset).
type langLink struct {
	Code, Name, Href string
	Current          bool
}

// localize picks the request's language and adds it, and the links to
// the others (keeping a QR label's asset and the sign-in's next page), to
// a page's data.
func (s *Server) localize(w http.ResponseWriter, r *http.Request, data map[string]any) *locale.Printer {
	p := locale.Choose(w, r, s.secure(r))
	var links []langLink
	for _, l := range locale.Languages {
		q := url.Values{}
		for _, k := range []string{"asset", "next"} { // a QR label's asset; the page after signing in
			if v := r.URL.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
		q.Set("lang", l.Code)
		links = append(links, langLink{Code: l.Code, Name: l.Name, Href: r.URL.Path + "?" + q.Encode(), Current: l.Code == p.Lang.Code})
	}
	data["L"], data["Langs"] = p, links
	return p
}

// statusWords are the states as store staff read them.
var statusWords = map[workorder.Status]string{
	workorder.New: "Received", workorder.Triaged: "Received", workorder.AwaitingApproval: "Waiting for approval",
	workorder.Ready: "Received", workorder.Dispatched: "Vendor called", workorder.Accepted: "Vendor coming",
	workorder.InProgress: "Technician on site", workorder.OnHold: "On hold", workorder.WorkComplete: "Fixed, being checked",
	workorder.Verifying: "Fixed, being checked", workorder.Verified: "Fixed and verified", workorder.Closed: "Closed",
	workorder.Avoided: "Cleared by itself", workorder.Duplicate: "Already reported", workorder.Cancelled: "Cancelled",
	workorder.Reopened: "Reopened",
}

// progressStep is one step of a work order's progress on the store page.
type progressStep struct {
	Label, When string
	Done        bool
}

// storeCard is a work order as the store page shows it.
type storeCard struct {
	ID                    string
	Number                int64
	Priority, Status      string
	Title, Site, Asset    string
	Opened, Vendor, ETA   string
	Steps                 []progressStep
	Open, Manual, Problem bool
	// Rate asks whether it is fixed (verified, not yet rated); Rated
	// says what the store answered.
	Rate  bool
	Rated string
	// Form is the rating form's data when Rate (rateForm).
	Form map[string]any
}

const storeTime = "2006-01-02 15:04"

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(storeTime)
}

// card is a work order's progress: reported, vendor (and ETA), on site,
// fixed, verified.
func card(p *locale.Printer, w *workorder.WorkOrder) storeCard {
	c := storeCard{ID: w.ID, Number: w.Number, Priority: w.Priority, Status: p.T(statusWords[w.Status]), Title: w.Title, Site: w.Site,
		Asset: w.Asset, Opened: w.CreatedAt.UTC().Format(storeTime), Vendor: w.Vendor, ETA: when(w.ETA), Open: w.Status.Open(),
		Manual: w.Source == workorder.Manual}
	if c.Title == "" {
		c.Title = w.Problem
	}
	vendor := progressStep{Label: p.T("Vendor"), Done: w.DispatchedAt != nil && w.Vendor != ""}
	if vendor.Done {
		vendor.Label = p.T("Vendor: %s", w.Vendor)
		if w.ETA != nil {
			vendor.When = p.T("ETA %s", when(w.ETA))
		}
	}
	onSite := progressStep{Label: p.T("On site"), Done: len(w.Visits) > 0}
	if onSite.Done {
		onSite.When = w.Visits[0].In.UTC().Format(storeTime)
	}
	fixed := progressStep{Label: p.T("Fixed"), Done: w.Completion != nil}
	verified := progressStep{Label: p.T("Verified"), Done: w.VerifiedAt != nil, When: when(w.VerifiedAt)}
	c.Steps = []progressStep{{Label: p.T("Reported"), Done: true, When: c.Opened}, vendor, onSite, fixed, verified}
	c.Rate = w.Rateable()
	if r := w.Rating; r != nil && w.VerifiedAt != nil && r.Verified.Equal(*w.VerifiedAt) {
		if r.Fixed {
			c.Rated = p.T("You said: fixed, %d of 5.", r.Score)
		} else {
			c.Rated = p.T("You said: not fixed, %d of 5.", r.Score)
		}
	}
	return c
}

// storePage is the store's phone page: its staff's reports of the last
// 30 days and its other open work orders, each with its progress.
func (s *Server) storePage(w http.ResponseWriter, r *http.Request, c *caller) error {
	data := map[string]any{"Title": "Your store", "Who": c.actor()}
	p := s.localize(w, r, data)
	data["Title"] = p.T("Your store")
	reports, err := s.store.WorkOrders(r.Context(), workorder.Filter{Source: string(workorder.Manual),
		From: s.now().Add(-storeDays * 24 * time.Hour), Scope: c.scope, Limit: 100})
	if err != nil {
		return err
	}
	open, err := s.store.WorkOrders(r.Context(), workorder.Filter{Open: true, Scope: c.scope, Limit: 100})
	if err != nil {
		return err
	}
	// Work the sensors or an FM verified lately, which the store has not
	// rated yet: the store's say on the visit.
	verified, err := s.store.WorkOrders(r.Context(), workorder.Filter{Status: string(workorder.Verified), Scope: c.scope, Limit: 100})
	if err != nil {
		return err
	}
	var rc, oc, vc []storeCard
	withForm := func(c storeCard) storeCard {
		if c.Rate {
			c.Form = rateForm(data, "/store/rate/"+c.ID, c.Number)
		}
		return c
	}
	for _, wo := range reports {
		rc = append(rc, withForm(card(p, wo)))
	}
	since := s.now().Add(-storeDays * 24 * time.Hour)
	for _, wo := range verified {
		if wo.Rateable() && wo.Source != workorder.Manual && wo.VerifiedAt.After(since) {
			vc = append(vc, withForm(card(p, wo)))
		}
	}
	for _, wo := range open {
		if wo.Source != workorder.Manual {
			oc = append(oc, card(p, wo))
		}
	}
	data["Reports"], data["Open"], data["Verified"], data["Days"] = rc, oc, vc, storeDays
	q := r.URL.Query()
	if n := q.Get("reported"); n != "" {
		if q.Get("merged") == "1" {
			data["Flash"], data["Merged"] = p.T("Already reported: your report was added to work order #%s. No need to report it again.", n), true
		} else {
			data["Flash"] = p.T("Thanks: work order #%s is open.", n)
		}
	}
	if id := q.Get("rated"); id != "" {
		if wo, err := s.visible(r, c, id); err == nil && wo.Rating != nil {
			data["Flash"] = thanks(p, wo)
		}
	}
	s.render(w, http.StatusOK, "store.html", data)
	return nil
}

// storeRatePost takes the store page's answer for a verified work order
// and comes back to the page, which says what it did.
func (s *Server) storeRatePost(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.mayRate(); err != nil {
		return err
	}
	rt, err := formRating(w, r, c.actor(), "page", s.now().UTC())
	if err != nil {
		return err
	}
	wo, err := s.rate(r.Context(), r.PathValue("id"), c.inScope, rt)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/store?"+url.Values{"rated": {wo.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// rateForm is the rating form's data: the page's (for its language), where
// it posts, and the work order's number for its id.
func rateForm(data map[string]any, action string, number int64) map[string]any {
	return map[string]any{"Data": data, "Action": action, "Number": number, "Scores": []int{1, 2, 3, 4, 5}}
}
