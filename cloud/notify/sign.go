package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers a delivery carries.
const (
	SignatureHeader = "Frostline-Signature" // t=<unix>,v1=<hex>[,v1=<hex>]
	EventHeader     = "Frostline-Event"     // the event type, e.g. workorder.transition
	DeliveryHeader  = "Frostline-Delivery"  // the delivery id: the same on every retry, for the receiver's dedup
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock before Verify refuses it as a possible replay.
const DefaultTolerance = 5 * time.Minute

// Errors from ParseHeader and Verify.
var (
	ErrNoSignature = errors.New("notify: no signature")
	ErrMalformed   = errors.New("notify: malformed signature header")
	ErrTimestamp   = errors.New("notify: timestamp outside the tolerance")
	ErrMismatch    = errors.New("notify: no signature matches")
)

// maxHeader bounds what ParseHeader reads: a header with a handful of
// signatures is a few hundred bytes.
const maxHeader = 4096

// Sign returns the signature header value for a body sent at t, with one
// v1 signature per secret.
func Sign(body []byte, t time.Time, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Header is a parsed signature header.
type Header struct {
	Timestamp int64    // Unix seconds
	V1        [][]byte // HMAC-SHA256 signatures
}

// ParseHeader reads "t=<unix>,v1=<hex>,...". Unknown schemes (v0, v2) are
// skipped so that a future scheme can be added beside v1; a header
// without a timestamp or without any v1 is refused.
func ParseHeader(s string) (Header, error) {
	var h Header
	if strings.TrimSpace(s) == "" {
		return h, ErrNoSignature
	}
	if len(s) > maxHeader {
		return h, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxHeader)
	}
	seenT := false
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return h, fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch k {
		case "t":
			if seenT {
				return h, fmt.Errorf("%w: two timestamps", ErrMalformed)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return h, fmt.Errorf("%w: bad timestamp %q", ErrMalformed, v)
			}
			h.Timestamp, seenT = n, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return h, fmt.Errorf("%w: bad v1 signature", ErrMalformed)
			}
			h.V1 = append(h.V1, sig)
		}
	}
	switch {
	case !seenT:
		return h, fmt.Errorf("%w: no timestamp", ErrMalformed)
	case len(h.V1) == 0:
		return h, ErrNoSignature
	}
	return h, nil
}

// Verify checks a delivery as a receiver: the header must parse, its
// timestamp must be within tolerance of now (either way: a replayed old
// delivery and a forged future one both fail), and one of its v1
// signatures must be the HMAC of "<t>.<body>" under one of the secrets.
// Pass both secrets while rotating. The comparison is constant-time.
func Verify(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...[]byte) error {
	h, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(h.Timestamp, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	ts := strconv.FormatInt(h.Timestamp, 10)
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, got := range h.V1 {
			if hmac.Equal(want, got) {
				return nil
			}
		}
	}
	return ErrMismatch
}

// Secret is one webhook signing secret of a subscription.
type Secret struct {
	Value   string    `json:"value"`
	Created time.Time `json:"created"`
	// Expires ends the secret's use; zero: current. Rotation sets it on
	// the old secret to leave receivers time to switch.
	Expires time.Time `json:"expires,omitzero"`
}

// NewSecret returns a fresh random secret, "whsec_" and 32 random bytes.
func NewSecret(now time.Time) Secret {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return Secret{Value: "whsec_" + base64.RawURLEncoding.EncodeToString(b[:]), Created: now}
}

// Active returns the secrets in use at now, newest first.
func Active(secrets []Secret, now time.Time) [][]byte {
	out := make([][]byte, 0, len(secrets))
	for i := len(secrets) - 1; i >= 0; i-- {
		if s := secrets[i]; s.Expires.IsZero() || now.Before(s.Expires) {
			out = append(out, []byte(s.Value))
		}
	}
	return out
}

// Rotate adds a new secret and lets the current ones expire after grace,
// dropping those already expired. For the grace period deliveries carry
// two signatures, so receivers can switch secrets at their own pace.
func Rotate(secrets []Secret, now time.Time, grace time.Duration) ([]Secret, Secret) {
	out := make([]Secret, 0, len(secrets)+1)
	for _, s := range secrets {
		if !s.Expires.IsZero() && !now.Before(s.Expires) {
			continue
		}
		if s.Expires.IsZero() || s.Expires.After(now.Add(grace)) {
			s.Expires = now.Add(grace)
		}
		out = append(out, s)
	}
	n := NewSecret(now)
	return append(out, n), n
}
