package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/locale"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// ratingStore is what the store's rating routes need of a store.
type ratingStore interface {
	Ratings(ctx context.Context, f workorder.RatingFilter) ([]workorder.RatedVisit, error)
}

// routesRatings: the store's say on a verified visit, through the API,
// the emailed link (/rate/{token}, no sign-in: the link is the
// credential, as an acknowledge link is) and the store page's form
// (storepage.go, POST /store/rate/{id}).
func (s *Server) routesRatings() {
	s.api("GET /api/v1/workorders/{id}/rating", s.getRating)
	s.api("POST /api/v1/workorders/{id}/rating", s.postRating)
	s.api("GET /api/v1/ratings", s.listRatings)
	// As for acknowledging, a GET shows the form and only its POST
	// answers: mail scanners open every link in a message.
	s.mux.Handle("GET /rate/{token}", s.instrument("GET /rate/{token}", s.ratePage))
	s.mux.Handle("POST /rate/{token}", s.instrument("POST /rate/{token}", s.ratePost))
}

// RatingRequest is the store's answer: was it fixed, a score from 1 to 5
// and an optional comment.
type RatingRequest struct {
	Fixed   *bool  `json:"fixed"`
	Score   int    `json:"score"`
	Comment string `json:"comment,omitempty"`
}

func (q *RatingRequest) rating(by, via string, at time.Time) (workorder.Rating, error) {
	if q.Fixed == nil {
		return workorder.Rating{}, cloud.FieldError("fixed", "say whether it is fixed: true or false")
	}
	return workorder.Rating{Fixed: *q.Fixed, Score: q.Score, Comment: q.Comment, By: by, Via: via, At: at}, nil
}

// mayRate: the store's staff for their sites, FMs and admins answer;
// vendors and technicians do not rate their own visits.
func (c *caller) mayRate() error { return c.may(cloud.RoleStore, cloud.RoleFM, cloud.RoleAdmin) }

// inScope vets a work order for the caller: outside its scope it is
// ENOTFOUND, as if it did not exist.
func (c *caller) inScope(wo *workorder.WorkOrder) error {
	if !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
		return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", wo.ID)
	}
	return nil
}

// rate records a rating of work order id in one transaction; allowed
// vets the work order first (ENOTFOUND outside the caller's scope).
func (s *Server) rate(ctx context.Context, id string, allowed func(*workorder.WorkOrder) error, r workorder.Rating) (*workorder.WorkOrder, error) {
	var out *workorder.WorkOrder
	err := s.store.Update(ctx, func(tx store.Tx) error {
		wo, err := tx.WorkOrder(ctx, id)
		if err != nil {
			return err
		}
		if wo == nil {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
		}
		if err := allowed(wo); err != nil {
			return err
		}
		ev, err := s.intake.Rate(ctx, tx, wo, r)
		if err != nil {
			return err
		}
		out = wo
		return tx.Save(ctx, wo, ev)
	})
	return out, err
}

// ratingView is a work order's rating as the API answers it, with the
// work order's status after it (a recall has reopened it).
type ratingView struct {
	WorkOrder string           `json:"work_order"`
	Number    int64            `json:"number"`
	Status    workorder.Status `json:"status"`
	// Rateable says the work order waits for a rating of its current
	// verification.
	Rateable bool              `json:"rateable"`
	Rating   *workorder.Rating `json:"rating"`
}

func viewRating(w *workorder.WorkOrder) ratingView {
	return ratingView{WorkOrder: w.ID, Number: w.Number, Status: w.Status, Rateable: w.Rateable(), Rating: w.Rating}
}

func (s *Server) getRating(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewRating(wo))
}

func (s *Server) postRating(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.mayRate(); err != nil {
		return err
	}
	var q RatingRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	rt, err := q.rating(c.actor(), "api", s.now().UTC())
	if err != nil {
		return err
	}
	wo, err := s.rate(r.Context(), r.PathValue("id"), c.inScope, rt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, viewRating(wo))
}

// listRatings lists ratings, newest first, for FMs and admins: by vendor,
// site, or outcome (flagged: not fixed after the recall window).
func (s *Server) listRatings(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleFM, cloud.RoleAdmin); err != nil {
		return err
	}
	q := r.URL.Query()
	f := workorder.RatingFilter{Vendor: q.Get("vendor"), Site: q.Get("site"), Outcome: q.Get("outcome")}
	switch f.Outcome {
	case "", workorder.RatingRecall, workorder.RatingFlagged, workorder.RatingAlreadyOpen:
	default:
		return cloud.FieldError("outcome", "want recall, flagged or already_open")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return cloud.FieldError("limit", "a number from 1 to 1000")
		}
		f.Limit = n
	}
	all, err := s.store.Ratings(r.Context(), f)
	if err != nil {
		return err
	}
	out := []workorder.RatedVisit{}
	for _, rv := range all {
		if c.scope.SeesWorkOrder(rv.Site, rv.Vendor, "") {
			out = append(out, rv)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// rateLink checks a rating link and loads its notification and work
// order. Only a verified message's link rates (notify.LinkFor), and only
// the verification it was sent for.
func (s *Server) rateLink(r *http.Request) (*notify.Notification, *workorder.WorkOrder, error) {
	if s.links == nil {
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "rating links are not configured")
	}
	id, err := s.links.Verify(r.PathValue("token"), s.now())
	switch {
	case errors.Is(err, notify.ErrLinkExpired):
		return nil, nil, cloud.Errorf(cloud.EFORBIDDEN, "this link has expired; your store's page can still take your answer")
	case err != nil:
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "this link is not valid")
	}
	n, err := s.store.Notification(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if notify.LinkFor(n.Topic) != notify.LinkRate || n.WorkOrder == "" {
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "this link is not valid")
	}
	wo, err := s.store.WorkOrder(r.Context(), n.WorkOrder)
	if err != nil {
		return nil, nil, err
	}
	if wo.Rateable() {
		events, err := s.store.Events(r.Context(), wo.ID)
		if err != nil {
			return nil, nil, err
		}
		if current := lastVerification(events); current != n.Event {
			return n, wo, cloud.Errorf(cloud.ECONFLICT, "this link asked about an earlier visit; the newest message about work order %d has the current one", wo.Number)
		}
	}
	return n, wo, nil
}

// lastVerification is the id of the work order's latest verify event.
func lastVerification(events []workorder.Event) string {
	for i := len(events) - 1; i >= 0; i-- {
		if e := &events[i]; e.Kind == workorder.Transition && e.Action == workorder.Verify {
			return notify.EventID(e.WorkOrder, e.Version)
		}
	}
	return ""
}

// rated says what a work order's rating was, for a second use of a link.
func rated(wo *workorder.WorkOrder) string {
	if wo.Rating == nil {
		return "Work order #" + strconv.FormatInt(wo.Number, 10) + " is " + statusWords[wo.Status] + ": there is nothing to rate now."
	}
	return "Already answered by " + wo.Rating.By + " at " + wo.Rating.At.UTC().Format(time.RFC1123) + "."
}

func (s *Server) ratePage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Is it fixed?"}
	n, wo, err := s.rateLink(r)
	switch {
	case err != nil:
		data["Error"] = cloud.ErrorMessage(err)
		s.render(w, statusOf(cloud.ErrorCode(err)), "rate.html", data)
		return
	case !wo.Rateable():
		data["Error"] = rated(wo)
	default:
		data["Action"] = "/rate/" + r.PathValue("token")
	}
	data["Subject"], data["Who"] = n.Subject, n.Name
	s.render(w, http.StatusOK, "rate.html", data)
}

// ratePost records the answer; the link is then used up: its work
// order's verification has its rating.
func (s *Server) ratePost(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Is it fixed?"}
	n, wo, err := s.rateLink(r)
	if err == nil && !wo.Rateable() {
		err = cloud.Errorf(cloud.ECONFLICT, "%s", rated(wo)) // the link is used up
	}
	if err == nil {
		var rt workorder.Rating
		if rt, err = formRating(w, r, n.Name, "link", s.now().UTC()); err == nil {
			wo, err = s.rate(r.Context(), wo.ID, func(*workorder.WorkOrder) error { return nil }, rt)
		}
	}
	if err != nil {
		if cloud.ErrorCode(err) == cloud.EINTERNAL {
			s.log.Error("rating failed", "err", err)
		}
		data["Error"] = cloud.ErrorMessage(err)
		if n != nil {
			data["Subject"] = n.Subject
		}
		if cloud.ErrorCode(err) == cloud.EINVALID {
			data["Action"] = "/rate/" + r.PathValue("token") // try again
		}
		s.render(w, statusOf(cloud.ErrorCode(err)), "rate.html", data)
		return
	}
	s.log.Info("rated by link", "work_order", wo.ID, "by", n.Name, "fixed", wo.Rating.Fixed, "score", wo.Rating.Score, "outcome", wo.Rating.Outcome)
	data["Done"], data["Subject"] = thanks(nil, wo), n.Subject
	s.render(w, http.StatusOK, "rate.html", data)
}

// formRating reads the rating form (the link's page and the store page):
// fixed (yes or no), score (1-5), comment.
func formRating(w http.ResponseWriter, r *http.Request, by, via string, at time.Time) (workorder.Rating, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	if err := r.ParseForm(); err != nil {
		return workorder.Rating{}, cloud.Errorf(cloud.EINVALID, "unreadable form")
	}
	var q RatingRequest
	switch r.PostForm.Get("fixed") {
	case "yes":
		q.Fixed = new(bool)
		*q.Fixed = true
	case "no":
		q.Fixed = new(bool)
	}
	q.Score, _ = strconv.Atoi(strings.TrimSpace(r.PostForm.Get("score")))
	q.Comment = r.PostForm.Get("comment")
	return q.rating(by, via, at)
}

// thanks says what the answer did, in the page's language when it has
// one (p; nil on the emailed link's page, which is in English).
func thanks(p *locale.Printer, wo *workorder.WorkOrder) string {
	tr := fmt.Sprintf
	if p != nil {
		tr = p.T
	}
	n := strconv.FormatInt(wo.Number, 10)
	switch wo.Rating.Outcome {
	case workorder.RatingRecall:
		return tr("Thanks. Work order #%s goes back to the vendor to fix it.", n)
	case workorder.RatingFlagged:
		return tr("Thanks. Your facilities manager will look into work order #%s.", n)
	case workorder.RatingAlreadyOpen:
		return tr("Thanks. The problem is already being worked on another work order.")
	}
	return tr("Thanks for your answer on work order #%s.", n)
}
