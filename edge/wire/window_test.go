package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func incidentEvent() rules.Event {
	return rules.Event{Incident: "i1", Seq: 1, Event: rules.Opened, Site: "s1", Asset: "wic-1", Rule: "r",
		Problem: "temp_high", Priority: "P2", Trade: "refrigeration", At: t0}
}

func window(points, changes int) *Window {
	limit := 5.0
	w := &Window{Metric: "air_temp", Unit: "C", Step: 300, Limit: &limit}
	for i := range points {
		y := 3 + float64(i)/10
		w.Points = append(w.Points, WindowPoint{At: t0.Add(time.Duration(i-points) * 5 * time.Minute), Min: 2, Mean: 3, Max: 4, Product: &y})
	}
	for i := range changes {
		w.Changes = append(w.Changes, Change{At: t0.Add(time.Duration(i-changes) * time.Minute), Signal: SignalDoor, On: i%2 == 0})
	}
	return w
}

func TestDecodeIncidentVersions(t *testing.T) {
	v2 := NewIncident("gw", incidentEvent())
	v2.Window = window(72, 10)
	data, _ := json.Marshal(v2)
	got, err := DecodeIncident(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != "frostline.incident.v2" || got.Window == nil || len(got.Window.Points) != 72 || len(got.Window.Changes) != 10 {
		t.Fatalf("v2 incident decoded as %+v", got)
	}
	if *got.Window.Points[71].Product != 3+71.0/10 || *got.Window.Limit != 5 {
		t.Errorf("window values changed on the way: %+v", got.Window.Points[71])
	}

	// An edge not yet upgraded sends v1, without a window: it lands.
	v1 := strings.Replace(string(data), `"frostline.incident.v2"`, `"frostline.incident.v1"`, 1)
	got, err = DecodeIncident([]byte(v1))
	if err != nil {
		t.Fatalf("v1 incident refused: %v", err)
	}
	if got.Incident != "i1" || got.Window != nil {
		t.Errorf("v1 incident decoded as %+v (a v1 message has no window)", got)
	}

	if _, err := DecodeIncident([]byte(`{"schema":"frostline.incident.v3"}`)); !errors.Is(err, ErrSchema) {
		t.Errorf("v3: err %v, want ErrSchema", err)
	}
}

func TestWindowCapsAndBadWindows(t *testing.T) {
	inc := NewIncident("gw", incidentEvent())
	inc.Window = window(MaxWindowPoints+20, MaxWindowChanges+5)
	data, _ := json.Marshal(inc)
	got, err := DecodeIncident(data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Window.Points); n != MaxWindowPoints {
		t.Errorf("%d points kept, want the newest %d", n, MaxWindowPoints)
	}
	if !got.Window.Points[len(got.Window.Points)-1].At.Equal(inc.Window.Points[len(inc.Window.Points)-1].At) {
		t.Errorf("the newest point was not kept")
	}
	if n := len(got.Window.Changes); n != MaxWindowChanges {
		t.Errorf("%d changes kept, want %d", n, MaxWindowChanges)
	}
	if len(data) > 128<<10 {
		t.Errorf("a window at the caps is %d bytes of JSON", len(data))
	}

	for name, spoil := range map[string]func(w *Window){
		"no metric":      func(w *Window) { w.Metric = "" },
		"zero step":      func(w *Window) { w.Step = 0 },
		"falling points": func(w *Window) { w.Points[1].At = w.Points[0].At },
		"min above mean": func(w *Window) { w.Points[0].Min = 9 },
		"unknown signal": func(w *Window) { w.Changes[0].Signal = "fan" },
	} {
		t.Run(name, func(t *testing.T) {
			inc := NewIncident("gw", incidentEvent())
			inc.Window = window(3, 2)
			spoil(inc.Window)
			data, _ := json.Marshal(inc)
			got, err := DecodeIncident(data)
			if err != nil {
				t.Fatalf("a bad window lost the incident: %v", err)
			}
			if got.Window != nil || got.WindowError == nil || !strings.Contains(got.WindowError.Error(), "window") {
				t.Errorf("window %+v kept, error %v", got.Window, got.WindowError)
			}
		})
	}
}

func FuzzDecodeIncident(f *testing.F) {
	inc := NewIncident("gw", incidentEvent())
	inc.Window = window(4, 3)
	data, _ := json.Marshal(inc)
	f.Add(data)
	f.Add([]byte(strings.Replace(string(data), "v2", "v1", 1)))
	f.Add([]byte(`{"schema":"frostline.incident.v2","window":{"metric":"x","step_s":1e308}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeIncident(b)
		if err != nil || m.Window == nil {
			return
		}
		if len(m.Window.Points) > MaxWindowPoints || len(m.Window.Changes) > MaxWindowChanges {
			t.Fatalf("window over the caps: %d points, %d changes", len(m.Window.Points), len(m.Window.Changes))
		}
	})
}
