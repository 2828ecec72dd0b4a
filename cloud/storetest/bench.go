package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/frostline/frostline/cloud"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Incidents makes a realistic stream of n incident events over 500 sites
// of 20 assets: each incident opened, updated twice and cleared, so most
// events attach to an open work order and some work orders end AVOIDED.
// The id prefix keeps separate runs apart.
func Incidents(prefix string, n int) []*rules.Event {
	out := make([]*rules.Event, n)
	for k := range out {
		out[k] = IncidentEvent(prefix, k)
	}
	return out
}

// IncidentEvent is the k-th event of the Incidents stream, made on demand
// so that long runs need no memory for the stream itself.
func IncidentEvent(prefix string, k int) *rules.Event {
	problems := []string{"temp_trend", "temp_high", "door_ajar", "no_cooling", "short_cycling", "sensor_offline"}
	i, seq := k/4, k%4
	at := T0.Add(time.Duration(i) * time.Second)
	site, asset := fmt.Sprintf("site-%d", i%500), fmt.Sprintf("a%d", (i/500)%20)
	ev := []rules.EventType{rules.Opened, rules.Updated, rules.Updated, rules.Cleared}[seq]
	e := Incident(ev, fmt.Sprintf("%s-%d", prefix, i), seq+1, at.Add(time.Duration(seq)*time.Minute), site, asset, problems[i%len(problems)], "P3")
	e.Peak += float64(seq)
	return e
}

// BenchIntake measures incidents committed per second through
// workorder.Intake, in transactions of batch incidents as the JetStream
// consumer makes them, and reports the heap after the run.
func BenchIntake(b *testing.B, s Store, batch, lanes int) {
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}}
	prefix := fmt.Sprintf("b%d", time.Now().UnixNano())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var maxHeap uint64
	evs := make([]*rules.Event, 0, batch)
	for lo := 0; lo < b.N; lo += batch {
		evs = evs[:0]
		for k := lo; k < min(lo+batch, b.N); k++ {
			evs = append(evs, IncidentEvent(prefix, k))
		}
		var g errgroup.Group
		for _, lane := range intake.Lanes(evs, lanes, func(e *rules.Event) string { return e.Site }) {
			g.Go(func() error {
				reports := make([]workorder.Report, len(lane))
				for i, ev := range lane {
					reports[i] = workorder.FromIncident(ev)
				}
				return s.Update(ctx, func(tx store.Tx) error {
					_, err := intake.ReceiveBatch(ctx, tx, in, reports)
					return err
				})
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		if (lo/batch)%200 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "incidents/s")
	b.ReportMetric(float64(maxHeap)/(1<<20), "max-heap-MB")
}

// Seeder fills a store with a closed work-order history.
type Seeder interface {
	SeedHistory(ctx context.Context, from, to int64) error
}

// BenchWorkOrders seeds n work orders (FROSTLINE_BENCH_WORKORDERS, default
// 1,000,000) and measures GET /api/v1/workorders with a mix of filters
// through the real handler, reporting p50 and p99 latency.
func BenchWorkOrders(b *testing.B, s interface {
	Store
	Seeder
}) {
	ctx := context.Background()
	n := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv("FROSTLINE_BENCH_WORKORDERS"), 10, 64); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	if err := s.SeedHistory(ctx, 1, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d work orders in %s", n, time.Since(start).Round(time.Second))
	srv := cloudhttp.New(cloudhttp.Options{Store: s, Intake: &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fm, _, err := cloudhttp.IssueToken(ctx, s, cloudhttp.TokenRequest{Role: cloud.RoleFM}, T0)
	if err != nil {
		b.Fatal(err)
	}
	store, _, err := cloudhttp.IssueToken(ctx, s, cloudhttp.TokenRequest{Role: cloud.RoleStore, Sites: []string{"site-3", "site-77", "site-401"}}, T0)
	if err != nil {
		b.Fatal(err)
	}
	vendor, _, err := cloudhttp.IssueToken(ctx, s, cloudhttp.TokenRequest{Role: cloud.RoleVendor, Vendor: "airco"}, T0)
	if err != nil {
		b.Fatal(err)
	}
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	queries := []struct{ token, query string }{
		{fm, ""},
		{fm, "site=site-7"},
		{fm, "status=closed&priority=P2"},
		{fm, "site=site-9&status=verified"},
		{fm, "trade=hvac&source=sensor"},
		{fm, "vendor=coolco&priority=P1"},
		{fm, "site=site-42&asset=a2"},
		{fm, "from=" + day.Format(time.RFC3339) + "&to=" + day.Add(24*time.Hour).Format(time.RFC3339)},
		{fm, "status=avoided&cursor=" + cloudhttp.EncodeCursor(n/2)},
		{fm, "status=in_progress"}, // none in the history: the worst case for an index scan
		{store, ""},
		{vendor, "status=closed"},
	}
	lat := make([]time.Duration, 0, b.N)
	per := make([][]time.Duration, len(queries))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		req := httptest.NewRequest("GET", "/api/v1/workorders?"+q.query, nil)
		req.Header.Set("Authorization", "Bearer "+q.token)
		rec := httptest.NewRecorder()
		t := time.Now()
		srv.ServeHTTP(rec, req)
		d := time.Since(t)
		lat = append(lat, d)
		per[i%len(queries)] = append(per[i%len(queries)], d)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", q.query, rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	for i, ds := range per {
		if len(ds) > 0 {
			slices.Sort(ds)
			fmt.Fprintf(os.Stderr, "list %-60s p99 %s\n", queries[i].query, ds[len(ds)*99/100])
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(n), "workorders")
}
