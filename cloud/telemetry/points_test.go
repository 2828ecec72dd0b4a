package telemetry

import (
	"errors"
	"strings"
	"testing"
	"time"

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
			return l.telemetry(&wire.Telemetry{Site: "store 1,a=b", Rollups: []wire.Rollup{
				{Asset: `x\`, Metric: "air_temp", Start: t0, Min: 1, Mean: 1, Max: 1, Last: 1, Count: 1},
			}})
		}, `rollups,asset=x\\,metric=air_temp,site=store\ 1\,a\=b min=1,mean=1,max=1,last=1,count=1i 1783332000000`},
		{"incident", func(l *lines) error {
			return l.incident(&rules.Event{Event: rules.Opened, Incident: "inc_1", Site: "store-1", Asset: "waco-1", Rule: "r",
				Problem: "temp_trend", Priority: "P2", Title: `"warm"`, Summary: "line\nbreak", At: t0, Value: 4.5, Peak: 4.5,
				Limit: &limit, PredictedAt: ptr(t0.Add(90 * time.Minute))})
		}, `incidents,asset=waco-1,event=opened,priority=P2,problem=temp_trend,rule=r,site=store-1 incident="inc_1",title="\"warm\"",summary="line break",value=4.5,peak=4.5,limit=5,hours_to_limit=1.5 1783332000000`},
		{"work order", func(l *lines) error {
			return l.workOrder(&WorkOrderEvent{At: t0, Site: "store-1", Asset: "waco-1", Problem: "no_cooling", Priority: "P1",
				Event: "dispatched", WorkOrder: "WO-42", Incident: "inc_1", Vendor: "Arctic Co"})
		}, `incidents,asset=waco-1,event=wo_dispatched,priority=P1,problem=no_cooling,site=store-1 work_order="WO-42",incident="inc_1",vendor="Arctic Co",title="dispatched WO-42" 1783332000000`},
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

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":"frostline.telemetry.v1","site":"s","batch":"b","rollups":[{"asset":"a","metric":"air_temp","start":"2026-07-06T00:00:00Z","min":1,"mean":1,"max":1,"last":1,"count":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := Decode("frostline.site.s.telemetry", b)
		if err != nil {
			return
		}
		var l lines
		if err := l.telemetry(&tm); err != nil {
			return
		}
		for _, line := range strings.Split(l.String(), "\n") {
			if line != "" && strings.Count(line, " ")-strings.Count(line, `\ `) < 2 {
				t.Fatalf("malformed line %q", line)
			}
		}
	})
}
