package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

// syncBuffer is a bytes.Buffer safe for the demo's goroutines to write
// and the test to read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoWholeLoop runs the demo as `make demo` does, on free ports and a
// fast clock, and waits for the injected compressor failure to travel
// sensor -> MQTT -> edge rules -> JetStream -> cloud and become a P1
// refrigeration work order. Then it stops the demo, starts it again on
// the same data folder and checks that it resumes rather than starts over.
func TestDemoWholeLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo for about half a minute")
	}
	dir := t.TempDir()
	args := []string{"demo", "--data", dir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--speed", "1200", "--preroll", "13h"}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, nil, &out, &out) }()
	p1 := regexp.MustCompile(`work order #\d+ .*P1 sensor (temp_high|no_cooling|temp_trend|long_runtime) store-101/waco-1 \(refrigeration\)`)
	deadline := time.Now().Add(90 * time.Second)
	for !p1.MatchString(out.String()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no P1 refrigeration work order for the failed compressor within 90s:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	dispatched := regexp.MustCompile(`work order #\d+ (created DISPATCHED|[A-Z_ ]*-> DISPATCHED): P1 sensor \w+ store-101/waco-1 \(refrigeration\)  vendor polar-refrigeration`)
	// Frosty Fix is ranked first but its insurance has expired: the work
	// goes to Polar, and the demo says why.
	passed := "dispatch passed over frosty-fix: document_expired (coi_general_liability expired"
	for !dispatched.MatchString(out.String()) || !strings.Contains(out.String(), passed) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the P1 work order was not dispatched to polar-refrigeration past frosty-fix:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The demo's vendor accepts, its technician checks in and completes
	// once the compressor is repaired (the fault ends), and the sensors
	// verify the fix.
	verified := regexp.MustCompile(`work order #\d+ [A-Z_]+ -> VERIFIED: P1 sensor \w+ store-101/waco-1 \(refrigeration\)  vendor polar-refrigeration`)
	for _, step := range []string{"DISPATCHED -> ACCEPTED", "ACCEPTED -> IN_PROGRESS"} {
		if !strings.Contains(out.String(), step) {
			for end := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), step) && time.Now().Before(end); {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	for end := time.Now().Add(120 * time.Second); !verified.MatchString(out.String()); {
		if time.Now().After(end) {
			cancel()
			<-done
			t.Fatalf("the P1 work order was not accepted, completed and verified:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Polar's office invoices the verified work at its rate table's
	// prices, plus the refrigerant it topped up that the technician did
	// not record: the cloud flags that line and holds the invoice for the
	// FM, who approves it. Its billing contact is emailed, and the work
	// order's page shows the invoice, its checks and who approved it.
	submitted := regexp.MustCompile(`invoice (POLAR-\d+) from polar-refrigeration for work order #\d+: \$\d+\.\d\d SUBMITTED \(flagged: part R448A-LB was not recorded at completion[^)]*; waits for the FM\)`)
	approved := regexp.MustCompile(`invoice (POLAR-\d+) from polar-refrigeration for work order #\d+: \$\d+\.\d\d APPROVED by Fiona Marsh \(FM\) after review`)
	for end := time.Now().Add(60 * time.Second); !submitted.MatchString(out.String()) || !approved.MatchString(out.String()); {
		if time.Now().After(end) {
			cancel()
			<-done
			t.Fatalf("polar-refrigeration's invoice was not submitted, held for the FM and approved by her:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if a, b := submitted.FindStringSubmatch(out.String())[1], approved.FindStringSubmatch(out.String())[1]; a != b {
		t.Errorf("the FM approved %s, the invoice held for her was %s", b, a)
	}
	base := regexp.MustCompile(`API: +http://(\S+)/api/v1/workorders`).FindStringSubmatch(out.String())
	admin := regexp.MustCompile(`Admin token: +(\S+)`).FindStringSubmatch(out.String())
	if base == nil || admin == nil {
		t.Fatalf("no API address or admin token in the banner:\n%s", out.String())
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+base[1]+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	var ap struct {
		Items []struct {
			WorkOrder string `json:"work_order"`
			Vendor    string
			State     string
		}
	}
	if err := json.Unmarshal([]byte(get("/api/v1/invoices/export?format=json")), &ap); err != nil || len(ap.Items) == 0 ||
		ap.Items[0].Vendor != "polar-refrigeration" || ap.Items[0].State != "approved" {
		t.Fatalf("the AP export: %+v %v", ap, err)
	}
	if page := get("/workorders/" + ap.Items[0].WorkOrder); !strings.Contains(page, `id="invoice-state">approved`) ||
		!strings.Contains(page, "approved by Fiona Marsh (fm)") || !strings.Contains(page, "part R448A-LB was not recorded at completion") {
		t.Errorf("the work order's page does not show the approved invoice:\n%s", page)
	}
	// The mail room has what the people were told: the FM of the P1, the
	// vendor's service desk of its offer, the store of the verified fix,
	// the vendor's billing contact of its approved invoice.
	room := regexp.MustCompile(`Mail room: +(http://\S+/demo/mail)`).FindStringSubmatch(out.String())
	if room == nil {
		t.Fatalf("no mail room in the banner:\n%s", out.String())
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(room[1])
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(page)
		if strings.Contains(got, "P1 at ") && strings.Contains(got, "fiona@frostline-retail.example") &&
			strings.Contains(got, "New work for polar-refrigeration") && strings.Contains(got, "service@polar.example") &&
			strings.Contains(got, "fix verified") && strings.Contains(got, "dana@store-101.example") &&
			strings.Contains(got, "billing@polar.example") && regexp.MustCompile(`Invoice POLAR-\d+ for WO-\d+ approved`).MatchString(got) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the mail room lacks the P1's messages:\n%s", got)
		}
	}
	// The rack trip, ninety simulated minutes in, is one P1 work order on
	// the rack, none on the cases it serves.
	rack := regexp.MustCompile(`work order #\d+ created [A-Z_]+: P1 sensor rack_failure store-101/rack-8 \(refrigeration\)`)
	for end := time.Now().Add(60 * time.Second); !rack.MatchString(out.String()); {
		if time.Now().After(end) {
			cancel()
			<-done
			t.Fatalf("the rack trip did not become a P1 rack_failure work order on rack-8:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The failing compressor is one incident on waco-1 (whichever of the
	// pack's rules sees it first), raised to P1 as its breach nears.
	if n := len(regexp.MustCompile(`incident opened  P\d \w+ +store-101/waco-1 `).FindAllString(out.String(), -1)); n != 1 {
		t.Errorf("%d incidents opened on waco-1, want one:\n%s", n, out.String())
	}
	if !regexp.MustCompile(`incident (opened|raised)  P1 \w+ +store-101/waco-1 `).MatchString(out.String()) {
		t.Errorf("waco-1's incident never became a P1:\n%s", out.String())
	}
	if cases := regexp.MustCompile(`work order #\d+ created .* store-101/(dimt-5|dilt-6|dimt-7) `).FindAllString(out.String(), -1); len(cases) > 0 {
		t.Errorf("work orders on the rack's cases: %q", cases)
	}
	for _, want := range []string{"Admin token:", "mosquitto_pub", "simulation live", "Food-safety limit predicted at",
		"DISPATCHED -> ACCEPTED", "ACCEPTED -> IN_PROGRESS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo stopped with %v", err)
	}
	if !strings.Contains(out.String(), "start again with the same --data to resume") {
		t.Errorf("no clean stop message:\n%s", out.String())
	}
	// The summary counts the work order the test saw verified.
	if !regexp.MustCompile(`verified +[1-9]\d*   \(the sensors`).MatchString(out.String()) ||
		!regexp.MustCompile(`dispatched +[1-9]\d*   \(a vendor`).MatchString(out.String()) {
		t.Errorf("the summary does not count the dispatched and verified work order:\n%s", out.String())
	}

	// Again on the same folder: the simulation resumes live (no history
	// replayed) and the work orders are still there.
	var again syncBuffer
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- run(ctx, args, nil, &again, &again) }()
	deadline = time.Now().Add(30 * time.Second)
	for !p1.MatchString(again.String()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the resumed demo does not show the work order:\n%s", again.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestDemoStartupErrorIsPrinted: a startup error (here a short
// FROSTLINE_ADMIN_TOKEN) is returned with its message, not a nil-pointer
// panic that hides it (issue 15, small things).
func TestDemoStartupErrorIsPrinted(t *testing.T) {
	t.Setenv("FROSTLINE_ADMIN_TOKEN", "short")
	var out syncBuffer
	err := run(context.Background(), []string{"demo", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error()+out.String(), "FROSTLINE_ADMIN_TOKEN must be at least 16 characters") {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}

// TestDemoPanelURL: the demo's work orders link to the asset dashboard
// that deploy/grafana provisions, over the incident's window.
func TestDemoPanelURL(t *testing.T) {
	dash, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "dashboards", "store-equipment.json"))
	if err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC), time.Date(2026, 7, 6, 13, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "http://localhost:3000/d/frostline-asset?var-site=store-101&var-asset=waco-1&from=1783332000000&to=1783342800000"},
		{[]string{"--grafana", "https://grafana.example.com/"}, "https://grafana.example.com/d/frostline-asset?var-site=store-101&var-asset=waco-1&from=1783332000000&to=1783342800000"},
		{[]string{"--grafana", ""}, ""},
	} {
		f, err := parseDemoFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		p := workorder.Policy{Panel: f.panelURL()}
		if got := p.PanelURL("store-101", "waco-1", from, to); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if !strings.Contains(string(dash), `"uid": "frostline-asset"`) {
		t.Error("deploy/grafana has no dashboard frostline-asset for the demo's links")
	}
}
