package http

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

// TokenStore keeps token grants by hash.
type TokenStore interface {
	PutToken(ctx context.Context, hash string, p *cloud.Principal) error
}

// MaxTokenLifetime bounds expires_at and ttl: a token that should outlive
// it should not expire at all (and be revoked when done with).
const MaxTokenLifetime = 10 * 366 * 24 * time.Hour

// IssueToken validates a grant and stores a new token for it, returning
// the secret (shown once) and the grant. `frostline-cloud token create`
// uses it too.
func IssueToken(ctx context.Context, st TokenStore, q TokenRequest, now time.Time) (string, *cloud.Principal, error) {
	p := &cloud.Principal{TokenID: cloud.NewID("tok_"), Name: q.Name, Role: q.Role, Sites: q.Sites, Region: q.Region,
		Vendor: q.Vendor, Created: now.UTC()}
	if err := p.Validate(); err != nil {
		return "", nil, err
	}
	exp, err := q.expiry(now)
	if err != nil {
		return "", nil, err
	}
	p.Expires = exp
	tok, hash := cloud.NewToken()
	if err := st.PutToken(ctx, hash, p); err != nil {
		return "", nil, err
	}
	return tok, p, nil
}

// expiry reads the request's optional expires_at or ttl.
func (q TokenRequest) expiry(now time.Time) (*time.Time, error) {
	var at time.Time
	switch {
	case q.ExpiresAt != "" && q.TTL != "":
		return nil, cloud.FieldError("ttl", "give expires_at or ttl, not both")
	case q.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, q.ExpiresAt)
		if err != nil {
			return nil, cloud.FieldError("expires_at", "want an RFC 3339 time such as 2027-01-31T00:00:00Z")
		}
		if !t.After(now) {
			return nil, cloud.FieldError("expires_at", "must be in the future")
		}
		at = t
	case q.TTL != "":
		d, err := rules.ParseDuration(q.TTL)
		if err != nil || d.D() <= 0 {
			return nil, cloud.FieldError("ttl", "want a positive duration such as 12h, 30d or 1d12h")
		}
		if d.D() > MaxTokenLifetime {
			return nil, cloud.FieldError("ttl", "at most 3660d; leave it out for a token that does not expire")
		}
		at = now.Add(d.D())
	default:
		return nil, nil
	}
	if at.Sub(now) > MaxTokenLifetime {
		return nil, cloud.FieldError("expires_at", "at most ten years ahead; leave it out for a token that does not expire")
	}
	at = at.UTC()
	return &at, nil
}

// BootstrapStore keeps the bootstrap admin's token.
type BootstrapStore interface {
	RotateToken(ctx context.Context, hash string, p *cloud.Principal, family string, at time.Time) (int64, error)
}

// bootstrapFamily prefixes the bootstrap admin's token ids; "tok_bootstrap"
// alone is the id older releases gave it.
const bootstrapFamily = "tok_bootstrap"

// BootstrapAdmin stores a known admin token (FROSTLINE_ADMIN_TOKEN), so a
// fresh deployment can be reached. Stored hashed like any other. A new
// secret replaces the previous bootstrap token, which stops working at
// once (that is how it is rotated); the same secret again is a no-op; a
// secret that was revoked is refused rather than brought back. It returns
// how many older bootstrap tokens it revoked.
func BootstrapAdmin(ctx context.Context, st BootstrapStore, token string, now time.Time) (int64, error) {
	if len(token) < 16 {
		return 0, cloud.Errorf(cloud.EINVALID, "FROSTLINE_ADMIN_TOKEN must be at least 16 characters")
	}
	p := &cloud.Principal{TokenID: cloud.NewID(bootstrapFamily + "_"), Name: "bootstrap-admin", Role: cloud.RoleAdmin, Created: now.UTC()}
	n, err := st.RotateToken(ctx, cloud.HashToken(token), p, bootstrapFamily, now)
	if errors.Is(err, cloud.ErrTokenRevoked) {
		return 0, cloud.Errorf(cloud.EINVALID, "FROSTLINE_ADMIN_TOKEN was revoked: set a new secret (it replaces the old one) or unset it")
	}
	return n, err
}

// TokenRequest asks for a new token.
type TokenRequest struct {
	Role   cloud.Role `json:"role"`
	Name   string     `json:"name,omitempty"`
	Sites  []string   `json:"sites,omitempty"`
	Region string     `json:"region,omitempty"`
	Vendor string     `json:"vendor,omitempty"`
	// ExpiresAt (RFC 3339) or TTL ("30d", "12h"), optional, ends the
	// token's life; without either it lives until revoked.
	ExpiresAt string `json:"expires_at,omitempty"`
	TTL       string `json:"ttl,omitempty"`
}

// TokenResponse is a new token, shown once.
type TokenResponse struct {
	Token string `json:"token"`
	*cloud.Principal
}

func (s *Server) routesTokens() {
	s.api("POST /api/v1/tokens", s.createToken)
	s.api("GET /api/v1/tokens", s.listTokens)
	s.api("DELETE /api/v1/tokens/{id}", s.revokeToken)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin); err != nil {
		return err
	}
	var q TokenRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	tok, p, err := IssueToken(r.Context(), s.store, q, s.now())
	if err != nil {
		return err
	}
	s.log.Info("token issued", "token_id", p.TokenID, "role", p.Role, "by", c.TokenID)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, TokenResponse{Token: tok, Principal: p})
}

// listTokens answers every token's grant and clocks (admin); never a
// secret or its hash, which are not kept or not returned.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin); err != nil {
		return err
	}
	ps, err := s.store.Tokens(r.Context())
	if err != nil {
		return err
	}
	if q := r.URL.Query().Get("state"); q != "" && q != "all" {
		if q != "active" {
			return cloud.FieldError("state", "want active or all")
		}
		now, live := s.now(), ps[:0]
		for _, p := range ps {
			if p.Usable(now) == nil {
				live = append(live, p)
			}
		}
		ps = live
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]any{"items": ps})
}

// revokeToken revokes a token: an admin any, anyone else only the one
// they are using (a holder can kill a token they fear has leaked).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := strings.TrimSpace(r.PathValue("id"))
	if id != c.TokenID {
		if err := c.may(cloud.RoleAdmin); err != nil {
			return err
		}
	}
	if err := s.store.RevokeToken(r.Context(), id, s.now()); err != nil {
		return err
	}
	s.log.Info("token revoked", "token_id", id, "by", c.TokenID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
