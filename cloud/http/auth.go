package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
)

// AuthConfig is how the service treats credentials: the `auth:` block of
// the cloud's configuration.
type AuthConfig struct {
	// LastUsedEvery is how often, at most, a token's last use is written:
	// a busy token costs one write a minute rather than one a request.
	LastUsedEvery time.Duration `yaml:"last_used_every"`
	// SessionIdle ends a page session this long after its last request.
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionMaxAge ends a page session this long after sign-in, however
	// active; it is also the cookie's Max-Age.
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// Backoff slows down failed sign-ins and bad bearer tokens.
	Backoff BackoffConfig `yaml:"backoff"`
}

// DefaultAuthConfig returns the defaults: a shift's worth of session.
func DefaultAuthConfig() AuthConfig {
	return AuthConfig{LastUsedEvery: time.Minute, SessionIdle: 2 * time.Hour, SessionMaxAge: 12 * time.Hour,
		Backoff: DefaultBackoffConfig()}
}

// Validate checks the block, reporting every problem; messages name
// auth.<field>.
func (c AuthConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.LastUsedEvery < time.Second || c.LastUsedEvery > 24*time.Hour {
		bad("last_used_every", "want 1s to 24h")
	}
	if c.SessionIdle < time.Minute {
		bad("session_idle", "at least 1m")
	}
	if c.SessionMaxAge < c.SessionIdle || c.SessionMaxAge > 30*24*time.Hour {
		bad("session_max_age", "want session_idle to 30d")
	}
	c.Backoff.validate(bad)
	return errors.Join(errs...)
}

// SessionCookie carries a page session's id. The id is random and stored
// only hashed; the old cookie that carried the bearer token itself
// (frostline_token) is no longer read, and is cleared at sign-in.
const SessionCookie = "frostline_session"

const legacyCookie = "frostline_token"

// authenticate resolves the request's credentials to a caller: a bearer
// token, or, for the pages (session true), the session cookie. Both go
// through the backoff (verify).
func (s *Server) authenticate(r *http.Request, session bool) (*caller, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		token := strings.TrimSpace(t)
		if !ok || token == "" {
			s.failed(r, "bearer", errMalformed, nil, ipKey(s.clientAddr(r)))
			return nil, errMalformed
		}
		p, err := s.verify(r, "bearer", token)
		if err != nil {
			return nil, err
		}
		return s.callerOf(r.Context(), p)
	}
	if !session {
		return nil, cloud.Errorf(cloud.EUNAUTHORIZED, "a bearer token is required")
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, cloud.ErrSessionUnknown // not signed in: not a failure
	}
	now := s.now()
	hash := cloud.HashToken(c.Value)
	ipk, sk := ipKey(s.clientAddr(r)), "ses:"+hash
	if d := s.limiter.wait(now, ipk, sk); d > 0 {
		s.authm.throttled.WithLabelValues("session").Inc()
		return nil, &throttledError{wait: d}
	}
	p, sess, err := s.store.Session(r.Context(), hash, now, s.auth.SessionIdle)
	switch {
	case errors.Is(err, cloud.ErrSessionExpired):
		// Coming back after the timeout is normal, not an attack:
		// counted, not scored.
		s.authm.failures.WithLabelValues("session", "expired").Inc()
		return nil, err
	case errors.Is(err, cloud.ErrSessionUnknown):
		s.failed(r, "session", err, nil, ipk, sk)
		return nil, err
	case cloud.ErrorCode(err) == cloud.EUNAUTHORIZED: // its token was revoked or expired
		s.failed(r, "session", err, p, sk)
		return nil, err
	case err != nil:
		return nil, err
	}
	s.touch(r.Context(), p, now)
	if now.Sub(sess.Seen) >= s.auth.LastUsedEvery {
		if err := s.store.TouchSession(r.Context(), hash, now, s.auth.LastUsedEvery); err != nil {
			s.log.Warn("session activity not recorded", "token_id", p.TokenID, "err", err)
		}
	}
	return s.callerOf(r.Context(), p)
}

// verify resolves a presented secret (a bearer token, or one typed into
// the login form) to its grant, behind the backoff: while the client's
// address or the secret itself is backing off, the request is refused
// with 429 without the secret being looked at. A failure is counted,
// logged and scored; a correct secret from another address is never held
// up by someone else's failures.
func (s *Server) verify(r *http.Request, via, secret string) (*cloud.Principal, error) {
	now := s.now()
	hash := cloud.HashToken(secret)
	ipk, tk := ipKey(s.clientAddr(r)), "tok:"+hash
	if d := s.limiter.wait(now, ipk, tk); d > 0 {
		s.authm.throttled.WithLabelValues(via).Inc()
		return nil, &throttledError{wait: d}
	}
	p, err := s.store.Token(r.Context(), hash, now)
	if err != nil {
		if cloud.ErrorCode(err) == cloud.EUNAUTHORIZED {
			if p != nil {
				// A real token, revoked or expired: not a guess, so only
				// the secret backs off (a stale integration does not
				// hold up its neighbours at the same address).
				s.failed(r, via, err, p, tk)
			} else {
				s.failed(r, via, err, nil, ipk, tk)
			}
		}
		return nil, err
	}
	s.touch(r.Context(), p, now)
	return p, nil
}

// failed records an authentication failure: the metric, one audit log
// line (address, reason, the token's id when it is a real one; never a
// secret, a hash or a session id) and the backoff score of keys.
func (s *Server) failed(r *http.Request, via string, err error, p *cloud.Principal, keys ...string) {
	why := reason(err)
	s.authm.failures.WithLabelValues(via, why).Inc()
	d := s.limiter.fail(s.now(), keys...)
	attrs := []any{"via", via, "reason", why, "ip", s.clientAddr(r).String(), "method", r.Method, "path", r.URL.Path}
	if p != nil {
		attrs = append(attrs, "token_id", p.TokenID)
	}
	if d > 0 {
		attrs = append(attrs, "backoff", d.Round(time.Millisecond).String())
	}
	s.log.Warn("authentication failed", attrs...)
}

// openSession signs a browser in with p: a new random session id in an
// HttpOnly, SameSite=Strict cookie (Secure over TLS), its hash in the
// store.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, p *cloud.Principal) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		// Signing in again replaces the browser's session rather than
		// leaving the old one alive beside it.
		if err := s.store.DeleteSession(r.Context(), cloud.HashToken(c.Value)); err != nil {
			return err
		}
	}
	id, hash := cloud.NewSessionID()
	now := s.now()
	if err := s.store.PutSession(r.Context(), hash, &cloud.Session{TokenID: p.TokenID, Created: now, Seen: now,
		Expires: now.Add(s.auth.SessionMaxAge)}); err != nil {
		return err
	}
	secure := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.auth.SessionMaxAge.Seconds())})
	if _, err := r.Cookie(legacyCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: legacyCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	}
	s.log.Info("signed in", "token_id", p.TokenID, "role", p.Role, "ip", s.clientIP(r))
	return nil
}

// closeSession signs a browser out: the session is deleted, so the
// cookie's id is worthless even if it was copied, and the cookie cleared.
func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(r.Context(), cloud.HashToken(c.Value)); err != nil {
			s.log.Error("sign-out", "err", err)
		}
	}
	s.clearSession(w, r)
}

// clearSession removes the session cookie from the browser.
func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode})
}

// secure reports whether the browser reached us over TLS: directly, or
// through a TLS-terminating proxy listed in trusted_proxies, which says so
// in X-Forwarded-Proto. The header is ignored from anyone else, who could
// write anything in it.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.trustedPeer(r) {
		return false
	}
	// The nearest proxy's word is the last value.
	vals := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(vals[len(vals)-1]), "https")
}

// trustedPeer reports whether the request came straight from a trusted
// proxy.
func (s *Server) trustedPeer(r *http.Request) bool {
	ip, ok := peerIP(r)
	return ok && s.trusted(ip)
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerIP(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// clientIP is the address a request came from, as text (see clientAddr);
// whatever the server saw when it is not an address.
func (s *Server) clientIP(r *http.Request) string {
	if _, ok := peerIP(r); !ok {
		return r.RemoteAddr
	}
	return s.clientAddr(r).String()
}

// clientAddr is the address a request came from: the peer, or, when the
// peer is a trusted proxy, the nearest address in X-Forwarded-For that is
// not a trusted proxy (addresses further left were written by the client
// and prove nothing). The zero Addr when the peer is not an address.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ip, ok := peerIP(r)
	if !ok || !s.trusted(ip) {
		if ok && r.Header.Get("X-Forwarded-For") != "" {
			s.unlisted.Do(func() {
				s.log.Warn("a request was forwarded by a proxy that trusted_proxies does not list: every client behind it "+
					"shares its address for sign-in backoff and the audit log; list the proxy in trusted_proxies", "peer", ip)
			})
		}
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ip = hop.Unmap()
		if !s.trusted(ip) {
			break
		}
	}
	return ip
}

// ParseProxies reads trusted_proxies: addresses or CIDR prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, v := range list {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is neither an address nor a CIDR prefix", i, v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// touch records a token's use when the stored last use is older than the
// interval; the store re-checks, so replicas racing write once.
func (s *Server) touch(ctx context.Context, p *cloud.Principal, now time.Time) {
	every := s.auth.LastUsedEvery
	if p.LastUsed != nil && now.Sub(*p.LastUsed) < every {
		return
	}
	if err := s.store.TouchToken(ctx, p.TokenID, now, every); err != nil {
		// Bookkeeping: the request goes on.
		s.log.Warn("token last use not recorded", "token_id", p.TokenID, "err", err)
	}
}

func (s *Server) callerOf(ctx context.Context, p *cloud.Principal) (*caller, error) {
	sc, err := s.scopeOf(ctx, p)
	if err != nil {
		return nil, err
	}
	return &caller{Principal: p, scope: sc}, nil
}
