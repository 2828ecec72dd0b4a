package ingest

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func statusDecoder(t testing.TB) *Decoder {
	t.Helper()
	d := testDecoder(t)
	d.EnableSparkplug()
	var ts []Template
	for _, p := range []struct{ pattern, site string }{
		{"sites/{site}/assets/{asset}/status", ""},
		{"sites/{site}/bridge/status", ""},
		{"plant/bridge/lwt", "store-9"},
	} {
		tp, err := ParseStatusTemplate(p.pattern, p.site)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tp)
	}
	d.SetStatusTopics(ts)
	return d
}

// TestStatus runs one decoder through a sequence of messages: it keeps
// Sparkplug births, so the order matters.
func TestStatus(t *testing.T) {
	d := statusDecoder(t)
	ms := uint64(1783332000000)
	at := time.UnixMilli(int64(ms)).UTC()
	bdSeq := func(n uint64) []byte { return spbMetricBytes(1, "bdSeq", 4, uint64(8), 11, n) }
	air := spbMetricBytes(1, "air_temp", 2, uint64(1), 4, uint64(10), 13, 3.5)
	steps := []struct {
		name    string
		topic   string
		payload string
		decode  bool // a birth: decoded as readings, not a status
		ok      bool
		want    Status
		err     error
	}{
		{name: "a device's will", topic: "sites/s1/assets/wic1/status", payload: "offline", ok: true,
			want: Status{Site: "s1", Assets: []string{"wic1"}, At: arrival}},
		{name: "Tasmota's words", topic: "sites/s1/assets/wic1/status", payload: "Online", ok: true,
			want: Status{Site: "s1", Assets: []string{"wic1"}, Online: true, At: arrival}},
		{name: "the bridge's will, JSON with its time", topic: "sites/s1/bridge/status", payload: `{"state":"lost","ts":"2026-07-06T11:59:00Z"}`, ok: true,
			want: Status{Site: "s1", At: arrival.Add(-time.Minute)}},
		{name: "a fixed site", topic: "plant/bridge/lwt", payload: `{"online": false}`, ok: true,
			want: Status{Site: "store-9", At: arrival}},
		{name: "a word it does not know", topic: "sites/s1/assets/wic1/status", payload: "maybe", ok: true, err: ErrPayload},
		{name: "JSON without a state", topic: "sites/s1/bridge/status", payload: `{"value": 1}`, ok: true, err: ErrPayload},
		{name: "a bad time", topic: "sites/s1/bridge/status", payload: `{"status":"offline","ts":"yesterday"}`, ok: true, err: ErrTimestamp},
		{name: "a reading is no status", topic: "sites/s1/assets/wic1/air_temp", payload: `{"value": 3}`},

		{name: "birth of node1 (bdSeq 4)", topic: "spBv1.0/s1/NBIRTH/node1", payload: string(spbPayload(ms, bdSeq(4))), decode: true},
		{name: "device births", topic: "spBv1.0/s1/DBIRTH/node1/wic2", payload: string(spbPayload(ms, air)), decode: true},
		{name: "device births", topic: "spBv1.0/s1/DBIRTH/node1/wic1", payload: string(spbPayload(ms, air)), decode: true},
		{name: "data is no status", topic: "spBv1.0/s1/DDATA/node1/wic1", payload: string(spbPayload(ms, air))},
		{name: "the will of an earlier session", topic: "spBv1.0/s1/NDEATH/node1", payload: string(spbPayload(0, bdSeq(3))), ok: true,
			want: Status{Site: "s1", At: arrival}, err: ErrStaleDeath},
		{name: "a device dies", topic: "spBv1.0/s1/DDEATH/node1/wic2", payload: string(spbPayload(ms)), ok: true,
			want: Status{Site: "s1", Assets: []string{"wic2"}, At: at}},
		{name: "the node dies: its devices", topic: "spBv1.0/s1/NDEATH/node1", payload: string(spbPayload(0, bdSeq(4))), ok: true,
			want: Status{Site: "s1", Assets: []string{"wic1"}, At: arrival}},
		{name: "a death before any birth: the node", topic: "spBv1.0/s2/NDEATH/rack1", payload: string(spbPayload(0, bdSeq(0))), ok: true,
			want: Status{Site: "s2", Assets: []string{"rack1"}, At: arrival}},
		{name: "a DDEATH without its device", topic: "spBv1.0/s1/DDEATH/node1", payload: "", ok: true, err: ErrPayload,
			want: Status{Site: "s1", At: arrival}},
	}
	for _, st := range steps {
		if st.decode {
			if _, err := d.Decode(nil, st.topic, []byte(st.payload)); err != nil {
				t.Fatalf("%s: decode: %v (bdSeq must not count as an unknown metric)", st.name, err)
			}
			continue
		}
		got, ok, err := d.Status(st.topic, []byte(st.payload))
		if ok != st.ok || !errors.Is(err, st.err) || (err != nil && st.err == nil) {
			t.Errorf("%s: ok %v err %v, want ok %v err %v", st.name, ok, err, st.ok, st.err)
			continue
		}
		if st.err != nil && st.want.Site == "" {
			continue
		}
		if got.Site != st.want.Site || !slices.Equal(got.Assets, st.want.Assets) || got.Online != st.want.Online || !got.At.Equal(st.want.At) {
			t.Errorf("%s: got %+v, want %+v", st.name, got, st.want)
		}
	}
	// After its death, node1's aliases are gone: data by alias is refused
	// until a rebirth declares them again.
	if _, err := d.Decode(nil, "spBv1.0/s1/DDATA/node1/wic1", spbPayload(ms, spbMetricBytes(2, uint64(1), 13, 4.0))); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("data by alias after death: err %v, want %v", err, ErrUnknownMetric)
	}
}

func TestParseStatusTemplate(t *testing.T) {
	for _, tc := range []struct {
		pattern, site string
		ok            bool
	}{
		{"sites/{site}/assets/{asset}/status", "", true},
		{"sites/{site}/bridge", "", true},
		{"bridge/lwt", "s1", true},
		{"bridge/lwt", "", false},
		{"sites/{site}/{asset}/{metric}", "", false},
		{"sites/{site}/#", "", false},
	} {
		_, err := ParseStatusTemplate(tc.pattern, tc.site)
		if (err == nil) != tc.ok {
			t.Errorf("ParseStatusTemplate(%q, %q): %v, want ok %v", tc.pattern, tc.site, err, tc.ok)
		}
	}
}

func FuzzStatus(f *testing.F) {
	f.Add("sites/s1/assets/wic1/status", []byte("offline"))
	f.Add("sites/s1/bridge/status", []byte(`{"state":"lost","ts":1783332000}`))
	f.Add("spBv1.0/s1/NDEATH/node1", spbPayload(0, spbMetricBytes(1, "bdSeq", 4, uint64(8), 11, uint64(2))))
	f.Add("spBv1.0/s1/DDEATH/node1/wic1", []byte{0x12, 0x05, 0x01})
	d := statusDecoder(f)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		st, ok, err := d.Status(topic, payload)
		if !ok && err != nil {
			t.Fatalf("not a status topic, yet an error: %v", err)
		}
		if ok && err == nil && (st.Site == "" || st.At.IsZero()) {
			t.Fatalf("a status without its site or time: %+v", st)
		}
	})
}
