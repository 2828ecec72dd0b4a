package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Why an acknowledge link is refused.
var (
	ErrLinkInvalid = errors.New("notify: link is not one we signed")
	ErrLinkExpired = errors.New("notify: link has expired")
)

// Links signs and checks the one-click acknowledge links in messages, so
// that an FM can take an escalation from their phone without signing in.
// A link names one notification and when it stops working; an HMAC-SHA256
// under the service's link secret vouches for both. The first key signs;
// every key verifies, so that a secret can be rotated without breaking
// links already sent. A link works once: the store records the
// acknowledgement on the notification, and a second use finds it there
// (replay protection does not depend on the link's lifetime).
type Links struct {
	keys [][]byte
}

// NewLinks returns a signer; keys must be at least 32 bytes each.
func NewLinks(keys ...[]byte) (*Links, error) {
	if len(keys) == 0 {
		return nil, errors.New("notify: a link secret is needed")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("notify: a link secret must be at least 32 bytes")
		}
	}
	return &Links{keys: keys}, nil
}

func linkMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("frostline-ack\n"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Sign returns the token for a notification, valid until exp.
func (l *Links) Sign(notification string, exp time.Time) string {
	payload := notification + "\n" + strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(linkMAC(l.keys[0], payload))
}

// Verify returns the notification a token names, or ErrLinkInvalid, or
// ErrLinkExpired at now.
func (l *Links) Verify(token string, now time.Time) (string, error) {
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return "", ErrLinkInvalid
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return "", ErrLinkInvalid
	}
	good := false
	for _, k := range l.keys {
		if hmac.Equal(mac, linkMAC(k, string(payload))) {
			good = true
			break
		}
	}
	id, exp, ok := strings.Cut(string(payload), "\n")
	if !good || !ok || id == "" {
		return "", ErrLinkInvalid
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", ErrLinkInvalid
	}
	if !now.Before(time.Unix(unix, 0)) {
		return "", ErrLinkExpired
	}
	return id, nil
}
