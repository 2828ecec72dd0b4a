// Package storetest is the one test suite every store runs: cloud/sqlite
// and cloud/postgres call Run with a function that opens a fresh, empty
// store, and must behave alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Store is what the suite exercises: everything the service asks of a
// store (cloud/app.Store but Close).
type Store interface {
	store.Store
	cloudhttp.Store
	cloudhttp.BootstrapStore
	intake.Store
	PruneClaims(ctx context.Context, before time.Time) (int64, error)
	CountByStatus(ctx context.Context) (map[string]int, error)
	Ping(ctx context.Context) error
}

// T0 is the suite's reference time.
var T0 = time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)

// Incident builds an incident event for tests.
func Incident(ev rules.EventType, id string, seq int, at time.Time, site, asset, problem, priority string) *rules.Event {
	lim := 5.0
	return &rules.Event{
		Event: ev, Incident: id, Seq: seq, Site: site, Asset: asset, AssetClass: "walk_in_cooler", Rule: problem,
		Problem: problem, Priority: priority, Trade: "refrigeration", Title: problem, At: at, Started: at,
		Metric: "air_temp", Value: 7, Peak: 7, Limit: &lim, Occurrences: 1,
	}
}

// Run runs the suite. open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Register", testRegister},
		{"Tokens", testTokens},
		{"Sessions", testSessions},
		{"IntakeDedup", testIntakeDedup},
		{"TransactionIsAtomic", testAtomic},
		{"OptimisticLock", testOptimisticLock},
		{"OneOpenPerProblem", testOneOpen},
		{"ListFiltersAndPages", testList},
		{"Scope", testScope},
		{"DueAndRecall", testDueAndRecall},
		{"ConcurrentIntake", testConcurrent},
		{"ClaimAll", testClaimAll},
		{"Outbox", testOutbox},
		{"BatchInOneTransaction", testBatch},
		{"IncidentOrder", testIncidentOrder},
		{"Ratings", testRatings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func receive(t *testing.T, s Store, in *workorder.Intake[store.Tx], r workorder.Report) workorder.Result {
	t.Helper()
	var res workorder.Result
	err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		res, err = in.Receive(context.Background(), tx, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testRegister(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.PutAsset(ctx, &cloud.Asset{Site: "nope", ID: "a", Class: "walk_in_cooler"}); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("asset on unknown site: %v", err)
	}
	for _, site := range []*cloud.Site{{ID: "s1", Region: "north", Name: "One"}, {ID: "s2", Region: "south"}, {ID: "s3", Region: "north"}} {
		if err := s.PutSite(ctx, site); err != nil {
			t.Fatal(err)
		}
	}
	a := &cloud.Asset{Site: "s1", ID: "wic-1", Class: "walk_in_cooler", Make: "Hussmann", Warranty: &cloud.Warranty{Provider: "Hussmann", Expires: "2027-01-01"}, ReplacementCost: 18000, ExpectedLife: 15}
	if err := s.PutAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Asset(ctx, "s1", "wic-1")
	if err != nil || got.Warranty == nil || got.Warranty.Provider != "Hussmann" || got.ReplacementCost != 18000 {
		t.Fatalf("asset %+v, %v", got, err)
	}
	a.Name = "Walk-in cooler"
	if err := s.PutAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	if as, err := s.Assets(ctx, "s1"); err != nil || len(as) != 1 || as[0].Name != "Walk-in cooler" {
		t.Errorf("assets %v, %v", as, err)
	}
	if ids, err := s.SitesInRegion(ctx, "north"); err != nil || fmt.Sprint(ids) != "[s1 s3]" {
		t.Errorf("north: %v, %v", ids, err)
	}
	if ss, err := s.Sites(ctx, []string{"s2"}); err != nil || len(ss) != 1 || ss[0].ID != "s2" {
		t.Errorf("sites: %v, %v", ss, err)
	}
	if err := s.DeleteAsset(ctx, "s1", "wic-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Asset(ctx, "s1", "wic-1"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("deleted asset: %v", err)
	}
	if err := s.DeleteSite(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Site(ctx, "s2"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("deleted site: %v", err)
	}
	if err := s.DeleteSite(ctx, "s2"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("delete twice: %v", err)
	}
}

func testTokens(t *testing.T, s Store) {
	ctx := context.Background()
	tok, hash := cloud.NewToken()
	p := &cloud.Principal{TokenID: "tok_1", Role: cloud.RoleStore, Sites: []string{"s1"}, Created: T0}
	if err := s.PutToken(ctx, hash, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, cloud.HashToken(tok), T0)
	if err != nil || got.Role != cloud.RoleStore || got.Sites[0] != "s1" || got.Expires != nil || got.Revoked != nil {
		t.Fatalf("token %+v, %v", got, err)
	}
	if _, err := s.Token(ctx, cloud.HashToken(tok+"x"), T0); !errors.Is(err, cloud.ErrTokenUnknown) || cloud.ErrorCode(err) != cloud.EUNAUTHORIZED {
		t.Errorf("unknown token: %v", err)
	}
	if err := s.PutToken(ctx, hash, &cloud.Principal{TokenID: "tok_again", Role: cloud.RoleAdmin}); err == nil {
		t.Error("a stored secret was stored again")
	}
	// Expiry: usable until, refused from, the instant.
	exp := T0.Add(time.Hour)
	etok, ehash := cloud.NewToken()
	if err := s.PutToken(ctx, ehash, &cloud.Principal{TokenID: "tok_exp", Role: cloud.RoleFM, Created: T0.Add(time.Second), Expires: &exp}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Token(ctx, cloud.HashToken(etok), exp.Add(-time.Microsecond)); err != nil || got.Expires == nil || !got.Expires.Equal(exp) {
		t.Errorf("before expiry: %+v, %v", got, err)
	}
	if _, err := s.Token(ctx, cloud.HashToken(etok), exp); !errors.Is(err, cloud.ErrTokenExpired) {
		t.Errorf("at expiry: %v", err)
	}
	// Last use is written at most once per interval.
	for _, at := range []time.Time{T0.Add(time.Minute), T0.Add(90 * time.Second), T0.Add(2*time.Minute + time.Second)} {
		if err := s.TouchToken(ctx, "tok_1", at, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Token(ctx, hash, T0); got.LastUsed == nil || !got.LastUsed.Equal(T0.Add(2*time.Minute+time.Second)) {
		t.Errorf("last used %v, want the first and third touch's (the second is within a minute of the first)", got.LastUsed)
	} else if err := s.TouchToken(ctx, "tok_1", T0.Add(150*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	} else if got, _ := s.Token(ctx, hash, T0); !got.LastUsed.Equal(T0.Add(2*time.Minute + time.Second)) {
		t.Errorf("touched within the interval: last used %v", got.LastUsed)
	}
	// The list: every token, oldest first, with its clocks.
	list, err := s.Tokens(ctx)
	if err != nil || len(list) != 2 || list[0].TokenID != "tok_1" || list[1].TokenID != "tok_exp" || list[0].LastUsed == nil || list[1].Expires == nil {
		t.Fatalf("tokens %+v, %v", list, err)
	}
	// Revocation: at once, kept in the list, idempotent; unknown ids are
	// not found.
	if err := s.RevokeToken(ctx, "tok_1", T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, hash, T0.Add(time.Hour)); !errors.Is(err, cloud.ErrTokenRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	if err := s.RevokeToken(ctx, "tok_1", T0.Add(2*time.Hour)); err != nil {
		t.Errorf("revoke twice: %v", err)
	}
	if err := s.RevokeToken(ctx, "tok_nope", T0); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("revoke unknown: %v", err)
	}
	if list, _ := s.Tokens(ctx); list[0].Revoked == nil || !list[0].Revoked.Equal(T0.Add(time.Hour)) {
		t.Errorf("revoked at %v, want the first revocation's time", list[0].Revoked)
	}
	testRotateToken(t, s)
}

// testRotateToken: the bootstrap admin's secret, stored by a restart.
func testRotateToken(t *testing.T, s Store) {
	ctx := context.Background()
	boot := func(secret, id string) (int64, error) {
		return s.RotateToken(ctx, cloud.HashToken(secret), &cloud.Principal{TokenID: id, Role: cloud.RoleAdmin, Created: T0}, "tok_bootstrap", T0)
	}
	if err := s.PutToken(ctx, cloud.HashToken("an-fm-token-secret"), &cloud.Principal{TokenID: "tok_bootstrapped_fm", Role: cloud.RoleFM}); err != nil {
		t.Fatal(err)
	}
	// An older release's row, id "tok_bootstrap".
	if err := s.PutToken(ctx, cloud.HashToken("legacy-bootstrap-secret"), &cloud.Principal{TokenID: "tok_bootstrap", Role: cloud.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if n, err := boot("first-bootstrap-secret", "tok_bootstrap_1"); n != 1 || err != nil {
		t.Fatalf("first: revoked %d, %v; want the legacy token revoked", n, err)
	}
	if n, err := boot("first-bootstrap-secret", "tok_bootstrap_2"); n != 0 || err != nil {
		t.Fatalf("same secret again: revoked %d, %v", n, err)
	}
	if n, err := boot("second-bootstrap-secret", "tok_bootstrap_3"); n != 1 || err != nil {
		t.Fatalf("new secret: revoked %d, %v", n, err)
	}
	for secret, want := range map[string]error{"legacy-bootstrap-secret": cloud.ErrTokenRevoked,
		"first-bootstrap-secret": cloud.ErrTokenRevoked, "second-bootstrap-secret": nil} {
		if _, err := s.Token(ctx, cloud.HashToken(secret), T0); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", secret, err, want)
		}
	}
	if _, err := boot("first-bootstrap-secret", "tok_bootstrap_4"); !errors.Is(err, cloud.ErrTokenRevoked) {
		t.Errorf("a revoked secret came back: %v", err)
	}
	if _, err := s.Token(ctx, cloud.HashToken("second-bootstrap-secret"), T0); err != nil {
		t.Errorf("refusing a revoked secret revoked the live one: %v", err)
	}
	// Tokens outside the family are left alone.
	if _, err := s.Token(ctx, cloud.HashToken("an-fm-token-secret"), T0); err != nil {
		t.Errorf("a token outside the family: %v", err)
	}
}

// testSessions: page sessions by the hash of their id, with idle and
// absolute timeouts, ended at sign-out and with their token.
func testSessions(t *testing.T, s Store) {
	ctx := context.Background()
	const idle = 2 * time.Hour
	for _, id := range []string{"tok_a", "tok_b"} {
		if err := s.PutToken(ctx, cloud.HashToken("secret-"+id), &cloud.Principal{TokenID: id, Role: cloud.RoleStore, Sites: []string{"s1"}, Created: T0}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(id, token string, at time.Time) string {
		t.Helper()
		hash := cloud.HashToken(id)
		if err := s.PutSession(ctx, hash, &cloud.Session{TokenID: token, Created: at, Seen: at, Expires: at.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	check := func(what, hash string, at time.Time, want error) {
		t.Helper()
		p, sess, err := s.Session(ctx, hash, at, idle)
		switch {
		case want == nil && err != nil:
			t.Errorf("%s: %v", what, err)
		case want == nil && (p.Role != cloud.RoleStore || sess.TokenID != p.TokenID):
			t.Errorf("%s: %+v %+v", what, p, sess)
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	a := open("session-a", "tok_a", T0)
	check("new", a, T0.Add(time.Minute), nil)
	check("unknown", cloud.HashToken("session-x"), T0, cloud.ErrSessionUnknown)
	check("idle", a, T0.Add(idle), cloud.ErrSessionExpired)
	// Activity keeps it alive, written at most once a minute.
	for _, at := range []time.Time{T0.Add(time.Hour), T0.Add(time.Hour + 30*time.Second)} {
		if err := s.TouchSession(ctx, a, at, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, sess, _ := s.Session(ctx, a, T0.Add(time.Hour), idle); !sess.Seen.Equal(T0.Add(time.Hour)) {
		t.Errorf("seen %v, want the first touch's time", sess.Seen)
	}
	check("active", a, T0.Add(idle+time.Minute), nil)
	check("absolute end", a, T0.Add(12*time.Hour), cloud.ErrSessionExpired)
	// Sign-out ends one session, revoking the token ends all of its.
	b1, b2 := open("session-b1", "tok_b", T0), open("session-b2", "tok_b", T0)
	a2 := open("session-a2", "tok_a", T0)
	if err := s.DeleteSession(ctx, b1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, b1); err != nil {
		t.Errorf("sign out twice: %v", err)
	}
	check("signed out", b1, T0, cloud.ErrSessionUnknown)
	check("other session of the token", b2, T0, nil)
	if err := s.RevokeToken(ctx, "tok_b", T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("token revoked", b2, T0.Add(time.Minute), cloud.ErrSessionUnknown)
	check("another token's session", a2, T0.Add(time.Minute), nil)
	// A session that outlived its absolute end is dropped by the next
	// sign-in.
	open("session-c", "tok_a", T0.Add(13*time.Hour))
	check("pruned", a, T0, cloud.ErrSessionUnknown)
	// A token that expires takes its sessions with it.
	exp := T0.Add(time.Hour)
	if err := s.PutToken(ctx, cloud.HashToken("secret-tok_e"), &cloud.Principal{TokenID: "tok_e", Role: cloud.RoleStore, Sites: []string{"s1"}, Created: T0, Expires: &exp}); err != nil {
		t.Fatal(err)
	}
	e := open("session-e", "tok_e", T0)
	check("token not yet expired", e, exp.Add(-time.Second), nil)
	check("token expired", e, exp, cloud.ErrTokenExpired)
}

func testIntakeDedup(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	r1 := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_trend", "P3")))
	if r1.Reason != workorder.Opened || r1.WorkOrder.Number != 1 {
		t.Fatalf("first: %+v", r1)
	}
	if r := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_trend", "P3"))); r.Reason != workorder.Repeat {
		t.Errorf("repeat: %s", r.Reason)
	}
	r2 := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i2", 1, T0.Add(time.Minute), "s1", "wic-1", "temp_high", "P2")))
	if r2.Reason != workorder.Merged || r2.WorkOrder.ID != r1.WorkOrder.ID {
		t.Fatalf("second: %+v", r2)
	}
	r3 := receive(t, s, in, workorder.FromIncident(Incident(rules.Updated, "i1", 2, T0.Add(2*time.Minute), "s1", "wic-1", "temp_trend", "P3")))
	if r3.Reason != workorder.Updated || r3.WorkOrder.ID != r1.WorkOrder.ID {
		t.Fatalf("update: %+v", r3)
	}
	r4 := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i3", 1, T0, "s1", "wic-1", "door_ajar", "P3")))
	if r4.Reason != workorder.Opened || r4.WorkOrder.Number != 2 {
		t.Fatalf("second problem: %+v", r4)
	}
	w, err := s.WorkOrder(ctx, r1.WorkOrder.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.Problem != "temp_high" || w.Priority != "P2" || len(w.Incidents) != 2 || w.Occurrences != 2 {
		t.Errorf("stored work order %+v", w)
	}
	events, err := s.Events(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := workorder.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Status != w.Status || replayed.Version != w.Version || replayed.Problem != w.Problem {
		t.Errorf("replay %s v%d, stored %s v%d", replayed.Status, replayed.Version, w.Status, w.Version)
	}
	if _, err := s.WorkOrder(ctx, "wo_missing"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
}

func testAtomic(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := in.Receive(ctx, tx, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_high", "P3"))); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if ws, err := s.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}}); err != nil || len(ws) != 0 {
		t.Fatalf("rolled back intake left %d work orders (%v)", len(ws), err)
	}
	// The claim was rolled back too: the message is processed on retry.
	if r := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_high", "P3"))); r.Reason != workorder.Opened {
		t.Errorf("retry after rollback: %s", r.Reason)
	}
}

func testOptimisticLock(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	r := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_high", "P3")))
	a, _ := s.WorkOrder(ctx, r.WorkOrder.ID)
	b, _ := s.WorkOrder(ctx, r.WorkOrder.ID)
	evA, err := workorder.Act(a, workorder.Cancel, workorder.Input{Role: cloud.RoleFM, Reason: "fixed", At: T0})
	if err != nil {
		t.Fatal(err)
	}
	evB, err := workorder.Act(b, workorder.MarkDuplicate, workorder.Input{Role: cloud.RoleFM, DuplicateOf: "x", At: T0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, a, evA) }); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, b, evB) })
	if cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Fatalf("stale save: %v (code %s)", err, cloud.ErrorCode(err))
	}
	w, _ := s.WorkOrder(ctx, r.WorkOrder.ID)
	if w.Status != workorder.Cancelled {
		t.Errorf("status %s", w.Status)
	}
}

func testOneOpen(t *testing.T, s Store) {
	ctx := context.Background()
	mk := func(id string, n int64) (*workorder.WorkOrder, []workorder.Event) {
		w := &workorder.WorkOrder{}
		e := workorder.Event{WorkOrder: id, Version: 1, Kind: workorder.Created, At: T0, Opening: &workorder.Opening{
			ID: id, Number: n, Site: "s1", Asset: "a1", Source: workorder.Manual, Problem: "temp_high", Trade: "refrigeration", Priority: "P3"}}
		if err := w.Apply(&e); err != nil {
			t.Fatal(err)
		}
		return w, []workorder.Event{e}
	}
	w1, e1 := mk("wo_a", 101)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, w1, e1) }); err != nil {
		t.Fatal(err)
	}
	w2, e2 := mk("wo_b", 102)
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, w2, e2) })
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a second open work order for one problem was stored")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("second save hangs")
	}
}

func seed(t *testing.T, s Store, n int) {
	t.Helper()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	problems := []string{"temp_high", "door_ajar", "short_cycling"}
	for i := range n {
		site := fmt.Sprintf("s%d", i%3+1)
		asset := fmt.Sprintf("a%d", i)
		prio := []string{"P1", "P2", "P3", "P4"}[i%4]
		receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, fmt.Sprintf("i%d", i), 1, T0.Add(time.Duration(i)*time.Minute), site, asset, problems[i%3], prio)))
	}
}

func testList(t *testing.T, s Store) {
	ctx := context.Background()
	seed(t, s, 25)
	all := cloud.Scope{All: true}
	var seen []int64
	var before int64
	for page := 0; page < 10; page++ {
		ws, err := s.WorkOrders(ctx, workorder.Filter{Limit: 10, Before: before, Scope: all})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 0 {
			break
		}
		for _, w := range ws {
			seen = append(seen, w.Number)
		}
		before = ws[len(ws)-1].Number
	}
	if len(seen) != 25 || seen[0] != 25 || seen[24] != 1 {
		t.Errorf("pages gave %v", seen)
	}
	for _, tt := range []struct {
		f    workorder.Filter
		want int
	}{
		{workorder.Filter{Site: "s1"}, 9},
		{workorder.Filter{Priority: "P1"}, 7},
		{workorder.Filter{Status: "dispatched"}, 0},
		{workorder.Filter{Status: "ready"}, 7}, // P1: released, no vendor configured
		{workorder.Filter{Source: "sensor", Trade: "refrigeration"}, 25},
		{workorder.Filter{Asset: "a3", Site: "s1"}, 1},
		{workorder.Filter{From: T0.Add(10 * time.Minute), To: T0.Add(20 * time.Minute)}, 10},
		{workorder.Filter{Open: true, Family: "door"}, 8},
		{workorder.Filter{Vendor: "nobody"}, 0},
	} {
		tt.f.Scope, tt.f.Limit = all, 100
		ws, err := s.WorkOrders(ctx, tt.f)
		if err != nil || len(ws) != tt.want {
			t.Errorf("filter %+v: %d work orders (%v), want %d", tt.f, len(ws), err, tt.want)
		}
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil || counts["triaged"] != 18 || counts["ready"] != 7 {
		t.Errorf("counts %v, %v", counts, err)
	}
}

func testScope(t *testing.T, s Store) {
	ctx := context.Background()
	seed(t, s, 12)
	// Assign one work order to a vendor and technician.
	ws, _ := s.WorkOrders(ctx, workorder.Filter{Status: "ready", Scope: cloud.Scope{All: true}})
	w := ws[0]
	ev, err := workorder.Act(w, workorder.Dispatch, workorder.Input{Role: cloud.RoleFM, Vendor: "coolco", At: T0})
	if err != nil {
		t.Fatal(err)
	}
	ev2, err := workorder.Act(w, workorder.Accept, workorder.Input{Role: cloud.RoleVendor, Technician: "tom", At: T0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, w, append(ev, ev2...)) }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		scope cloud.Scope
		want  int
	}{
		{"nothing", cloud.Scope{}, 0},
		{"all", cloud.Scope{All: true}, 12},
		{"store s1", cloud.Scope{Sites: []string{"s1"}}, 4},
		{"store none", cloud.Scope{Sites: []string{}}, 0},
		{"region s1 s2", cloud.Scope{Sites: []string{"s1", "s2"}}, 8},
		{"vendor", cloud.Scope{Vendor: "coolco"}, 1},
		{"other vendor", cloud.Scope{Vendor: "other"}, 0},
		{"technician", cloud.Scope{Vendor: "coolco", Technician: "tom"}, 1},
		{"other technician", cloud.Scope{Vendor: "coolco", Technician: "ann"}, 0},
	} {
		ws, err := s.WorkOrders(ctx, workorder.Filter{Scope: tt.scope, Limit: 100})
		if err != nil || len(ws) != tt.want {
			t.Errorf("%s: %d (%v), want %d", tt.name, len(ws), err, tt.want)
		}
	}
}

func testDueAndRecall(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}}
	r := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_high", "P3")))
	if due, err := s.Due(ctx, T0.Add(29*time.Minute), 10); err != nil || len(due) != 0 {
		t.Fatalf("due early: %v %v", due, err)
	}
	due, err := s.Due(ctx, T0.Add(31*time.Minute), 10)
	if err != nil || len(due) != 1 || due[0] != r.WorkOrder.ID {
		t.Fatalf("due: %v %v", due, err)
	}
	var w *workorder.WorkOrder
	err = s.Update(ctx, func(tx store.Tx) error {
		w, _ = tx.WorkOrder(ctx, due[0])
		ev, _, err := in.Sweep(ctx, tx, w, T0.Add(31*time.Minute))
		if err != nil {
			return err
		}
		return tx.Save(ctx, w, ev)
	})
	if err != nil || w.Status != workorder.Dispatched || w.Vendor != "coolco" {
		t.Fatalf("sweep: %v %+v", err, w)
	}
	if due, _ := s.Due(ctx, T0.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("dispatched work order still due: %v", due)
	}
	// Unaccepted, its dispatch lapses after the P3 acceptance window.
	if due, _ := s.Due(ctx, T0.Add(31*time.Minute+8*time.Hour), 10); len(due) != 1 {
		t.Errorf("lapsed dispatch not due: %v", due)
	}
	steps := []struct {
		a  workorder.Action
		in workorder.Input
	}{
		{workorder.Accept, workorder.Input{Role: cloud.RoleVendor}},
		{workorder.CheckIn, workorder.Input{Role: cloud.RoleTechnician, Override: "test"}},
		{workorder.Complete, workorder.Input{Role: cloud.RoleTechnician, Completion: &workorder.Completion{Problem: "temp_high", Cause: "dirty_coil", Remedy: "cleaned_coil"}}},
		{workorder.Verify, workorder.Input{Role: cloud.RoleFM}},
	}
	for _, st := range steps {
		st.in.At = T0.Add(2 * time.Hour)
		err := s.Update(ctx, func(tx store.Tx) error {
			w, _ := tx.WorkOrder(ctx, r.WorkOrder.ID)
			ev, err := workorder.Act(w, st.a, st.in)
			if err != nil {
				return err
			}
			return tx.Save(ctx, w, ev)
		})
		if err != nil {
			t.Fatalf("%s: %v", st.a, err)
		}
	}
	r2 := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i2", 1, T0.Add(10*24*time.Hour), "s1", "wic-1", "no_cooling", "P2")))
	if r2.Reason != workorder.OpenedRecall || r2.WorkOrder.RecallOf != r.WorkOrder.ID {
		t.Errorf("recall: %+v", r2)
	}
	r3 := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i3", 1, T0.Add(40*24*time.Hour), "s1", "wic-1", "door_ajar", "P2")))
	if r3.Reason != workorder.Opened {
		t.Errorf("other family: %+v", r3.Reason)
	}
}

func testConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for range 2 { // every message twice: a redelivery racing the first
			wg.Go(func() {
				r := workorder.FromIncident(Incident(rules.Opened, fmt.Sprintf("i%d", i), 1, T0, "s1", "wic-1", "temp_high", "P3"))
				errs <- s.Update(ctx, func(tx store.Tx) error {
					_, err := in.Receive(ctx, tx, r)
					return err
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ws, err := s.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}})
	if err != nil || len(ws) != 1 {
		t.Fatalf("%d work orders (%v), want 1", len(ws), err)
	}
	if len(ws[0].Incidents) != n {
		t.Errorf("%d incidents attached, want %d", len(ws[0].Incidents), n)
	}
	ev, _ := s.Events(ctx, ws[0].ID)
	if _, err := workorder.Replay(ev); err != nil {
		t.Error(err)
	}
}

func testClaimAll(t *testing.T, s Store) {
	ctx := context.Background()
	claim := func(keys ...string) map[string]bool {
		var fresh map[string]bool
		err := s.Update(ctx, func(tx store.Tx) error {
			var err error
			fresh, err = tx.ClaimAll(ctx, keys)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if got := claim("a", "b", "a"); len(got) != 2 || !got["a"] || !got["b"] {
		t.Errorf("first claim %v", got)
	}
	if got := claim("b", "c"); len(got) != 1 || !got["c"] {
		t.Errorf("second claim %v", got)
	}
	// A claim made by ClaimAll is seen by Claim, and the other way round.
	err := s.Update(ctx, func(tx store.Tx) error {
		if fresh, err := tx.Claim(ctx, "c"); err != nil || fresh {
			t.Errorf("Claim after ClaimAll: %v %v", fresh, err)
		}
		_, err := tx.Claim(ctx, "d")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := claim("d", "e"); len(got) != 1 || !got["e"] {
		t.Errorf("ClaimAll after Claim: %v", got)
	}
	// Pruning forgets old ids only.
	if n, err := s.PruneClaims(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("prune of nothing old: %d %v", n, err)
	}
	if n, err := s.PruneClaims(ctx, time.Now().Add(time.Minute)); err != nil || n != 5 {
		t.Errorf("prune: %d %v, want 5", n, err)
	}
	if got := claim("a"); !got["a"] {
		t.Errorf("a pruned id is not claimable again")
	}
}

func testOutbox(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "i1", 1, T0, "s1", "wic-1", "temp_high", "P3")))
	receive(t, s, in, workorder.FromIncident(Incident(rules.Updated, "i1", 2, T0, "s1", "wic-1", "temp_high", "P3")))
	// A failed publish leaves the messages for the next try.
	boom := errors.New("nats down")
	if _, err := s.Relay(ctx, 10, func([]relay.Msg) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("relay: %v", err)
	}
	var got []relay.Msg
	n, err := s.Relay(ctx, 10, func(m []relay.Msg) error { got = m; return nil })
	if err != nil || n != 2 || len(got) != 2 {
		t.Fatalf("relay %d %v: %+v", n, err, got)
	}
	if got[0].Subject != "frostline.events.workorder.s1" || got[1].MsgID <= got[0].MsgID {
		t.Errorf("messages %s %s %s", got[0].Subject, got[0].MsgID, got[1].MsgID)
	}
	if n, err := s.Relay(ctx, 10, func([]relay.Msg) error { return nil }); err != nil || n != 0 {
		t.Errorf("relayed twice: %d %v", n, err)
	}
}

// testBatch: a batch in one transaction, as the consumer runs it, with the
// batch's claims and work orders loaded up front, decides exactly as one
// message at a time would.
func testBatch(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "old", 1, T0, "s1", "a9", "door_ajar", "P3")))
	evs := []*rules.Event{
		Incident(rules.Opened, "i1", 1, T0, "s1", "a1", "temp_trend", "P3"),
		Incident(rules.Updated, "i1", 2, T0.Add(time.Minute), "s1", "a1", "temp_trend", "P3"),
		Incident(rules.Opened, "i2", 1, T0.Add(2*time.Minute), "s1", "a1", "temp_high", "P2"),
		Incident(rules.Updated, "i1", 3, T0.Add(3*time.Minute), "s1", "a1", "temp_trend", "P3"),
		Incident(rules.Opened, "i1", 1, T0, "s1", "a1", "temp_trend", "P3"),
		Incident(rules.Updated, "old", 2, T0.Add(time.Minute), "s1", "a9", "door_ajar", "P3"),
		Incident(rules.Cleared, "ghost", 2, T0, "s1", "a2", "temp_high", "P3"), // overtook its opening
		Incident(rules.Opened, "ghost", 1, T0, "s1", "a2", "temp_high", "P3"),
	}
	reports := make([]workorder.Report, len(evs))
	for i, ev := range evs {
		reports[i] = workorder.FromIncident(ev)
	}
	var res []workorder.Result
	err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		res, err = intake.ReceiveBatch(ctx, tx, in, reports)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		got = append(got, string(r.Reason))
	}
	if want := "opened updated merged updated repeat updated held opened"; strings.Join(got, " ") != want {
		t.Errorf("reasons %v, want %s", got, want)
	}
	if g := res[7]; !g.Avoided || g.WorkOrder.Status != workorder.Avoided {
		t.Errorf("opening after its clear: %+v, want the held clear applied after it, ending the work order AVOIDED", g)
	}
	w, err := s.WorkOrder(ctx, res[0].WorkOrder.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Incidents) != "[i1 i2]" || w.Evidence[0].Seq != 3 || w.Problem != "temp_high" {
		t.Errorf("work order after batch: incidents %v, evidence %+v, problem %s", w.Incidents, w.Evidence, w.Problem)
	}
	ev, _ := s.Events(ctx, w.ID)
	if r, err := workorder.Replay(ev); err != nil || r.Version != w.Version {
		t.Errorf("replay: %v %v", r, err)
	}
}

// testIncidentOrder: an incident's events take effect in sequence order
// whichever transaction commits first, on one store shared by replicas.
// The interleavings are forced, not hoped for: a clear committed before its
// opening; a clear started while its opening's transaction is open (it
// must wait for it); and every order of many incidents' events at once,
// each delivered twice. A P1 opening dispatches at once, so its clear,
// applied after it, must never end the work order AVOIDED; a P3 opening is
// held off, so its clear ends it AVOIDED exactly once.
func testIncidentOrder(t *testing.T, s Store) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}}
	update := func(ev *rules.Event) error {
		return s.Update(ctx, func(tx store.Tx) error {
			_, err := in.Receive(ctx, tx, workorder.FromIncident(ev))
			return err
		})
	}
	events := func(id, asset, prio string) []*rules.Event {
		return []*rules.Event{
			Incident(rules.Opened, id, 1, T0.Add(time.Minute), "s1", asset, "temp_high", prio),
			Incident(rules.Updated, id, 2, T0.Add(2*time.Minute), "s1", asset, "temp_high", prio),
			Incident(rules.Cleared, id, 3, T0.Add(3*time.Minute), "s1", asset, "temp_high", prio),
		}
	}

	// 1. The clear and the update commit before the opening.
	ic := events("ic", "wic-1", "P1")
	for _, ev := range []*rules.Event{ic[2], ic[1], ic[0]} {
		if err := update(ev); err != nil {
			t.Fatal(err)
		}
	}
	checkOrdered(t, s, "ic", workorder.Dispatched)

	// 2. The clear starts while its opening's transaction is open: it
	// waits for the opening to commit and is applied after it.
	io := events("io", "wic-2", "P1")
	if err := update(io[1]); err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	opened := make(chan error, 1)
	go func() {
		opened <- s.Update(ctx, func(tx store.Tx) error {
			_, err := in.Receive(ctx, tx, workorder.FromIncident(io[0]))
			if err == nil {
				select {
				case <-inside: // a retried attempt: already signalled
				default:
					close(inside)
				}
				<-release
			}
			return err
		})
	}()
	<-inside
	cleared := make(chan error, 1)
	go func() { cleared <- update(io[2]) }()
	select {
	case err := <-cleared:
		t.Fatalf("the clear committed (%v) while its opening's transaction held the incident", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	if err := <-cleared; err != nil {
		t.Fatal(err)
	}
	checkOrdered(t, s, "io", workorder.Dispatched)

	// 3. Many incidents, each event twice (two replicas), all at once in
	// a shuffled order.
	var msgs []*rules.Event
	want := map[string]workorder.Status{}
	for i := range 12 {
		id, prio, st := fmt.Sprintf("r%d", i), "P1", workorder.Dispatched
		if i%2 == 1 {
			prio, st = "P3", workorder.Avoided
		}
		want[id] = st
		evs := events(id, fmt.Sprintf("case-%d", i), prio)
		msgs = append(msgs, evs...)
		msgs = append(msgs, evs...)
	}
	rand.New(rand.NewPCG(20, 6)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs))
	start := make(chan struct{})
	for _, ev := range msgs {
		wg.Go(func() {
			<-start
			errs <- update(ev)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for id, st := range want {
		checkOrdered(t, s, id, st)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["avoided"] != 6 || counts["dispatched"] != 8 {
		t.Errorf("counts %v, want 6 avoided (the P3s) and 8 dispatched (the P1s)", counts)
	}
}

// checkOrdered: the incident is on one work order, in status want, whose
// evidence saw the incident's three events in order, with at most one
// avoid transition.
func checkOrdered(t *testing.T, s Store, incident string, want workorder.Status) {
	t.Helper()
	ctx := context.Background()
	var w *workorder.WorkOrder
	err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		w, err = tx.ByIncident(ctx, incident)
		return err
	})
	if err != nil || w == nil {
		t.Fatalf("incident %s: work order %v (%v)", incident, w, err)
	}
	if w.Status != want {
		t.Errorf("incident %s: WO %d %s, want %s", incident, w.Number, w.Status, want)
	}
	ev, err := s.Events(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	avoids := 0
	for _, e := range ev {
		if e.Evidence != nil && e.Evidence.Incident == incident {
			seqs = append(seqs, e.Evidence.Seq)
		}
		if e.Kind == workorder.Transition && e.To == workorder.Avoided {
			avoids++
		}
	}
	if !slices.Equal(seqs, []int{1, 2, 3}) || avoids > 1 {
		t.Errorf("incident %s: evidence seqs %v, %d avoid transitions; want [1 2 3] in order and at most one", incident, seqs, avoids)
	}
	if r, err := workorder.Replay(ev); err != nil || r.Status != w.Status {
		t.Errorf("incident %s: replay %v (%v)", incident, r, err)
	}
}
