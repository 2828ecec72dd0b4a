package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

// eachStore runs f against a fresh SQLite store and a fresh PostgreSQL
// database, each on a fake clock stopped at t0 (the fixtures' time).
func eachStore(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	clock := func() time.Time { return t0 }
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.Now = clock
		f(t, db.DB)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.Now = clock
		f(t, db.DB)
	})
}

func seedSites(t *testing.T, db *sqldb.DB) {
	t.Helper()
	for _, s := range []cloud.Site{{ID: "s1", Region: "north"}, {ID: "s2", Region: "south"}, {ID: "s3", Region: "north"}} {
		if err := db.PutSite(context.Background(), &s); err != nil {
			t.Fatal(err)
		}
	}
}

// seedWebhooks seeds the sites and registers the webhooks hs.
func seedWebhooks(t *testing.T, db *sqldb.DB, hs ...*notify.Webhook) {
	t.Helper()
	seedSites(t, db)
	for _, h := range hs {
		if err := db.CreateWebhook(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
}

func hook(id string, scope notify.WebhookScope, events ...string) *notify.Webhook {
	return &notify.Webhook{ID: id, URL: "https://hooks.example.com/" + id, Scope: scope, Events: events,
		Secrets: []notify.Secret{notify.NewSecret(t0)}, Active: true, CreatedBy: "tok_test", CreatedAt: t0, UpdatedAt: t0}
}

// incident opens a P1 incident: with the vendor rule below, a work order
// created already dispatched (created, then dispatched: notable events).
func incident(id, site string) *rules.Event {
	lim := 5.0
	return &rules.Event{Event: rules.Opened, Incident: id, Seq: 1, Site: site, Asset: "a-" + id, AssetClass: "walk_in_cooler",
		Rule: "temp_high", Problem: "temp_high", Priority: "P1", Trade: "refrigeration", At: t0, Started: t0,
		Metric: "air_temp", Value: 9, Peak: 9, Limit: &lim, Occurrences: 1}
}

func intake() *workorder.Intake[store.Tx] {
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Site: "s1", Vendor: "coolco"}, {Site: "s2", Vendor: "arctic"}}
	return in
}

func receive(t *testing.T, db *sqldb.DB, in *workorder.Intake[store.Tx], ev *rules.Event) {
	t.Helper()
	ctx := context.Background()
	if err := db.Update(ctx, func(tx store.Tx) error {
		_, err := in.Receive(ctx, tx, workorder.FromIncident(ev))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// outbox returns the notices waiting in the outbox by subject's site,
// leaving them there.
func outbox(t *testing.T, db *sqldb.DB) map[string][]string {
	t.Helper()
	keep := errors.New("keep")
	out := map[string][]string{}
	_, err := db.Relay(context.Background(), 1000, func(msgs []relay.Msg) error {
		for _, m := range msgs {
			site := m.Subject[strings.LastIndex(m.Subject, ".")+1:]
			out[site] = append(out[site], m.MsgID)
		}
		return keep
	})
	if !errors.Is(err, keep) && err != nil {
		t.Fatal(err)
	}
	return out
}

func deliveredEvents(t *testing.T, db *sqldb.DB, webhook string) []string {
	t.Helper()
	ds, err := db.WebhookDeliveries(context.Background(), webhook, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		if d.ID != webhook+"/"+d.Event || d.State != notify.Pending {
			t.Errorf("delivery %+v", d)
		}
		out = append(out, d.Event)
	}
	sort.Strings(out)
	return out
}

// TestFanOut: each notice becomes one delivery per webhook whose scope
// sees it, in the notice's transaction; never another tenant's; none
// when the transaction rolls back; none for an inactive webhook.
func TestFanOut(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedSites(t, db)
		hooks := []*notify.Webhook{
			hook("h-s1", notify.WebhookScope{Sites: []string{"s1"}}),
			hook("h-s2", notify.WebhookScope{Sites: []string{"s2"}}),
			hook("h-north", notify.WebhookScope{Region: "north"}),
			hook("h-coolco", notify.WebhookScope{Vendor: "coolco"}),
			hook("h-all", notify.WebhookScope{All: true}),
			hook("h-created", notify.WebhookScope{All: true}, notify.WorkOrderCreated),
			hook("h-off", notify.WebhookScope{All: true}),
		}
		hooks[6].Active = false
		for _, h := range hooks {
			if err := db.CreateWebhook(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		in := intake()
		for i, site := range []string{"s1", "s2", "s3", "s1"} {
			receive(t, db, in, incident(fmt.Sprintf("i%d", i), site))
		}
		// A transaction that fails after saving leaves no delivery.
		err := db.Update(ctx, func(tx store.Tx) error {
			if _, err := in.Receive(ctx, tx, workorder.FromIncident(incident("i-rolled-back", "s2"))); err != nil {
				return err
			}
			return errors.New("crash before commit")
		})
		if err == nil {
			t.Fatal("the failing transaction committed")
		}

		ob := outbox(t, db)
		if len(ob["s1"]) < 2 || len(ob["s2"]) < 1 || len(ob["s3"]) < 1 {
			t.Fatalf("outbox %v", ob)
		}
		join := func(sites ...string) []string {
			var out []string
			for _, s := range sites {
				out = append(out, ob[s]...)
			}
			sort.Strings(out)
			return out
		}
		var created []string
		ds, _ := db.WebhookDeliveries(ctx, "h-all", "", 500)
		for _, d := range ds {
			if d.Type == notify.WorkOrderCreated {
				created = append(created, d.Event)
			}
		}
		sort.Strings(created)
		for id, want := range map[string][]string{
			"h-s1": join("s1"), "h-s2": join("s2"), "h-north": join("s1", "s3"), "h-coolco": join("s1"),
			"h-all": join("s1", "s2", "s3"), "h-created": created, "h-off": nil,
		} {
			if got := deliveredEvents(t, db, id); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", id, got, want)
			}
		}
		if len(created) != 4 {
			t.Errorf("created events %v, want one per work order", created)
		}
	})
}

// TestFanOutRace: two writers racing on one work order (two replicas
// acting on it): the loser's transaction is retried, and each event ends
// up with exactly one delivery.
func TestFanOutRace(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedWebhooks(t, db, hook("h-all", notify.WebhookScope{All: true}))
		in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
		ev := incident("i-race", "s1")
		ev.Priority = "P3"
		receive(t, db, in, ev)
		wos, err := db.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}})
		if err != nil || len(wos) != 1 {
			t.Fatal(wos, err)
		}
		id := wos[0].ID
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Update(ctx, func(tx store.Tx) error {
					w, err := tx.WorkOrder(ctx, id)
					if err != nil {
						return err
					}
					evs, err := workorder.Act(w, workorder.Release, workorder.Input{Role: cloud.RoleFM, Actor: fmt.Sprint("fm", i), At: t0})
					if err != nil {
						return err
					}
					return tx.Save(ctx, w, evs)
				})
			}()
		}
		wg.Wait()
		var ok int
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d of the racing releases committed: %v", ok, errs)
		}
		// created, triaged, released: each once, in the outbox and as
		// deliveries alike.
		ob := outbox(t, db)
		if got, want := deliveredEvents(t, db, "h-all"), ob["s1"]; len(want) != 3 || !slices.Equal(got, sortedCopy(want)) {
			t.Errorf("deliveries %v, outbox %v", got, want)
		}
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

// TestClaimLease: a claimed delivery is the claimant's alone until its
// lease runs out; a worker that lost its lease cannot record over the
// new holder; replay re-queues only dead deliveries.
func TestClaimLease(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedWebhooks(t, db, hook("h1", notify.WebhookScope{Sites: []string{"s1"}}))
		receive(t, db, intake(), incident("i1", "s1"))
		now := t0
		// A limit is a limit (a plain IN (subquery) on PostgreSQL leased
		// more than asked).
		a, err := db.ClaimDeliveries(ctx, "A", now, time.Minute, 1)
		if err != nil || len(a) != 1 {
			t.Fatalf("claim one: %d %v", len(a), err)
		}
		rest, err := db.ClaimDeliveries(ctx, "A", now, time.Minute, 100)
		if err != nil || len(rest) == 0 {
			t.Fatalf("claim: %v %v", rest, err)
		}
		a = append(a, rest...)
		if a[0].Subscription.URL != "https://hooks.example.com/h1" || len(a[0].Subscription.Secrets) != 1 || len(a[0].Delivery.Body) == 0 {
			t.Errorf("claim %+v", a[0])
		}
		if b, err := db.ClaimDeliveries(ctx, "B", now, time.Minute, 100); err != nil || len(b) != 0 {
			t.Fatalf("B claimed %d leased deliveries (%v)", len(b), err)
		}
		// A's lease runs out; B takes them and dead-letters A's first
		// one before A comes back: A's late record of the same attempt
		// is refused.
		later := now.Add(2 * time.Minute)
		b, err := db.ClaimDeliveries(ctx, "B", later, time.Minute, 100)
		if err != nil || len(b) != len(a) {
			t.Fatalf("B claimed %d of %d expired leases (%v)", len(b), len(a), err)
		}
		i := slices.IndexFunc(b, func(c notify.Claim) bool { return c.Delivery.ID == a[0].Delivery.ID })
		dl := b[i].Delivery
		dl.State, dl.Attempts, dl.LastError = notify.Dead, 1, "HTTP 500"
		at := notify.Attempt{Delivery: dl.ID, URL: b[i].Subscription.URL, N: 1, At: later, Took: 3 * time.Millisecond, Status: 500,
			Response: "boom", Outcome: notify.OutcomeDead}
		if err := db.FinishDelivery(ctx, &dl, &at); err != nil {
			t.Fatal(err)
		}
		late := a[0].Delivery
		late.State, late.Attempts = notify.Delivered, 1
		err = db.FinishDelivery(ctx, &late, &notify.Attempt{Delivery: late.ID, N: 1, At: later, Status: 200, Outcome: notify.OutcomeDelivered})
		if !errors.Is(err, notify.ErrLeaseLost) {
			t.Fatalf("A recorded after B: %v", err)
		}
		// The log shows B's attempt; replay re-queues.
		if err := db.ReplayDelivery(ctx, "h1", b[(i+1)%len(b)].Delivery.ID, later); cloud.ErrorCode(err) != cloud.ECONFLICT {
			t.Errorf("replay of a leased pending delivery: %v", err)
		}
		if err := db.ReplayDelivery(ctx, "other", dl.ID, later); cloud.ErrorCode(err) != cloud.ENOTFOUND {
			t.Errorf("replay through another webhook: %v", err)
		}
		dead, err := db.WebhookDeliveries(ctx, "h1", notify.Dead, 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead %v %v", dead, err)
		}
		if l := dead[0].Log; len(l) != 1 || l[0].Status != 500 || l[0].Response != "boom" || l[0].Took != 3*time.Millisecond ||
			l[0].URL != "https://hooks.example.com/h1" || dead[0].LastError != "HTTP 500" {
			t.Errorf("log %+v", dead[0])
		}
		if err := db.ReplayDelivery(ctx, "h1", dl.ID, later); err != nil {
			t.Fatal(err)
		}
		c, err := db.ClaimDeliveries(ctx, "C", later, time.Minute, 100)
		if err != nil || len(c) != 1 || c[0].Delivery.ID != dl.ID || c[0].Delivery.Attempts != 0 {
			t.Fatalf("after replay claimed %+v (%v)", c, err)
		}
		backlog, err := db.WebhookBacklog(ctx)
		if err != nil || backlog[notify.Pending] != len(b) || backlog[notify.Dead] != 0 {
			t.Errorf("backlog %v %v", backlog, err)
		}
	})
}

// TestWebhookCRUD: create, list by owner, update, rotate, 410 disables,
// delete cascades.
func TestWebhookCRUD(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedSites(t, db)
		h := hook("h1", notify.WebhookScope{Sites: []string{"s1"}}, notify.WorkOrderCreated)
		other := hook("h2", notify.WebhookScope{All: true})
		other.CreatedBy = "tok_other"
		for _, x := range []*notify.Webhook{h, other} {
			if err := db.CreateWebhook(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateWebhook(ctx, h); err == nil {
			t.Error("a second webhook with the same id")
		}
		mine, err := db.Webhooks(ctx, "tok_test")
		if err != nil || len(mine) != 1 || mine[0].ID != "h1" || !slices.Equal(mine[0].Events, []string{notify.WorkOrderCreated}) ||
			mine[0].Secrets[0].Value != h.Secrets[0].Value || !mine[0].CreatedAt.Equal(t0) {
			t.Fatalf("mine %+v %v", mine, err)
		}
		if all, _ := db.Webhooks(ctx, ""); len(all) != 2 {
			t.Errorf("all: %d", len(all))
		}
		h.URL, h.Active, h.Events = "https://hooks.example.com/v2", false, nil
		if err := db.UpdateWebhook(ctx, h); err != nil {
			t.Fatal(err)
		}
		got, err := db.Webhook(ctx, "h1")
		if err != nil || got.URL != h.URL || got.Active || len(got.Events) != 0 {
			t.Errorf("updated %+v %v", got, err)
		}
		fresh, err := db.RotateWebhookSecret(ctx, "h1", t0.Add(time.Hour), 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = db.Webhook(ctx, "h1")
		if len(got.Secrets) != 2 || got.Secrets[1].Value != fresh.Value || !got.Secrets[0].Expires.Equal(t0.Add(25*time.Hour)) {
			t.Errorf("rotated %+v", got.Secrets)
		}
		if _, err := db.Webhook(ctx, "nope"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
			t.Errorf("missing: %v", err)
		}
		// 410 Gone disables the webhook.
		receive(t, db, intake(), incident("i1", "s1"))
		cs, err := db.ClaimDeliveries(ctx, "A", t0, time.Minute, 1)
		if err != nil || len(cs) != 1 || cs[0].Delivery.Subscription != "h2" {
			t.Fatalf("claim %+v %v", cs, err)
		}
		dl := cs[0].Delivery
		dl.State, dl.Attempts = notify.Dead, 1
		if err := db.FinishDelivery(ctx, &dl, &notify.Attempt{N: 1, At: t0, Status: 410, Outcome: notify.OutcomeDead}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Webhook(ctx, "h2"); got.Active || got.DisabledReason == "" {
			t.Errorf("after 410: %+v", got)
		}
		if cs, _ := db.ClaimDeliveries(ctx, "A", t0, time.Minute, 10); len(cs) != 0 {
			t.Errorf("claimed %d deliveries of a disabled webhook", len(cs))
		}
		// Pruning takes the finished (the dead one) and leaves the pending.
		before, _ := db.WebhookBacklog(ctx)
		if n, err := db.PruneWebhookDeliveries(ctx, t0.Add(-time.Hour)); err != nil || n != 0 {
			t.Errorf("pruned %d recent deliveries (%v)", n, err)
		}
		if n, err := db.PruneWebhookDeliveries(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
			t.Errorf("pruned %d, want the dead one (%v)", n, err)
		}
		if after, _ := db.WebhookBacklog(ctx); after[notify.Dead] != 0 || after[notify.Pending] != before[notify.Pending] || before[notify.Pending] == 0 {
			t.Errorf("backlog %v before pruning, %v after", before, after)
		}
		if err := db.DeleteWebhook(ctx, "h2"); err != nil {
			t.Fatal(err)
		}
		if ds, _ := db.WebhookDeliveries(ctx, "h2", "", 10); len(ds) != 0 {
			t.Errorf("deliveries outlived their webhook: %d", len(ds))
		}
		if err := db.DeleteWebhook(ctx, "h2"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
			t.Errorf("second delete: %v", err)
		}
	})
}

// BenchmarkIntakeWebhooks is storetest.BenchIntake (batches of 256, one
// lane) with no webhook, one that gets every event, and 20 scoped to one
// site each: what the fan-out in Save costs intake.
func BenchmarkIntakeWebhooks(b *testing.B) {
	for _, store := range []string{"sqlite", "postgres"} {
		for _, hooks := range []string{"none", "all", "20-sites"} {
			b.Run(store+"/"+hooks, func(b *testing.B) {
				var db interface {
					storetest.Store
					CreateWebhook(context.Context, *notify.Webhook) error
					WebhookBacklog(context.Context) (map[notify.State]int, error)
				}
				if store == "sqlite" {
					s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					db = s
				} else {
					s, err := postgres.Open(context.Background(), pgtest.DSN(b))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					db = s
				}
				var hs []*notify.Webhook
				switch hooks {
				case "all":
					hs = append(hs, hook("h-all", notify.WebhookScope{All: true}))
				case "20-sites":
					for i := range 20 {
						hs = append(hs, hook(fmt.Sprint("h-", i), notify.WebhookScope{Sites: []string{fmt.Sprint("site-", i)}}))
					}
				}
				for _, h := range hs {
					if err := db.CreateWebhook(context.Background(), h); err != nil {
						b.Fatal(err)
					}
				}
				storetest.BenchIntake(b, db, 256, 1)
				backlog, err := db.WebhookBacklog(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(backlog[notify.Pending])/float64(b.N), "deliveries/incident")
			})
		}
	}
}

// TestClock: what the store stamps and decides itself is on its clock
// (DB.Now), not the wall clock: claimed message keys and deliveries made
// at the fake t0, weeks before the wall clock, are pruned and leased by
// t0's measure.
func TestClock(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedWebhooks(t, db, hook("h1", notify.WebhookScope{All: true}))
		receive(t, db, intake(), incident("i1", "s1"))
		if n, err := db.PruneClaims(ctx, t0); err != nil || n != 0 {
			t.Errorf("pruned %d keys claimed at t0 before t0 (%v)", n, err)
		}
		if n, err := db.PruneClaims(ctx, t0.Add(time.Microsecond)); err != nil || n == 0 {
			t.Errorf("pruned %d keys claimed at t0 before t0+1µs, want them (%v)", n, err)
		}
		if cs, err := db.ClaimDeliveries(ctx, "A", t0.Add(-time.Microsecond), time.Minute, 10); err != nil || len(cs) != 0 {
			t.Errorf("leased %d deliveries due at t0 before t0 (%v)", len(cs), err)
		}
		if cs, err := db.ClaimDeliveries(ctx, "A", t0, time.Minute, 10); err != nil || len(cs) == 0 {
			t.Errorf("leased %d deliveries due at t0 at t0, want them (%v)", len(cs), err)
		}
	})
}

// TestRevokedTokenWebhooks: revoking a token disables the webhooks it
// registered and kills their queued deliveries, in its transaction; the
// next notices fan out to the other webhooks only, nothing of the revoked
// token's is claimed, and its webhooks cannot be switched on again.
func TestRevokedTokenWebhooks(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedSites(t, db)
		for _, p := range []*cloud.Principal{
			{TokenID: "tok_test", Role: cloud.RoleVendor, Vendor: "coolco", Created: t0},
			{TokenID: "tok_other", Role: cloud.RoleAdmin, Created: t0},
		} {
			_, hash := cloud.NewToken()
			if err := db.PutToken(ctx, hash, p); err != nil {
				t.Fatal(err)
			}
		}
		mine := hook("h1", notify.WebhookScope{Vendor: "coolco"})
		other := hook("h2", notify.WebhookScope{Sites: []string{"s1"}})
		other.CreatedBy = "tok_other"
		for _, h := range []*notify.Webhook{mine, other} {
			if err := db.CreateWebhook(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		receive(t, db, intake(), incident("i1", "s1"))
		queued := deliveredEvents(t, db, "h1")
		if len(queued) == 0 || len(deliveredEvents(t, db, "h2")) != len(queued) {
			t.Fatalf("before the revocation: h1 %v, h2 %v", queued, deliveredEvents(t, db, "h2"))
		}

		revokedAt := t0.Add(time.Hour)
		if err := db.RevokeToken(ctx, "tok_test", revokedAt); err != nil {
			t.Fatal(err)
		}
		h1, err := db.Webhook(ctx, "h1")
		if err != nil || h1.Active || !strings.Contains(h1.DisabledReason, "revoked") || !h1.UpdatedAt.Equal(revokedAt) {
			t.Errorf("the revoked token's webhook: %+v %v", h1, err)
		}
		if h2, _ := db.Webhook(ctx, "h2"); !h2.Active {
			t.Errorf("another token's webhook disabled: %+v", h2)
		}
		dead, err := db.WebhookDeliveries(ctx, "h1", notify.Dead, 100)
		if err != nil || len(dead) != len(queued) {
			t.Fatalf("dead deliveries of h1: %d of %d (%v)", len(dead), len(queued), err)
		}
		for _, d := range dead {
			if !strings.Contains(d.LastError, "revoked") || len(d.Log) != 0 {
				t.Errorf("delivery %s: %q, %d attempts logged", d.ID, d.LastError, len(d.Log))
			}
		}
		backlog, err := db.WebhookBacklog(ctx)
		if err != nil || backlog[notify.Pending] != len(queued) || backlog[notify.Dead] != len(queued) {
			t.Errorf("backlog %v (%v): want %d pending (h2's) and %d dead", backlog, err, len(queued), len(queued))
		}

		// A fan-out that read h1 active just before the revocation
		// committed queues after it (made here by hand): the next prune
		// marks it dead, so it is not pending for good.
		if _, err := db.Writer.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', last_error = '' WHERE webhook = 'h1'`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PruneWebhookDeliveries(ctx, t0); err != nil {
			t.Fatal(err)
		}
		if late, err := db.WebhookDeliveries(ctx, "h1", notify.Dead, 100); err != nil || len(late) != len(queued) || !strings.Contains(late[0].LastError, "revoked") {
			t.Errorf("the late deliveries after a prune: %d dead of %d (%v)", len(late), len(queued), err)
		}

		// Later notices: h2 only.
		receive(t, db, intake(), incident("i2", "s1"))
		if got, _ := db.WebhookDeliveries(ctx, "h1", "", 100); len(got) != len(queued) {
			t.Errorf("h1 has %d deliveries after the revocation, want the %d from before", len(got), len(queued))
		}
		claims, err := db.ClaimDeliveries(ctx, "A", time.Now(), time.Minute, 100)
		if err != nil || len(claims) != 2*len(queued) {
			t.Fatalf("claimed %d, want h2's %d (%v)", len(claims), 2*len(queued), err)
		}
		for _, c := range claims {
			if c.Delivery.Subscription != "h2" {
				t.Errorf("claimed a delivery of %s", c.Delivery.Subscription)
			}
		}

		// Not switched on again; edited while off, it may be.
		h1.Description = "still off"
		if err := db.UpdateWebhook(ctx, h1); err != nil {
			t.Errorf("editing the disabled webhook: %v", err)
		}
		h1.Active, h1.DisabledReason = true, ""
		if err := db.UpdateWebhook(ctx, h1); cloud.ErrorCode(err) != cloud.ECONFLICT {
			t.Errorf("re-activating a revoked token's webhook: %v, want ECONFLICT", err)
		}
		if got, _ := db.Webhook(ctx, "h1"); got.Active || got.Description != "still off" {
			t.Errorf("after the refused re-activation: %+v", got)
		}
		other.Active = false
		if err := db.UpdateWebhook(ctx, other); err != nil {
			t.Fatal(err)
		}
		other.Active = true
		if err := db.UpdateWebhook(ctx, other); err != nil {
			t.Errorf("re-activating a live token's webhook: %v", err)
		}
		// Revoking again changes nothing.
		if err := db.RevokeToken(ctx, "tok_test", revokedAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Webhook(ctx, "h1"); !got.UpdatedAt.Equal(revokedAt) {
			t.Errorf("a second revocation touched the webhook: %+v", got)
		}
	})
}
