package notify

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func TestSignKnownVector(t *testing.T) {
	// The value docs/dispatch.md shows integrators, checked with
	//   printf '%s' '1795701600.{"id":"wo_1-3"}' | openssl dgst -sha256 -hmac whsec_test
	got := Sign([]byte(`{"id":"wo_1-3"}`), time.Unix(1795701600, 0), []byte("whsec_test"))
	want := "t=1795701600,v1=a6ffab7b390346c195020ac64eef6a7387c010477ec00166079dbe681cb1bfef"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"wo_1-3","type":"workorder.transition"}`)
	key, other := []byte("whsec_current"), []byte("whsec_other")
	good := Sign(body, t0, key)
	tests := []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		secrets [][]byte
		want    error
	}{
		{"valid", good, body, t0, [][]byte{key}, nil},
		{"valid within tolerance", good, body, t0.Add(4 * time.Minute), [][]byte{key}, nil},
		{"either of two secrets while rotating", good, body, t0, [][]byte{other, key}, nil},
		{"two signatures, receiver has the old one", Sign(body, t0, other, key), body, t0, [][]byte{other}, nil},
		{"tampered body", good, append([]byte(" "), body...), t0, [][]byte{key}, ErrMismatch},
		{"wrong secret", good, body, t0, [][]byte{other}, ErrMismatch},
		{"no secret", good, body, t0, nil, ErrMismatch},
		{"replayed later", good, body, t0.Add(6 * time.Minute), [][]byte{key}, ErrTimestamp},
		{"from the future", good, body, t0.Add(-6 * time.Minute), [][]byte{key}, ErrTimestamp},
		{"timestamp changed", strings.Replace(good, "t="+strconv.FormatInt(t0.Unix(), 10), "t="+strconv.FormatInt(t0.Unix()+1, 10), 1), body, t0, [][]byte{key}, ErrMismatch},
		{"empty", "", body, t0, [][]byte{key}, ErrNoSignature},
		{"no v1", "t=1795701600", body, t0, [][]byte{key}, ErrNoSignature},
		{"only an unknown scheme", "t=1795701600,v0=abc", body, t0, [][]byte{key}, ErrNoSignature},
		{"unknown scheme beside v1 is skipped", good + ",v2=zz", body, t0, [][]byte{key}, nil},
		{"no timestamp", "v1=" + strings.Repeat("ab", 32), body, t0, [][]byte{key}, ErrMalformed},
		{"bad hex", "t=1,v1=xyz", body, t0, [][]byte{key}, ErrMalformed},
		{"short signature", "t=1,v1=abcd", body, t0, [][]byte{key}, ErrMalformed},
		{"two timestamps", good + ",t=1", body, t0, [][]byte{key}, ErrMalformed},
		{"not key=value", "t=1,v1", body, t0, [][]byte{key}, ErrMalformed},
		{"huge", "t=1," + strings.Repeat("v1="+strings.Repeat("ab", 32)+",", 100), body, t0, [][]byte{key}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.header, tt.body, tt.now, DefaultTolerance, tt.secrets...)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	old := NewSecret(t0.Add(-90 * 24 * time.Hour))
	secrets, fresh := Rotate([]Secret{old}, t0, 24*time.Hour)
	if len(secrets) != 2 || secrets[1] != fresh || !secrets[0].Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("after rotation: %+v", secrets)
	}
	if !strings.HasPrefix(fresh.Value, "whsec_") || len(fresh.Value) < 40 {
		t.Errorf("secret %q", fresh.Value)
	}
	body := []byte("{}")
	during := Sign(body, t0.Add(time.Hour), Active(secrets, t0.Add(time.Hour))...)
	for _, s := range []Secret{old, fresh} {
		if err := Verify(during, body, t0.Add(time.Hour), DefaultTolerance, []byte(s.Value)); err != nil {
			t.Errorf("during the grace period, a receiver with %s...: %v", s.Value[:10], err)
		}
	}
	after := Sign(body, t0.Add(25*time.Hour), Active(secrets, t0.Add(25*time.Hour))...)
	if err := Verify(after, body, t0.Add(25*time.Hour), DefaultTolerance, []byte(old.Value)); !errors.Is(err, ErrMismatch) {
		t.Errorf("after the grace period the old secret must not verify: %v", err)
	}
	// Rotating again drops the expired secret.
	again, _ := Rotate(secrets, t0.Add(48*time.Hour), time.Hour)
	if len(again) != 2 || again[0].Value != fresh.Value {
		t.Errorf("second rotation: %+v", again)
	}
}

// FuzzParseHeader: the parser never panics; what it accepts has a
// timestamp and 32-byte signatures, and a header made of what it parsed
// parses to the same.
func FuzzParseHeader(f *testing.F) {
	f.Add(Sign([]byte("{}"), t0, []byte("a"), []byte("b")))
	f.Add("t=1795701600,v1=" + strings.Repeat("0", 64))
	f.Add("t=,v1=")
	f.Add("t=1 , v1=" + strings.Repeat("a", 64) + ",v0=zz,x")
	f.Add(",,,=")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		_ = Verify(s, []byte(s), t0, DefaultTolerance, []byte("k"))
		if err != nil {
			return
		}
		if h.Timestamp <= 0 || len(h.V1) == 0 {
			t.Fatalf("accepted %q as %+v", s, h)
		}
		var b strings.Builder
		b.WriteString("t=" + strconv.FormatInt(h.Timestamp, 10))
		for _, v := range h.V1 {
			if len(v) != 32 {
				t.Fatalf("signature of %d bytes", len(v))
			}
			b.WriteString(",v1=" + hexString(v))
		}
		h2, err := ParseHeader(b.String())
		if err != nil || h2.Timestamp != h.Timestamp || len(h2.V1) != len(h.V1) {
			t.Fatalf("reparse of %q: %+v %v", b.String(), h2, err)
		}
	})
}
