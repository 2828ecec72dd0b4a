package ingest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

var arrival = time.Date(2026, 7, 6, 12, 0, 0, 0, time.UTC)

func testDecoder(t testing.TB) *Decoder {
	t.Helper()
	var ts []Template
	for _, p := range DefaultTemplates {
		tp, err := ParseTemplate(p, "")
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tp)
	}
	fixed, err := ParseTemplate("plant/+/{asset}/temp/{metric}", "store-9")
	if err != nil {
		t.Fatal(err)
	}
	ts = append(ts, fixed)
	return NewDecoder(ts, func() time.Time { return arrival })
}

func TestDecode(t *testing.T) {
	ts := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)
	r := func(site, asset, metric string, at time.Time, v float64) rules.Reading {
		return rules.Reading{Site: site, Asset: asset, Metric: rules.LookupMetric(metric), At: at, Value: v}
	}
	tests := []struct {
		name    string
		topic   string
		payload string
		want    []rules.Reading
		err     error
	}{
		{"bare number", "sites/s1/assets/wic1/air_temp", "3.4", []rules.Reading{r("s1", "wic1", "air_temp", arrival, 3.4)}, nil},
		{"bare number spaces", "sites/s1/assets/wic1/air_temp", " -18.5\n", []rules.Reading{r("s1", "wic1", "air_temp", arrival, -18.5)}, nil},
		{"bare word", "sites/s1/assets/rtu1/mode", "cool", []rules.Reading{r("s1", "rtu1", "mode", arrival, 1)}, nil},
		{"bare word case", "sites/s1/assets/wic1/door_open", "OPEN", []rules.Reading{r("s1", "wic1", "door_open", arrival, 1)}, nil},
		{"json rfc3339", "sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": "2026-07-06T10:00:00Z"}`, []rules.Reading{r("s1", "wic1", "air_temp", ts, 3.4)}, nil},
		{"json epoch ms", "sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": 1783332000000}`, []rules.Reading{r("s1", "wic1", "air_temp", time.UnixMilli(1783332000000).UTC(), 3.4)}, nil},
		{"json epoch s", "sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": 1783332000}`, []rules.Reading{r("s1", "wic1", "air_temp", time.UnixMilli(1783332000000).UTC(), 3.4)}, nil},
		{"json fahrenheit", "sites/s1/assets/wic1/air_temp", `{"value": 41, "unit": "F"}`, []rules.Reading{r("s1", "wic1", "air_temp", arrival, 5)}, nil},
		{"json F ignored for binary", "sites/s1/assets/wic1/door_open", `{"value": true, "unit": "F"}`, []rules.Reading{r("s1", "wic1", "door_open", arrival, 1)}, nil},
		{"json string value", "sites/s1/assets/rtu1/mode", `{"value": "heat"}`, []rules.Reading{r("s1", "rtu1", "mode", arrival, 2)}, nil},
		{"json string number", "sites/s1/assets/wic1/air_temp", `{"value": "2.5"}`, []rules.Reading{r("s1", "wic1", "air_temp", arrival, 2.5)}, nil},
		{"per asset", "sites/s1/assets/wic1", `{"ts": "2026-07-06T10:00:00Z", "values": {"door_open": 0, "air_temp": 3.4}}`,
			[]rules.Reading{r("s1", "wic1", "air_temp", ts, 3.4), r("s1", "wic1", "door_open", ts, 0)}, nil},
		{"per asset F", "sites/s1/assets/wic1", `{"unit": "F", "values": {"air_temp": 32, "compressor_on": 1}}`,
			[]rules.Reading{r("s1", "wic1", "air_temp", arrival, 0), r("s1", "wic1", "compressor_on", arrival, 1)}, nil},
		{"per asset partly unknown", "sites/s1/assets/wic1", `{"values": {"humidity": 40, "air_temp": 3}}`,
			[]rules.Reading{r("s1", "wic1", "air_temp", arrival, 3)}, ErrUnknownMetric},
		{"fixed site template", "plant/line2/wic7/temp/air_temp", "4", []rules.Reading{r("store-9", "wic7", "air_temp", arrival, 4)}, nil},
		{"no template", "other/topic", "1", nil, ErrNoTemplate},
		{"too deep", "sites/s1/assets/wic1/air_temp/x", "1", nil, ErrNoTemplate},
		{"empty level", "sites//assets/wic1/air_temp", "1", nil, ErrNoTemplate},
		{"unknown metric", "sites/s1/assets/wic1/humidity", "40", nil, ErrUnknownMetric},
		{"empty payload", "sites/s1/assets/wic1/air_temp", "", nil, ErrPayload},
		{"not a number", "sites/s1/assets/wic1/air_temp", "warm", nil, ErrPayload},
		{"nan", "sites/s1/assets/wic1/air_temp", "NaN", nil, ErrPayload},
		{"inf json string", "sites/s1/assets/wic1/air_temp", `{"value":"+Inf"}`, nil, ErrPayload},
		{"broken json", "sites/s1/assets/wic1/air_temp", `{"value": 3.4`, nil, ErrPayload},
		{"json no value", "sites/s1/assets/wic1/air_temp", `{"ts": 1}`, nil, ErrPayload},
		{"json no values", "sites/s1/assets/wic1", `{"value": 1}`, nil, ErrPayload},
		{"bad unit", "sites/s1/assets/wic1/air_temp", `{"value": 1, "unit": "K"}`, nil, ErrUnit},
		{"bad ts text", "sites/s1/assets/wic1/air_temp", `{"value": 1, "ts": "yesterday"}`, nil, ErrTimestamp},
		{"bad ts number", "sites/s1/assets/wic1/air_temp", `{"value": 1, "ts": -5}`, nil, ErrTimestamp},
		{"bad ts type", "sites/s1/assets/wic1/air_temp", `{"value": 1, "ts": {}}`, nil, ErrTimestamp},
	}
	d := testDecoder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode(nil, tc.topic, []byte(tc.payload))
			if !errors.Is(err, tc.err) || (err != nil && tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d readings %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Site != w.Site || g.Asset != w.Asset || g.Metric != w.Metric || !g.At.Equal(w.At) || abs(g.Value-w.Value) > 1e-9 {
					t.Errorf("reading %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		pattern, site, filter string
		ok                    bool
	}{
		{"sites/{site}/assets/{asset}/{metric}", "", "sites/+/assets/+/+", true},
		{"dev/{asset}", "s1", "dev/+", true},
		{"dev/{asset}", "", "", false},
		{"dev/{site}", "", "", false},
		{"dev/{asset}/{asset}", "s1", "", false},
		{"dev/#/{asset}", "s1", "", false},
		{"dev//{asset}", "s1", "", false},
		{"dev/x{asset}", "s1", "", false},
		{"", "s1", "", false},
	}
	for _, tc := range tests {
		tp, err := ParseTemplate(tc.pattern, tc.site)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.pattern, err, tc.ok)
			continue
		}
		if tc.ok && tp.Filter() != tc.filter {
			t.Errorf("%q: filter %q, want %q", tc.pattern, tp.Filter(), tc.filter)
		}
	}
}

// FuzzDecode checks that no topic or payload crashes the decoder and that
// every refusal is one of the counted errors.
func FuzzDecode(f *testing.F) {
	for _, s := range []struct{ topic, payload string }{
		{"sites/s1/assets/wic1/air_temp", "3.4"},
		{"sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": "2026-07-06T10:00:00Z", "unit": "F"}`},
		{"sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": 1783332000000}`},
		{"sites/s1/assets/wic1", `{"ts": 1783332000000, "values": {"air_temp": 3.4, "door_open": 0, "mode": "cool"}}`},
		{"sites/s1/assets/rtu1/mode", "cool"},
		{"sites/s1/assets/wic1/air_temp", `{"value": "1e999"}`},
		{"sites/s1/assets/wic1", `{"values": {"air_temp": [1]}}`},
	} {
		f.Add(s.topic, []byte(s.payload))
	}
	d := testDecoder(f)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		got, err := d.Decode(nil, topic, payload)
		if err != nil {
			for _, e := range unwrapJoined(err) {
				if !errors.Is(e, ErrNoTemplate) && !errors.Is(e, ErrPayload) && !errors.Is(e, ErrUnknownMetric) &&
					!errors.Is(e, ErrUnit) && !errors.Is(e, ErrTimestamp) {
					t.Fatalf("uncounted error kind: %v", e)
				}
			}
		}
		for _, r := range got {
			if r.Metric == rules.NoMetric || r.Value != r.Value || r.At.IsZero() {
				t.Fatalf("bad reading %+v", r)
			}
		}
	})
}

// FuzzDecodeFast checks the fast JSON path against encoding/json's:
// wherever the fast path answers, the readings are the slow path's.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []struct{ topic, payload string }{
		{"sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": "2026-07-06T10:00:00Z", "unit": "F"}`},
		{"sites/s1/assets/wic1/air_temp", `{"value": 3.4, "ts": 1783332000000}`},
		{"sites/s1/assets/wic1/air_temp", `{"ts": 1783332000, "value": "2.5", "unit": " c"}`},
		{"sites/s1/assets/wic1/door_open", `{"value": true}`},
		{"sites/s1/assets/rtu1/mode", `{"value": "Heat", "ts": "2026-07-06T10:00:00.5+02:00"}`},
		{"sites/s1/assets/wic1", `{"ts": 1783332000000, "values": {"air_temp": 3.4, "door_open": 0, "mode": "cool"}}`},
		{"sites/s1/assets/wic1", `{"values": {"door_open": false, "air_temp": -1e2}, "unit": "F"}`},
		{"sites/s1/assets/wic1", `{"values": {"air_temp": 1, "air_temp": 2}}`},
		{"sites/s1/assets/wic1/air_temp", `{"value": 01}`},
		{"sites/s1/assets/wic1/air_temp", `{"Value": 1}`},
	} {
		f.Add(s.topic, []byte(s.payload))
	}
	d := testDecoder(f)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		var site, asset, metric string
		matched := false
		for i := range d.templates {
			if site, asset, metric, matched = d.templates[i].match(topic); matched {
				break
			}
		}
		if !matched {
			return
		}
		fast, ok := d.decodeFast(nil, site, asset, metric, payload)
		if !ok {
			return
		}
		var p any
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", payload, err)
		}
		slow := slowDecode(t, d, topic, payload)
		if len(fast) != len(slow) {
			t.Fatalf("%q: fast %+v, slow %+v", payload, fast, slow)
		}
		for i := range fast {
			if fast[i] != slow[i] && !(fast[i].At.Equal(slow[i].At) && fast[i].Value == slow[i].Value && fast[i].Metric == slow[i].Metric) {
				t.Fatalf("%q: fast %+v, slow %+v", payload, fast[i], slow[i])
			}
		}
	})
}

// slowDecode is Decode by encoding/json alone.
func slowDecode(t *testing.T, d *Decoder, topic string, data []byte) []rules.Reading {
	t.Helper()
	slow := *d
	slow.noFast = true
	got, err := slow.Decode(nil, topic, data)
	if err != nil {
		t.Fatalf("%q: fast path decoded it, slow path refuses it: %v", data, err)
	}
	return got
}
