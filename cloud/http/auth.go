package http

import (
	"context"
	"net/http"
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
}

// DefaultAuthConfig returns the defaults.
func DefaultAuthConfig() AuthConfig {
	return AuthConfig{LastUsedEvery: time.Minute}
}

// Validate checks the block; messages name auth.<field>.
func (c AuthConfig) Validate() error {
	if c.LastUsedEvery < time.Second || c.LastUsedEvery > 24*time.Hour {
		return cloud.FieldError("auth.last_used_every", "want 1s to 24h")
	}
	return nil
}

// CookieName carries the token for the pages.
const CookieName = "frostline_token"

// authenticate resolves the request's token to a caller.
func (s *Server) authenticate(r *http.Request, cookie bool) (*caller, error) {
	var token string
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, cloud.Errorf(cloud.EUNAUTHORIZED, "use Authorization: Bearer <token>")
		}
		token = strings.TrimSpace(t)
	} else if c, err := r.Cookie(CookieName); cookie && err == nil {
		token = c.Value
	}
	if token == "" {
		return nil, cloud.Errorf(cloud.EUNAUTHORIZED, "a bearer token is required")
	}
	p, err := s.token(r.Context(), token)
	if err != nil {
		return nil, err
	}
	return s.callerOf(r.Context(), p)
}

// token resolves a bearer secret to its grant, refusing unknown, revoked
// and expired tokens, and notes its use.
func (s *Server) token(ctx context.Context, secret string) (*cloud.Principal, error) {
	now := s.now()
	p, err := s.store.Token(ctx, cloud.HashToken(secret), now)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, p, now)
	return p, nil
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
