// Package grafana_test checks Frostline's Grafana provisioning: the
// dashboards are valid and refer only to datasources that are provisioned,
// and every InfluxQL query in them runs against a real InfluxDB loaded
// with what Frostline makes of the shared sample, and returns data.
package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/wire"
)

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	file       string
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      string `json:"query"`
			Datasource *ref   `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			BuiltIn    int    `json:"builtIn"`
			Query      string `json:"query"`
			Datasource *ref   `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
	Links  []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"links"`
}

type panel struct {
	FieldConfig struct {
		Defaults struct {
			Links []struct {
				Title string `json:"title"`
				URL   string `json:"url"`
			} `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *ref     `json:"datasource"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // rows
}

type target struct {
	RefID      string `json:"refId"`
	Datasource *ref   `json:"datasource"`
	Query      string `json:"query"` // InfluxQL
	RawQuery   bool   `json:"rawQuery"`
	Expr       string `json:"expr"` // PromQL
}

type ref struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// query is one query of a dashboard, with where it sits.
type query struct {
	where string
	ds    *ref
	text  string
	kind  string // panel, variable, annotation
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	paths, err := filepath.Glob("dashboards/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []dashboard
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		d.file = p
		out = append(out, d)
	}
	return out
}

func (d *dashboard) queries() []query {
	var qs []query
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			qs = append(qs, query{fmt.Sprintf("%s: variable %s", d.file, v.Name), v.Datasource, v.Query, "variable"})
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 {
			qs = append(qs, query{fmt.Sprintf("%s: annotation %q", d.file, a.Name), a.Datasource, a.Query, "annotation"})
		}
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				ds := cmpOr(tg.Datasource, p.Datasource)
				text := tg.Query
				if ds != nil && ds.Type == "prometheus" {
					text = tg.Expr
				}
				qs = append(qs, query{fmt.Sprintf("%s: panel %q target %s", d.file, p.Title, tg.RefID), ds, text, "panel"})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return qs
}

func cmpOr(a, b *ref) *ref {
	if a != nil {
		return a
	}
	return b
}

// provisioned reads the datasources provisioning files: uid -> type.
func provisioned(t *testing.T) map[string]string {
	t.Helper()
	paths, _ := filepath.Glob("provisioning/datasources/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no datasource provisioning files")
	}
	out := map[string]string{}
	for _, p := range paths {
		var f struct {
			APIVersion  int `yaml:"apiVersion"`
			Datasources []struct {
				Name, UID, Type, URL string
				JSONData             map[string]any `yaml:"jsonData"`
			} `yaml:"datasources"`
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if f.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", p, f.APIVersion)
		}
		for _, d := range f.Datasources {
			if d.UID == "" || d.Type == "" || d.URL == "" {
				t.Errorf("%s: datasource %q needs uid, type and url", p, d.Name)
			}
			if _, dup := out[d.UID]; dup {
				t.Errorf("%s: datasource uid %q provisioned twice", p, d.UID)
			}
			if d.Type == "influxdb" && d.JSONData["dbName"] != "frostline" {
				t.Errorf("%s: InfluxDB datasource %q: jsonData.dbName %v, want frostline", p, d.Name, d.JSONData["dbName"])
			}
			out[d.UID] = d.Type
		}
	}
	return out
}

func TestProvisioning(t *testing.T) {
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string
			Type    string
			Options struct{ Path string }
		}
	}
	b, err := os.ReadFile("provisioning/dashboards/frostline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.APIVersion != 1 || len(f.Providers) != 1 || f.Providers[0].Type != "file" || f.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provider: want apiVersion 1 and one file provider with a path, got %+v", f)
	}
	ds := provisioned(t)
	for _, want := range []string{"influxdb", "prometheus"} {
		if !slices.Contains(slices.Collect(maps.Values(ds)), want) {
			t.Errorf("no %s datasource provisioned", want)
		}
	}
}

// TestDashboards checks every dashboard's structure: unique uids and
// titles, site and asset variables, datasources that are provisioned,
// measurements and fields that docs/telemetry.md defines, and Prometheus
// metrics that Frostline's code registers.
func TestDashboards(t *testing.T) {
	ds := provisioned(t)
	dashboards := loadDashboards(t)
	if len(dashboards) < 5 {
		t.Errorf("%d dashboards, want at least 5", len(dashboards))
	}
	registered := registeredMetrics(t)
	uids, titles := map[string]string{}, map[string]string{}
	for _, d := range dashboards {
		if d.UID == "" || len(d.UID) > 40 {
			t.Errorf("%s: uid %q: want 1 to 40 characters", d.file, d.UID)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", d.file, d.UID, other)
		}
		uids[d.UID] = d.file
		if other, dup := titles[d.Title]; dup {
			t.Errorf("%s: title %q already used by %s", d.file, d.Title, other)
		}
		titles[d.Title] = d.file
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
		}
		for _, want := range []string{"region", "site", "asset", "frostline"} {
			if !slices.Contains(vars, want) {
				t.Errorf("%s: no %q template variable", d.file, want)
			}
		}
		checkWorkOrderLinks(t, &d)
		if d.UID == "frostline-predictive" && !slices.ContainsFunc(d.queries(), func(q query) bool {
			return strings.Contains(q.text, `"hours_to_breach" <= 24`)
		}) {
			t.Errorf("%s: no panel lists the assets whose product model predicts a breach within 24 h", d.file)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", d.file, p.ID)
			}
			ids[p.ID] = true
			if p.Datasource != nil && ds[p.Datasource.UID] != p.Datasource.Type {
				t.Errorf("%s: panel %q: datasource %+v is not provisioned", d.file, p.Title, *p.Datasource)
			}
		}
		for _, q := range d.queries() {
			switch {
			case q.ds == nil:
				t.Errorf("%s: no datasource", q.where)
				continue
			case ds[q.ds.UID] != q.ds.Type:
				t.Errorf("%s: datasource %+v is not provisioned (have %v)", q.where, *q.ds, ds)
				continue
			case strings.TrimSpace(q.text) == "":
				t.Errorf("%s: empty query", q.where)
				continue
			}
			if q.ds.Type == "influxdb" {
				checkSchema(t, q)
			} else {
				for _, m := range promMetric.FindAllString(q.text, -1) {
					base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
					if !registered[base] {
						t.Errorf("%s: metric %s is not registered by any code under edge/ or cloud/", q.where, m)
					}
				}
			}
		}
	}
}

// checkWorkOrderLinks: a dashboard links to the open work orders, and
// every panel that shows assets one by one links each to its own, on the
// cloud's work-order list (site, asset and open filters).
func checkWorkOrderLinks(t *testing.T, d *dashboard) {
	t.Helper()
	if !slices.ContainsFunc(d.Links, func(l struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	}) bool {
		return strings.HasPrefix(l.URL, "${frostline}/workorders")
	}) {
		t.Errorf("%s: no dashboard link to the work orders", d.file)
	}
	for _, p := range d.Panels {
		var qs []string
		for _, tg := range p.Targets {
			qs = append(qs, tg.Query)
		}
		q := strings.Join(qs, " ")
		if !strings.Contains(q, "GROUP BY") || !strings.Contains(q, `"asset"`) {
			continue
		}
		ok := false
		for _, l := range p.FieldConfig.Defaults.Links {
			ok = ok || strings.HasPrefix(l.URL, "${frostline}/workorders?site=") && strings.Contains(l.URL, "&asset=")
		}
		if !ok {
			t.Errorf("%s: panel %q shows assets but links none to its work orders", d.file, p.Title)
		}
	}
}

var (
	promMetric = regexp.MustCompile(`\bfrostline_[a-z_]+`)
	fromMeas   = regexp.MustCompile(`FROM ("[a-z_]+"(?:, "[a-z_]+")*)`)
	quoted     = regexp.MustCompile(`"([a-z_0-9]+)"`)
	leftVar    = regexp.MustCompile(`\$[A-Za-z_{]`) // a Grafana variable, not a regex's end anchor
)

// schema is docs/telemetry.md's: the tags and fields of each measurement.
func schema() map[string][]string {
	kpi := []string{"scope", "site", "region", "asset", "vendor"}
	for _, fs := range telemetry.KPIFields {
		kpi = append(kpi, fs...)
	}
	return map[string][]string{
		telemetry.Rollups: {"site", "asset", "asset_class", "metric", "min", "mean", "max", "last", "count"},
		telemetry.Signals: {"site", "asset", "asset_class", "duty_cycle", "compressor_starts", "door_open_minutes",
			"defrost_cycles", "slope_per_hour", "hours_to_limit", "run_hours"},
		telemetry.Incidents: {"site", "asset", "problem", "priority", "event", "incident", "rule", "title", "summary",
			"value", "peak", "limit", "hours_to_limit", "hours_to_breach", "work_order", "vendor"},
		telemetry.KPIs: kpi,
	}
}

// checkSchema checks that an InfluxQL query reads only measurements, tags
// and fields of the documented schema (quoted names that are aliases are
// allowed after AS).
func checkSchema(t *testing.T, q query) {
	t.Helper()
	sch := schema()
	ms := fromMeas.FindAllStringSubmatch(q.text, -1)
	if len(ms) == 0 {
		t.Errorf("%s: no FROM \"measurement\" in %s", q.where, q.text)
		return
	}
	var names []string
	for _, m := range ms {
		for _, meas := range quoted.FindAllStringSubmatch(m[1], -1) {
			names = append(names, sch[meas[1]]...)
			if sch[meas[1]] == nil {
				t.Errorf("%s: measurement %q is not in the schema", q.where, meas[1])
			}
		}
	}
	aliases := regexp.MustCompile(`AS "([^"]+)"`).FindAllStringSubmatch(q.text, -1)
	for _, m := range quoted.FindAllStringSubmatch(q.text, -1) {
		name := m[1]
		if sch[name] != nil || slices.Contains(names, name) || slices.ContainsFunc(aliases, func(a []string) bool { return a[1] == name }) {
			continue
		}
		t.Errorf("%s: %q is neither a tag nor a field of %v", q.where, name, ms)
	}
}

// registeredMetrics finds the Prometheus metric names Frostline's code
// registers, by reading the Go source under edge/ and cloud/.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{"up": true}
	name := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(frostline_[a-z_]+)"`)
	for _, dir := range []string{"../../edge", "../../cloud"} {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range name.FindAllSubmatch(b, -1) {
				out[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestInfluxQLQueries loads a real InfluxDB 1.6 with what Frostline makes
// of the shared sample (replay -> default rule pack -> edge telemetry
// aggregator -> the cloud's telemetry writer, through the /api/v2/write
// path), and runs every InfluxQL query of every dashboard, template
// variables and annotations included, with $site, $asset and $vendor at
// All and $timeFilter over the sample's four days. Every panel query and
// variable must return data.
func TestInfluxQLQueries(t *testing.T) {
	db := influxtest.StartInfluxDB(t, "frostline")
	sample := influxtest.ReplaySample(t, 0)
	cfg := telemetry.DefaultConfig()
	cfg.URL, cfg.Token, cfg.Bucket = db.WriteURL, db.Token, db.Bucket
	w, err := telemetry.NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	batches := make([]*wire.Telemetry, len(sample.Telemetry))
	for i := range sample.Telemetry {
		batches[i] = &sample.Telemetry[i]
	}
	if err := w.WriteTelemetry(ctx, batches...); err != nil {
		t.Fatal(err)
	}
	incs := make([]*wire.Incident, len(sample.Incidents))
	for i := range sample.Incidents {
		incs[i] = &sample.Incidents[i]
	}
	// The pack raises one incident per fault, and the sample's four days
	// have no asset failing twice the same way: a second fault like its
	// first, a day later, gives "Assets with repeated incidents" its row.
	for i := range sample.Incidents {
		if first := sample.Incidents[i]; first.Event.Event == "opened" {
			again := first
			again.Incident += "-again"
			again.At = first.At.Add(24 * time.Hour)
			again.Started = first.Started.Add(24 * time.Hour)
			incs = append(incs, &again)
			break
		}
	}
	if err := w.WriteIncidents(ctx, incs...); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteKPIs(ctx, kpiPoints(t, sample)...); err != nil {
		t.Fatal(err)
	}
	rollups, _ := sample.Points()
	if got := db.Count(t, "rollups", "mean"); got != rollups {
		t.Fatalf("rollups in InfluxDB: %d, want %d", got, rollups)
	}

	timeFilter := fmt.Sprintf("time >= '%s' AND time <= '%s'", sample.From.Format(time.RFC3339), sample.To.Add(time.Minute).Format(time.RFC3339))
	subst := strings.NewReplacer("$timeFilter", timeFilter, "$__interval", "5m", "$region", ".*", "$site", ".*", "$asset", ".*", "$vendor", ".*")
	ran := 0
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.ds == nil || q.ds.Type != "influxdb" {
				continue
			}
			text := subst.Replace(q.text)
			if leftVar.MatchString(text) {
				t.Errorf("%s: unsubstituted variable in %s", q.where, text)
				continue
			}
			res, err := db.Query(text)
			ran++
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			points := 0
			for _, s := range res {
				points += len(s.Values)
			}
			// Work-order annotations come from the cloud's work-order
			// notices, which a replay of sensor data does not make: here
			// the query must run; TestHealthDashboard, which runs the
			// cloud, requires its data.
			if points == 0 && !strings.Contains(q.text, `=~ /^wo_/`) {
				t.Errorf("%s: no data from\n  %s", q.where, text)
			}
		}
	}
	t.Logf("%d InfluxQL queries run on %d rollups from %d telemetry batches and %d incident events", ran, rollups, len(sample.Telemetry), len(sample.Incidents))
}

// TestPromQLParses has the real Prometheus parser check every PromQL query
// of the dashboards: they are written, with Grafana's variables filled in,
// as recording rules and checked with `promtool check rules`.
func TestPromQLParses(t *testing.T) {
	bin := influxtest.Binary(t, "promtool")
	subst := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$gateway", ".*", "$site", ".*", "$asset", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	var where []string
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.ds == nil || q.ds.Type != "prometheus" || q.kind == "variable" {
				continue
			}
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query%d", len(rules)), Expr: subst.Replace(q.text)})
			where = append(where, q.where)
		}
	}
	if len(rules) == 0 {
		t.Fatal("no PromQL queries in the dashboards")
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "rules", f).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
		for i, w := range where {
			t.Logf("query%d: %s", i, w)
		}
	}
}
