package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestHeartbeatRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	h := NewHeartbeat("gw-1", "store-0001", at, at.Add(-time.Hour), 3, map[string]time.Time{"wic-01": at.Add(-time.Minute)})
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHeartbeat(data)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("decoded %+v %v, want %+v", got, err, h)
	}
	if s := HeartbeatSubject("store-0001"); s != "frostline.site.store-0001.heartbeat" {
		t.Errorf("subject %q", s)
	}
	if site, ok := SiteOfSubject(HeartbeatSubject("store-0001")); !ok || site != "store-0001" {
		t.Errorf("SiteOfSubject = %q %v", site, ok)
	}
}

func TestDecodeHeartbeatRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		in     string
		schema bool
	}{
		"not json":     {in: `{`},
		"other schema": {in: `{"schema":"frostline.heartbeat.v2","gateway":"g","site":"s","at":"2026-12-07T06:00:00Z"}`, schema: true},
		"no site":      {in: `{"schema":"frostline.heartbeat.v1","gateway":"g","at":"2026-12-07T06:00:00Z"}`},
		"no gateway":   {in: `{"schema":"frostline.heartbeat.v1","site":"s","at":"2026-12-07T06:00:00Z"}`},
		"no time":      {in: `{"schema":"frostline.heartbeat.v1","gateway":"g","site":"s"}`},
	} {
		_, err := DecodeHeartbeat([]byte(tc.in))
		if err == nil || errors.Is(err, ErrSchema) != tc.schema {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add([]byte(`{"schema":"frostline.heartbeat.v1","gateway":"g","site":"s","at":"2026-12-07T06:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHeartbeat(data)
		if err == nil && (h.Site == "" || h.Gateway == "" || h.At.IsZero() || h.Schema != HeartbeatSchema) {
			t.Errorf("accepted %q as %+v", data, h)
		}
	})
}
