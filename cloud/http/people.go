package http

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// peopleStore is what the people and notification routes need of a store.
type peopleStore interface {
	PutPerson(ctx context.Context, p *notify.Person) error
	Person(ctx context.Context, id string) (*notify.Person, error)
	Everyone(ctx context.Context) ([]notify.Person, error)
	DeletePerson(ctx context.Context, id string) error
	Notifications(ctx context.Context, workOrder string, limit int) ([]notify.Notification, error)
	Notification(ctx context.Context, id string) (*notify.Notification, error)
	AckNotification(ctx context.Context, id, by string, now time.Time) (*notify.Notification, error)
}

func (s *Server) routesPeople() {
	s.api("GET /api/v1/people", s.listPeople)
	s.api("POST /api/v1/people", s.createPerson)
	s.api("GET /api/v1/people/{id}", s.getPerson)
	s.api("PUT /api/v1/people/{id}", s.putPerson)
	s.api("DELETE /api/v1/people/{id}", s.deletePerson)
	s.api("GET /api/v1/notifications", s.listNotifications)
	// The acknowledge link: a page (GET) whose one button posts. A GET
	// alone never acknowledges, because mail scanners and link previews
	// fetch every link in a message before its reader sees it.
	s.mux.Handle("GET /ack/{token}", s.instrument("GET /ack/{token}", s.ackPage))
	s.mux.Handle("POST /ack/{token}", s.instrument("POST /ack/{token}", s.ackPost))
}

// seesPeople: the people register (names, addresses, phone numbers) is
// for admins and FMs; store staff, vendors and technicians see none of it.
func (c *caller) seesPeople() error { return c.may(cloud.RoleAdmin, cloud.RoleFM) }

func (s *Server) listPeople(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.seesPeople(); err != nil {
		return err
	}
	st := s.store
	all, err := st.Everyone(r.Context())
	if err != nil {
		return err
	}
	role := r.URL.Query().Get("role")
	out := []notify.Person{}
	for _, p := range all {
		if role == "" || string(p.Role) == role {
			out = append(out, p)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.seesPeople(); err != nil {
		return err
	}
	st := s.store
	p, err := st.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) createPerson(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.savePerson(w, r, c, "")
}

func (s *Server) putPerson(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.savePerson(w, r, c, r.PathValue("id"))
}

// savePerson creates (id "") or replaces a person. The register is
// company-wide: an admin or an FM for all regions edits it.
func (s *Server) savePerson(w http.ResponseWriter, r *http.Request, c *caller, id string) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	st := s.store
	var p notify.Person
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	status := http.StatusOK
	switch {
	case id == "":
		if p.ID == "" {
			p.ID = cloud.NewID("p_")
		}
		if _, err := st.Person(r.Context(), p.ID); err == nil {
			return cloud.Errorf(cloud.ECONFLICT, "person %s exists; PUT /api/v1/people/%s replaces it", p.ID, p.ID)
		}
		status = http.StatusCreated
	case p.ID == "":
		p.ID = id
	case p.ID != id:
		return cloud.FieldError("id", "the body's id %q is not the path's %q", p.ID, id)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p.Source, p.UpdatedAt = "", s.now().UTC()
	if err := st.PutPerson(r.Context(), &p); err != nil {
		return err
	}
	s.log.Info("person saved", "person", p.ID, "by", c.actor())
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/people/"+p.ID)
	}
	return writeJSON(w, status, p)
}

func (s *Server) deletePerson(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	st := s.store
	if err := st.DeletePerson(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	s.log.Info("person deleted", "person", r.PathValue("id"), "by", c.actor())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listNotifications is a work order's delivery log: who was told what,
// on which channel, and what became of it. Admins and FMs who see the
// work order read it.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.seesPeople(); err != nil {
		return err
	}
	id := r.URL.Query().Get("work_order")
	if id == "" {
		return cloud.FieldError("work_order", "required: the work order whose notifications to list")
	}
	if _, err := s.visible(r, c, id); err != nil {
		return err
	}
	st := s.store
	ns, err := st.Notifications(r.Context(), id, 0)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ns})
}

// ackLink checks an acknowledge link and loads its notification.
func (s *Server) ackLink(r *http.Request) (Store, *notify.Notification, error) {
	if s.links == nil {
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "acknowledge links are not configured")
	}
	id, err := s.links.Verify(r.PathValue("token"), s.now())
	switch {
	case errors.Is(err, notify.ErrLinkExpired):
		return nil, nil, cloud.Errorf(cloud.EFORBIDDEN, "this link has expired; open the work order and acknowledge there")
	case err != nil:
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "this link is not valid")
	}
	st := s.store
	n, err := st.Notification(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if notify.LinkFor(n.Topic) != notify.LinkAck {
		return nil, nil, cloud.Errorf(cloud.ENOTFOUND, "this link is not valid") // a rating link, say: not one to acknowledge with
	}
	return st, n, nil
}

func (s *Server) ackPage(w http.ResponseWriter, r *http.Request) {
	_, n, err := s.ackLink(r)
	data := map[string]any{"Title": "Acknowledge"}
	switch {
	case err != nil:
		data["Error"] = cloud.ErrorMessage(err)
		s.render(w, statusOf(cloud.ErrorCode(err)), "ack.html", data)
		return
	case n.AckedAt != nil:
		data["Error"] = "Already acknowledged by " + n.AckedBy + " at " + n.AckedAt.Format(time.RFC1123)
	default:
		data["Token"] = r.PathValue("token")
	}
	data["Subject"], data["Link"] = n.Subject, "/workorders/"+n.WorkOrder
	s.render(w, http.StatusOK, "ack.html", data)
}

// ackPost acknowledges: the notification's event stops escalating, and
// the work order's history records who took it. A link works once.
func (s *Server) ackPost(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Acknowledge"}
	st, n, err := s.ackLink(r)
	if err == nil {
		n, err = st.AckNotification(r.Context(), n.ID, n.Name, s.now().UTC())
	}
	if err != nil {
		if cloud.ErrorCode(err) == cloud.EINTERNAL {
			s.log.Error("acknowledge failed", "err", err)
		}
		data["Error"] = cloud.ErrorMessage(err)
		if n != nil {
			data["Subject"], data["Link"] = n.Subject, "/workorders/"+n.WorkOrder
		}
		s.render(w, statusOf(cloud.ErrorCode(err)), "ack.html", data)
		return
	}
	if n.WorkOrder != "" {
		note := workorder.Note{Author: n.Name, Text: "Acknowledged \"" + n.Subject + "\" from the emailed link.", Visibility: "internal", At: s.now().UTC()}
		if err := s.store.Update(r.Context(), func(tx store.Tx) error {
			wo, err := tx.WorkOrder(r.Context(), n.WorkOrder)
			if err != nil || wo == nil {
				return err
			}
			return tx.Save(r.Context(), wo, wo.AddNote(note))
		}); err != nil {
			// The acknowledgement stands; only its note is missing.
			s.log.Error("acknowledged, but the note on the work order failed", "work_order", n.WorkOrder, "err", err)
		}
	}
	s.log.Info("acknowledged by link", "notification", n.ID, "by", n.Name)
	data["Done"], data["Subject"], data["Link"] = "Acknowledged. Thank you, "+n.Name+".", n.Subject, "/workorders/"+n.WorkOrder
	s.render(w, http.StatusOK, "ack.html", data)
}
