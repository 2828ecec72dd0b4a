package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify/mailsink"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestNotFixedBySMTP: on one SQLite replica against a real SMTP server, a
// work order verified by the FM asks its store contact by email; she
// follows the link and says it is not fixed, within the recall window. The
// work order goes back to the same vendor as a recall (a new offer to
// CoolCo), the FM is told, and the rating is in the history and on
// CoolCo's scorecard.
func TestNotFixedBySMTP(t *testing.T) {
	sink, err := mailsink.Start("127.0.0.1:0", mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.yaml"), []byte(peopleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	admin, _ := cloud.NewToken()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = DatabaseConfig{Driver: "sqlite", Path: filepath.Join(dir, "f.db")}
	cfg.AdminToken = admin
	cfg.People = []string{filepath.Join(dir, "people.yaml")}
	n := &cfg.Notifications
	n.BaseURL, n.LinkSecret = "http://set.below", strings.Repeat("z", 32)
	n.Email.Host, n.Email.Port, n.Email.TLS, n.Email.From = "127.0.0.1", sink.Port(), "none", "Frostline <alerts@fl.example>"
	n.Sender.Poll, n.Sender.Timeout, n.Sender.Lease = 20*time.Millisecond, 2*time.Second, 4*time.Second
	n.DigestAt = ""
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr()
	a.notify.planner.BaseURL = base
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done; a.Close() }()
	seedCoolCo(t, a.Store())
	api := func(method, path, body string, want int) []byte {
		t.Helper()
		code, out := call(t, method, base+path, admin, body)
		if code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, out)
		}
		return []byte(out)
	}
	var w workorder.WorkOrder
	json.Unmarshal(api("POST", "/api/v1/workorders", `{"site":"s1","asset":"wic-1","problem":"temp_high","priority":"P2","description":"warm","reporter":"ann"}`, 201), &w)
	get := func() workorder.WorkOrder {
		var x workorder.WorkOrder
		json.Unmarshal(api("GET", "/api/v1/workorders/"+w.ID, "", 200), &x)
		return x
	}
	if s := get().Status; s != workorder.Dispatched {
		if s == workorder.New || s == workorder.Triaged {
			api("POST", "/api/v1/workorders/"+w.ID+"/actions/release", "", 200)
		}
		api("POST", "/api/v1/workorders/"+w.ID+"/actions/dispatch", `{"vendor":"coolco"}`, 200)
	}
	api("POST", "/api/v1/workorders/"+w.ID+"/actions/accept", `{"technician":"tom"}`, 200)
	api("POST", "/api/v1/workorders/"+w.ID+"/actions/check_in", `{"override":"no GPS"}`, 200)
	api("POST", "/api/v1/workorders/"+w.ID+"/actions/complete", `{"problem":"temp_high","cause":"dirty_coil","remedy":"cleaned_coil"}`, 200)
	api("POST", "/api/v1/workorders/"+w.ID+"/actions/verify", "", 200)
	// Ann: received, vendor coming, on site, completed, verified; CoolCo: the offer.
	waitMail(t, sink, 6)
	var ask *mailsink.Mail
	for _, m := range sink.Messages() {
		if m.To[0] == "ann@store.example" && strings.Contains(m.Subject, "fix verified") {
			ask = &m
		}
	}
	if ask == nil || !strings.Contains(ask.HTML, "Rate the visit") {
		t.Fatalf("Ann was not asked: %+v", ask)
	}
	_, tok, ok := strings.Cut(ask.Text, base+"/rate/")
	if !ok {
		t.Fatalf("no rating link in:\n%s", ask.Text)
	}
	link := base + "/rate/" + strings.Fields(tok)[0]
	resp, err := http.PostForm(link, url.Values{"fixed": {"no"}, "score": {"1"}, "comment": {"warm again by noon"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goes back to the vendor") {
		t.Fatalf("answering not fixed: %d\n%s", resp.StatusCode, body)
	}
	if x := get(); x.Status != workorder.Dispatched || x.Vendor != "coolco" || x.Rating == nil || x.Rating.Outcome != workorder.RatingRecall || x.Rating.By != "Ann Lee" {
		t.Errorf("after not fixed: %s to %q, rating %+v; want dispatched back to coolco as a recall", x.Status, x.Vendor, x.Rating)
	}
	// Fay hears it, and CoolCo gets the work again.
	waitMail(t, sink, 8)
	var to []string
	for _, m := range sink.Messages()[6:] {
		to = append(to, m.To[0]+": "+m.Subject)
	}
	slices.Sort(to)
	if len(to) != 2 || !strings.HasPrefix(to[0], "dispatch@coolco.example: New work for coolco") ||
		!strings.HasPrefix(to[1], "fay@fm.example: WO-") || !strings.Contains(to[1], "not fixed; coolco is recalled") {
		t.Errorf("after the answer: %q", to)
	}
	card := string(api("GET", "/api/v1/vendors/coolco/scorecard", "", 200))
	if !strings.Contains(card, `"ratings":{"count":1,"fixed":{"n":0,"of":1,"value":0.0000},"average":1}`) || !strings.Contains(card, `"recall":{"n":1,`) {
		t.Errorf("coolco's scorecard: %s", card)
	}
}
