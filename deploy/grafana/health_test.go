package grafana_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/frostline/frostline/cloud/app"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/agent"
)

// noDataOK lists the metrics a health-dashboard query may find no series
// of in this test, and why.
var noDataOK = map[string]string{
	"frostline_edge_mqtt_decode_errors_total": "a counter by reason has no series until a first error",
}

// TestHealthDashboard runs Frostline for real: an edge agent (mochi MQTT
// in process, the default rule pack, telemetry, outbox, forwarder) fed five
// hours of one store of the shared sample, and the cloud (cloud/app on
// SQLite: intake, sweeper, notice relay, API; with the telemetry, incident
// and work-order annotation consumers writing to InfluxDB 1.6) on an
// embedded NATS; Debian's Prometheus scrapes both /metrics endpoints.
// Every PromQL query of the health dashboard must then return data
// (noDataOK aside), the work-order annotations must be in InfluxDB, and
// promtool check metrics must pass on both expositions.
func TestHealthDashboard(t *testing.T) {
	promBin := influxtest.Binary(t, "prometheus")
	promtoolBin := influxtest.Binary(t, "promtool")
	db := influxtest.StartInfluxDB(t, "frostline")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// NATS with JetStream, and a mochi broker.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start() // owned by the server; stopped by Shutdown below
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", influxtest.FreePort(t))
	broker := mqtt.New(&mqtt.Options{InlineClient: true, Logger: log})
	if err := broker.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := broker.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: brokerAddr})); err != nil {
		t.Fatal(err)
	}
	if err := broker.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })

	// The edge agent, on the sample's store-6950.
	const site = "store-6950"
	sampleDir := influxtest.SampleDir(t)
	siteFile := filepath.Join(dir, site+".yaml")
	b, err := os.ReadFile(filepath.Join(sampleDir, "sites", site+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(siteFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.Gateway = "gw-test"
	cfg.Sites = []string{siteFile}
	cfg.Rules.DefaultPack = true
	cfg.Rules.Tick, cfg.Rules.Watch = 0, 0
	cfg.MQTT.Broker = "tcp://" + brokerAddr
	cfg.NATS.URL = ns.ClientURL()
	cfg.NATS.EnsureStreams = true
	cfg.NATS.MaxBackoff = 200 * time.Millisecond
	cfg.Outbox.Path = filepath.Join(dir, "outbox.db")
	cfg.HTTP.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	edgeAddr := make(chan string, 1)
	ag := agent.New(&cfg, log, agent.Options{Registry: prometheus.NewRegistry(), HTTPListening: func(a string) { edgeAddr <- a }})
	agentDone := make(chan error, 1)
	go func() { agentDone <- ag.Run(ctx) }() // stopped by cancel, waited for below
	defer func() {
		cancel()
		if err := <-agentDone; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	edgeURL := "http://" + <-edgeAddr
	waitFor(t, 20*time.Second, "agent ready", func() bool { code, _ := httpGet(edgeURL + "/readyz"); return code == http.StatusOK })

	// The cloud: the real service (intake on SQLite, sweeper, notice
	// relay, API, /metrics), with the telemetry, incident and work-order
	// annotation consumers beside it as the cloud will run them, writing
	// to InfluxDB 1.6 through the /api/v2/write path.
	acfg := app.DefaultConfig()
	acfg.Listen = "127.0.0.1:0"
	acfg.Database.Path = filepath.Join(dir, "frostline.db")
	acfg.NATS.URL = ns.ClientURL()
	acfg.Sites = []string{siteFile}
	acfg.Intake.AckWait = 5 * time.Second
	cloudApp, err := app.New(ctx, acfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cloudApp.Close()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tcfg := telemetry.DefaultConfig()
	tcfg.URL, tcfg.Token, tcfg.Bucket, tcfg.FlushInterval = db.WriteURL, db.Token, db.Bucket, 200*time.Millisecond
	w, err := telemetry.NewWriter(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs := []func(context.Context) error{cloudApp.Run}
	var tm *telemetry.Metrics
	for _, src := range []*telemetry.Source{telemetry.TelemetrySource, telemetry.IncidentSource, telemetry.WorkOrderSource} {
		m := telemetry.NewMetrics(cloudApp.Registry, src.Stream)
		if src == telemetry.TelemetrySource {
			tm = m
		}
		cons, err := telemetry.NewConsumer(ctx, nc, src, w, m, log, tcfg)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, cons.Run)
	}
	cloudCtx, stopCloud := context.WithCancel(ctx)
	cloudDone := make(chan error, len(runs))
	for _, run := range runs {
		go func() { cloudDone <- run(cloudCtx) }() // stopped by stopCloud, waited for below
	}
	defer func() {
		stopCloud()
		for range runs {
			if err := <-cloudDone; err != nil {
				t.Errorf("cloud: %v", err)
			}
		}
	}()
	cloudURL := "http://" + cloudApp.Addr()
	waitFor(t, 20*time.Second, "cloud ready", func() bool { code, _ := httpGet(cloudURL + "/readyz"); return code == http.StatusOK })
	httpGet(cloudURL + "/api/v1/workorders") // one API request for the latency panel

	// Prometheus scraping both, every second.
	promURL := startPrometheus(t, promBin, dir, strings.TrimPrefix(edgeURL, "http://"), strings.TrimPrefix(cloudURL, "http://"))

	// Five hours of the store up to its walk-in cooler's compressor
	// failure, shifted to end now, published as its controllers would.
	msgs := storeReadings(t, filepath.Join(sampleDir, "readings.csv.gz"), site,
		time.Date(2026, 7, 7, 3, 0, 0, 0, time.UTC), time.Date(2026, 7, 7, 8, 0, 0, 0, time.UTC))
	for _, m := range msgs {
		if err := broker.Publish(m.topic, m.payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "telemetry and work-order annotations in InfluxDB", func() bool {
		return testutil.ToFloat64(tm.Points) > 0 && db.Count(t, "incidents", "work_order") > 0
	}, func() string {
		return fmt.Sprintf("%d messages published, %v telemetry points written, %d incident and %d work-order annotations",
			len(msgs), testutil.ToFloat64(tm.Points), db.Count(t, "incidents", "incident"), db.Count(t, "incidents", "work_order"))
	})
	// The store dashboard's work-order annotations, which the replay in
	// TestInfluxQLQueries cannot feed, now have data.
	day := fmt.Sprintf("time >= '%s'", time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339))
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.kind != "annotation" || !strings.Contains(q.text, "/^wo_/") {
				continue
			}
			text := strings.NewReplacer("$timeFilter", day, "$site", ".*", "$asset", ".*").Replace(q.text)
			res, err := db.Query(text)
			if err != nil || len(res) == 0 {
				t.Errorf("%s: no data (%v) from %s", q.where, err, text)
			}
		}
	}
	// A few scrapes with the counters moving.
	waitFor(t, 30*time.Second, "prometheus to scrape both", func() bool {
		n, err := promQuery(promURL, `up == 1`)
		return err == nil && n == 2
	}, func() string { _, b := httpGet(promURL + "/api/v1/targets"); return b })
	time.Sleep(3 * time.Second)

	subst := strings.NewReplacer("$__rate_interval", "30s", "$__interval", "15s", "$gateway", ".*")
	checked := 0
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.ds == nil || q.ds.Type != "prometheus" {
				continue
			}
			expr := subst.Replace(q.text)
			if q.kind == "variable" {
				expr = "group by (gateway) (frostline_edge_readings_total)" // what label_values(frostline_edge_readings_total, gateway) asks
			}
			n, err := promQuery(promURL, expr)
			checked++
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			if n == 0 && !allowedEmpty(expr) {
				t.Errorf("%s: no data from %s", q.where, expr)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no PromQL queries checked")
	}
	for name, u := range map[string]string{"edge": edgeURL + "/metrics", "cloud": cloudURL + "/metrics"} {
		_, body := httpGet(u)
		cmd := exec.Command(promtoolBin, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on the %s's /metrics: %v\n%s", name, err, out)
		}
	}
	t.Logf("%d PromQL queries checked against Prometheus scraping a running edge agent and cloud (%d readings published)", checked, len(msgs))
}

func allowedEmpty(expr string) bool {
	for m := range noDataOK {
		if strings.Contains(expr, m) {
			return true
		}
	}
	return false
}

type mqttMsg struct {
	topic   string
	payload []byte
}

// storeReadings reads one site's readings in [from, to) from the sample
// and shifts them to end a minute ago, as MQTT messages in the
// default topic layout (sites/{site}/assets/{asset}/{metric}) with the
// reading's time in the payload.
func storeReadings(t *testing.T, path, site string, from, to time.Time) []mqttMsg {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		at                   time.Time
		asset, metric, value string
	}
	var rows []row
	sc := bufio.NewScanner(gz)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ",")
		if len(fs) != 5 || fs[1] != site {
			continue
		}
		at, err := time.Parse(time.RFC3339, fs[0])
		if err != nil {
			t.Fatal(err)
		}
		if at.Before(from) {
			continue
		}
		if !at.Before(to) {
			break
		}
		rows = append(rows, row{at, fs[2], fs[3], fs[4]})
	}
	if len(rows) == 0 {
		t.Fatalf("no readings of %s", site)
	}
	shift := time.Now().Add(-time.Minute).Truncate(time.Second).Sub(rows[len(rows)-1].at)
	out := make([]mqttMsg, len(rows))
	for i, r := range rows {
		v := r.value
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			v = strconv.Quote(v) // words such as "cool"
		}
		out[i] = mqttMsg{
			topic:   fmt.Sprintf("sites/%s/assets/%s/%s", site, r.asset, r.metric),
			payload: fmt.Appendf(nil, `{"value":%s,"ts":%q}`, v, r.at.Add(shift).UTC().Format(time.RFC3339)),
		}
	}
	return out
}

func startPrometheus(t *testing.T, bin, dir, edge, cloud string) string {
	t.Helper()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: frostline-edge
    static_configs:
      - targets: [%q]
        labels: {gateway: gw-test, site: store-6950}
  - job_name: frostline-cloud
    static_configs:
      - targets: [%q]
`, edge, cloud)
	cf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", influxtest.FreePort(t))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cf, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logf.Close()
	})
	u := "http://" + addr
	waitFor(t, 30*time.Second, "prometheus ready", func() bool { code, _ := httpGet(u + "/-/ready"); return code == http.StatusOK })
	return u
}

// promQuery runs an instant query and returns the number of series.
func promQuery(base, expr string) (int, error) {
	resp, err := http.PostForm(base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", expr, r.Error)
	}
	return len(r.Data.Result), nil
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }() // until the cleanup closes it
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

func httpGet(u string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// waitFor polls ok until it holds; state, if given, says what was seen.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool, state ...func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			seen := ""
			for _, s := range state {
				seen += ": " + s()
			}
			t.Fatalf("timed out after %s waiting for %s%s", d, what, seen)
		}
	}
}
