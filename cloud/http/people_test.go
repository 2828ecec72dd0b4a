package http

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

func TestPeopleCRUD(t *testing.T) {
	f := newFixture(t)
	fay := `{"id":"fay","name":"Fay Moreno","role":"fm","scope":{"region":"north"},"email":"fay@fm.example","manager":"max",
		"quiet_hours":{"start":"21:00","end":"07:00"},"preferences":{"quote_waiting":"digest"}}`
	if code, body := f.do(t, "admin", "POST", "/api/v1/people", fay); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := f.do(t, "admin", "POST", "/api/v1/people", fay); code != 409 {
		t.Errorf("create twice: %d", code)
	}
	code, body := f.do(t, "admin", "POST", "/api/v1/people", `{"id":"x","name":"X","role":"store","email":"nope","preferences":{"weather":"on"}}`)
	if code != 400 || !strings.Contains(body, `"field":"scope.sites"`) {
		t.Errorf("invalid person: %d %s", code, body)
	}
	if code, body := f.do(t, "fm-north", "PUT", "/api/v1/people/fay", fay); code != 403 {
		t.Errorf("a regional FM edits the register: %d %s", code, body)
	}
	got := decodeAs[notify.Person](t, mustDo(t, f, "fm-north", "GET", "/api/v1/people/fay", "", 200))
	if got.Quiet == nil || got.Preference(notify.TopicQuoteWaiting) != notify.Digest || got.UpdatedAt.IsZero() {
		t.Errorf("person %+v", got)
	}
	if code, body := f.do(t, "admin", "PUT", "/api/v1/people/fay", strings.Replace(fay, `"id":"fay"`, `"id":"other"`, 1)); code != 400 || !strings.Contains(body, "id") {
		t.Errorf("id mismatch: %d %s", code, body)
	}
	list := decodeAs[struct{ Items []notify.Person }](t, mustDo(t, f, "fm", "GET", "/api/v1/people?role=fm", "", 200))
	if len(list.Items) != 1 || list.Items[0].ID != "fay" {
		t.Errorf("fms: %+v", list.Items)
	}
	if code, body := f.do(t, "store", "GET", "/api/v1/people", ""); code != 403 {
		t.Errorf("store staff read the register: %d %s", code, body)
	}
	mustDo(t, f, "fm", "DELETE", "/api/v1/people/fay", "", 204)
	if code, _ := f.do(t, "fm", "GET", "/api/v1/people/fay", ""); code != 404 {
		t.Errorf("deleted: %d", code)
	}
}

func mustDo(t *testing.T, f *fixture, who, method, path, body string, want int) string {
	t.Helper()
	code, resp := f.do(t, who, method, path, body)
	if code != want {
		t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, who, code, want, resp)
	}
	return resp
}

// TestAckLink: the log shows the breach notification; its link opens a
// page whose button acknowledges once, notes it on the work order, and
// refuses a second use, an expired link and a forged one.
func TestAckLink(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	links, err := notify.NewLinks([]byte(strings.Repeat("L", 32)))
	if err != nil {
		t.Fatal(err)
	}
	f.srv.links = links
	tm, err := notify.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	planner := &notify.Planner{Templates: tm, BaseURL: f.ts.URL, Links: links, LinkTTL: time.Hour, Escalation: notify.Escalation{After: 30 * time.Minute, Levels: 1}}
	if err := f.store.PutPerson(ctx, &notify.Person{ID: "fay", Name: "Fay", Role: cloud.RoleFM, Scope: notify.PersonScope{All: true}, Email: "fay@fm.example"}); err != nil {
		t.Fatal(err)
	}
	err = f.store.Update(ctx, func(tx store.Tx) error {
		w, err := tx.WorkOrder(ctx, f.own)
		if err != nil {
			return err
		}
		evs := w.MarkSLA(workorder.SLAMark{Key: "b1", Kind: "breach", Milestone: "arrive", Due: t0, Lateness: time.Hour, At: t0})
		if err := tx.Save(ctx, w, evs); err != nil {
			return err
		}
		return planner.Project(ctx, tx, w, evs, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	log := decodeAs[struct{ Items []notify.Notification }](t, mustDo(t, f, "fm", "GET", "/api/v1/notifications?work_order="+f.own, "", 200))
	if len(log.Items) != 1 || log.Items[0].Topic != notify.TopicSLABreach || log.Items[0].Person != "fay" || log.Items[0].EscalateAt == nil {
		t.Fatalf("log %+v", log.Items)
	}
	if code, _ := f.do(t, "fm", "GET", "/api/v1/notifications", ""); code != 400 {
		t.Errorf("log without a work order: %d", code)
	}
	n := log.Items[0]
	tok := links.Sign(n.ID, t0.Add(time.Hour))
	get := func(path string) (int, string) {
		resp, err := f.ts.Client().Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return resp.StatusCode, b.String()
	}
	post := func(path string) (int, string) {
		resp, err := f.ts.Client().PostForm(f.ts.URL+path, url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return resp.StatusCode, b.String()
	}
	// Opening the link (a mail scanner would too) acknowledges nothing.
	for range 2 {
		if code, body := get("/ack/" + tok); code != 200 || !strings.Contains(body, `action="/ack/`+tok+`"`) {
			t.Fatalf("ack page: %d %s", code, body)
		}
	}
	if code, body := post("/ack/" + tok); code != 200 || !strings.Contains(body, "Acknowledged. Thank you, Fay.") {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, body := post("/ack/" + tok); code != 409 || !strings.Contains(body, "already acknowledged by Fay") {
		t.Errorf("replayed: %d %s", code, body)
	}
	if code, body := get("/ack/" + tok); code != 200 || strings.Contains(body, "<form") || !strings.Contains(body, "Already acknowledged by Fay") {
		t.Errorf("page after the ack: %d %s", code, body)
	}
	evs, _ := f.store.Events(ctx, f.own)
	if last := evs[len(evs)-1]; last.Kind != workorder.Noted || !strings.Contains(last.Note.Text, "Acknowledged") || last.Note.Author != "Fay" {
		t.Errorf("history ends with %+v", last)
	}
	log = decodeAs[struct{ Items []notify.Notification }](t, mustDo(t, f, "fm", "GET", "/api/v1/notifications?work_order="+f.own, "", 200))
	if l := log.Items[0]; l.AckedAt == nil || l.AckedBy != "Fay" || l.EscalateAt != nil {
		t.Errorf("after the ack: %+v", l)
	}
	f.srv.now = func() time.Time { return t0.Add(time.Hour) }
	if code, body := post("/ack/" + tok); code != 403 || !strings.Contains(body, "expired") {
		t.Errorf("expired: %d %s", code, body)
	}
	other, _ := notify.NewLinks([]byte(strings.Repeat("M", 32)))
	for _, bad := range []string{other.Sign(n.ID, t0.Add(2*time.Hour)), "garbage", tok[:len(tok)-2]} {
		if code, _ := post("/ack/" + bad); code != 404 {
			t.Errorf("forged link %q: %d", bad, code)
		}
	}
}
