package telemetry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	protocol "github.com/influxdata/line-protocol"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

func ptr[T any](v T) *T { return &v }

func TestLines(t *testing.T) {
	t0 := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)
	limit := 5.0
	for _, tc := range []struct {
		name string
		add  func(*lines) error
		want string
	}{
		{"telemetry", func(l *lines) error {
			return l.telemetry(&wire.Telemetry{Site: "store-1", Rollups: []wire.Rollup{
				{Asset: "waco-1", Class: "walk_in_cooler", Metric: "air_temp", Start: t0, Min: 2.5, Mean: 3, Max: 3.25, Last: 3.1, Count: 4},
			}, Signals: []wire.Signal{
				{Asset: "waco-1", Class: "walk_in_cooler", At: t0.Add(time.Minute), DutyCycle: ptr(0.5), CompressorStarts: ptr(1), HoursToLimit: ptr(12.5)},
				{Asset: "dimt-5", At: t0.Add(time.Minute)}, // nothing known: no point
			}})
		}, "rollups,asset=waco-1,asset_class=walk_in_cooler,metric=air_temp,site=store-1 min=2.5,mean=3,max=3.25,last=3.1,count=4i 1783332000000\n" +
			"signals,asset=waco-1,asset_class=walk_in_cooler,site=store-1 duty_cycle=0.5,compressor_starts=1i,hours_to_limit=12.5 1783332060000"},
		{"escaping", func(l *lines) error {
			return l.incident(&rules.Event{Event: rules.Opened, Incident: "inc_2", Site: "store-1", Asset: "*", Rule: "gateway offline",
				Problem: "gateway_offline", Priority: "P2", Title: `a\b`, At: t0})
		}, `incidents,asset=*,event=opened,priority=P2,problem=gateway_offline,rule=gateway\ offline,site=store-1 incident="inc_2",title="a\\b",value=0,peak=0 1783332000000`},
		{"incident", func(l *lines) error {
			return l.incident(&rules.Event{Event: rules.Opened, Incident: "inc_1", Site: "store-1", Asset: "waco-1", Rule: "r",
				Problem: "temp_trend", Priority: "P2", Title: `"warm"`, Summary: "line\nbreak", At: t0, Value: 4.5, Peak: 4.5,
				Limit: &limit, PredictedAt: ptr(t0.Add(90 * time.Minute))})
		}, `incidents,asset=waco-1,event=opened,priority=P2,problem=temp_trend,rule=r,site=store-1 incident="inc_1",title="\"warm\"",summary="line break",value=4.5,peak=4.5,limit=5,hours_to_limit=1.5 1783332000000`},
		{"incident with the product's breach ahead", func(l *lines) error {
			return l.incident(&rules.Event{Event: rules.Updated, Incident: "inc_3", Site: "store-1", Asset: "waco-1", Rule: "r",
				Problem: "no_cooling", Priority: "P1", At: t0, Value: 6, Peak: 6, PredictedBreachAt: ptr(t0.Add(45 * time.Minute))})
		}, `incidents,asset=waco-1,event=updated,priority=P1,problem=no_cooling,rule=r,site=store-1 incident="inc_3",value=6,peak=6,hours_to_breach=0.75 1783332000000`},
		{"incident after the breach", func(l *lines) error {
			return l.incident(&rules.Event{Event: rules.Updated, Incident: "inc_3", Site: "store-1", Asset: "waco-1", Rule: "r",
				Problem: "no_cooling", Priority: "P1", At: t0, Value: 9, Peak: 9, PredictedBreachAt: ptr(t0.Add(-time.Hour)), BreachedAt: ptr(t0.Add(-time.Hour))})
		}, `incidents,asset=waco-1,event=updated,priority=P1,problem=no_cooling,rule=r,site=store-1 incident="inc_3",value=9,peak=9,hours_to_breach=0 1783332000000`},
		{"site kpi with its region", func(l *lines) error {
			return l.kpi(&KPI{Day: t0.Truncate(24 * time.Hour), Scope: ScopeSite, Site: "store-1", Region: "North East",
				Values: map[string]float64{"backlog": 3}})
		}, `kpis,region=North\ East,scope=site,site=store-1 backlog=3 1783296000000`},
		{"work order", func(l *lines) error {
			return l.workOrder(&WorkOrderEvent{At: t0, Site: "store-1", Asset: "waco-1", Problem: "no_cooling", Priority: "P1",
				Event: "dispatched", WorkOrder: "42", Incident: "inc_1", Vendor: "Arctic Co"})
		}, `incidents,asset=waco-1,event=wo_dispatched,priority=P1,problem=no_cooling,site=store-1 work_order="42",incident="inc_1",vendor="Arctic Co",title="WO 42 dispatched" 1783332000000`},
		{"kpi", func(l *lines) error {
			return l.kpi(&KPI{Day: t0.Truncate(24 * time.Hour), Scope: ScopeVendor, Site: "store-1", Vendor: "Arctic Co",
				Values: map[string]float64{"sla_compliance": 0.9, "completed": 12}})
		}, `kpis,scope=vendor,site=store-1,vendor=Arctic\ Co completed=12,sla_compliance=0.9 1783296000000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l lines
			if err := tc.add(&l); err != nil {
				t.Fatal(err)
			}
			if got := l.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestLinesInvalid(t *testing.T) {
	t0 := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		add  func(*lines) error
		want string
	}{
		{"unknown metric", func(l *lines) error {
			return l.telemetry(&wire.Telemetry{Site: "s", Rollups: []wire.Rollup{{Asset: "a", Metric: "air_tmp", Start: t0}}})
		}, `unknown metric "air_tmp"`},
		{"asset not an id", func(l *lines) error {
			return l.telemetry(&wire.Telemetry{Site: "s", Signals: []wire.Signal{{Asset: "a b", At: t0}}})
		}, `asset "a b" is not an id`},
		{"site not an id", func(l *lines) error {
			return l.telemetry(&wire.Telemetry{Site: "s,x=1", Signals: []wire.Signal{{Asset: "a", At: t0}}})
		}, `site "s,x=1" is not an id`},
		{"no asset", func(l *lines) error {
			return l.telemetry(&wire.Telemetry{Site: "s", Signals: []wire.Signal{{At: t0}}})
		}, "empty site or asset"},
		{"kpi field", func(l *lines) error {
			return l.kpi(&KPI{Day: t0, Scope: ScopeSite, Site: "s", Values: map[string]float64{"mtbf_hours": 1}})
		}, `kpi field "mtbf_hours" is not in the site schema`},
		{"kpi asset", func(l *lines) error {
			return l.kpi(&KPI{Day: t0, Scope: ScopeSite, Site: "s", Asset: "a"})
		}, "kpi asset is set for, and only for, scope asset"},
		{"kpi scope", func(l *lines) error { return l.kpi(&KPI{Day: t0, Scope: "region", Site: "s"}) }, `kpi scope "region"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l lines
			err := tc.add(&l)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	msg := `{"schema":"frostline.telemetry.v1","site":"store-1","batch":"b1"}`
	if _, err := Decode(wire.TelemetrySubject("store-1"), []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(wire.TelemetrySubject("store-2"), []byte(msg)); !errors.Is(err, ErrInvalid) {
		t.Errorf("site of another subject: got %v", err)
	}
	if _, err := Decode(wire.TelemetrySubject("store-1"), []byte(`{"schema":"x"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown schema: got %v", err)
	}
}

// FuzzDecode feeds arbitrary messages through decoding and encoding and
// has InfluxDB's own line-protocol parser read every point back: whatever
// a gateway sends, the cloud never writes a malformed line, and the tags
// and string fields come back as they went in.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":"frostline.telemetry.v1","site":"s","batch":"b","rollups":[{"asset":"a","metric":"air_temp","start":"2026-07-06T00:00:00Z","min":1,"mean":1,"max":1,"last":1,"count":1}]}`))
	f.Add([]byte(`{"schema":"frostline.telemetry.v1","site":"s","batch":"b","signals":[{"asset":"a","class":"x y,z=\\","at":"2026-07-06T00:00:00Z","duty_cycle":0.5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := Decode("frostline.site.s.telemetry", b)
		if err != nil {
			return
		}
		var l lines
		if err := l.telemetry(&tm); err != nil {
			return
		}
		roundTrip(t, &l)
	})
}

// FuzzIncidentText checks the escaping of the free text an incident
// carries (rule ids, titles and summaries come from rule files).
func FuzzIncidentText(f *testing.F) {
	f.Add("rule-1", "P1", "title", "summary")
	f.Add(`a b,c=d\`, `P"2`, "line\nbreak \"quoted\" \\", `\`)
	f.Fuzz(func(t *testing.T, rule, priority, title, summary string) {
		for _, s := range []string{rule, priority, title, summary} {
			if !utf8.ValidString(s) {
				return // JSON decoding, the only way in, yields valid UTF-8
			}
		}
		var l lines
		ev := rules.Event{Event: rules.Updated, Incident: "inc", Site: "s", Asset: "a", Rule: rule, Problem: "temp_high",
			Priority: priority, Title: title, Summary: summary, At: time.Unix(1783332000, 0)}
		if err := l.incident(&ev); err != nil {
			t.Fatal(err)
		}
		ms := roundTrip(t, &l)
		tags := ms[0].TagList()
		got := map[string]string{}
		for _, tg := range tags {
			got[tg.Key] = tg.Value
		}
		for k, want := range map[string]string{"rule": rule, "priority": priority} {
			want = strings.TrimRight(controlsToSpaces(want), `\`)
			if got[k] != want {
				t.Errorf("tag %s: got %q, want %q", k, got[k], want)
			}
		}
		for k, want := range map[string]string{"title": title, "summary": summary} {
			want = controlsToSpaces(want)
			if v := fieldOf(ms[0], k); want != "" && v != want {
				t.Errorf("field %s: got %q, want %q", k, v, want)
			}
		}
	})
}

func roundTrip(t *testing.T, l *lines) []protocol.Metric {
	t.Helper()
	if l.n == 0 {
		return nil
	}
	ms, err := protocol.NewParser(protocol.NewMetricHandler()).Parse(l.b)
	if err != nil {
		t.Fatalf("line protocol does not parse: %v\n%s", err, l.b)
	}
	if len(ms) != l.n {
		t.Fatalf("%d points parsed, %d written:\n%s", len(ms), l.n, l.b)
	}
	return ms
}

func fieldOf(m protocol.Metric, key string) any {
	for _, f := range m.FieldList() {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

func controlsToSpaces(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func TestNotice(t *testing.T) {
	at := time.Date(2026, 7, 7, 8, 0, 0, 0, time.UTC)
	n := workorder.Notice{Schema: workorder.NoticeSchema, Number: 42, Site: "store-1", Problem: "no_cooling", Priority: "P1",
		Vendor: "coolco", Status: workorder.Dispatched,
		Event: workorder.Event{Kind: workorder.Transition, From: workorder.Ready, To: workorder.Dispatched, Actor: "sweeper", At: at}}
	b, err := json.Marshal(&n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeNotice(workorder.NoticeSubject("store-1"), b)
	if err != nil {
		t.Fatal(err)
	}
	ev := NoticeEvent(&got)
	want := WorkOrderEvent{At: at, Site: "store-1", Asset: "*", Problem: "no_cooling", Priority: "P1", Event: "dispatched",
		WorkOrder: "42", Vendor: "coolco", Summary: "ready -> dispatched; by sweeper"}
	if ev != want {
		t.Errorf("got %+v\nwant %+v", ev, want)
	}
	if _, err := DecodeNotice(workorder.NoticeSubject("store-2"), b); !errors.Is(err, ErrInvalid) {
		t.Errorf("notice on another site's subject: got %v", err)
	}
	n.Schema = "frostline.workorder_event.v9"
	b, _ = json.Marshal(&n)
	if _, err := DecodeNotice(workorder.NoticeSubject("store-1"), b); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown schema: got %v", err)
	}
}
