package cloud

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"time"
)

// Role is what a caller is to the organisation.
type Role string

// Roles.
const (
	RoleAdmin      Role = "admin"      // everything, including tokens
	RoleFM         Role = "fm"         // facilities managers: their region, or all
	RoleStore      Role = "store"      // store staff: their sites
	RoleVendor     Role = "vendor"     // a service provider: its assignments
	RoleTechnician Role = "technician" // a vendor's technician: own assignments
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleFM, RoleStore, RoleVendor, RoleTechnician}

// Principal is an authenticated caller: the token's grant.
type Principal struct {
	TokenID string    `json:"id"`
	Name    string    `json:"name,omitempty"` // who holds it; a technician's id
	Role    Role      `json:"role"`
	Sites   []string  `json:"sites,omitempty"`
	Region  string    `json:"region,omitempty"`
	Vendor  string    `json:"vendor,omitempty"`
	Created time.Time `json:"created_at"`
	// Expires, when set, is when the token stops working.
	Expires *time.Time `json:"expires_at,omitempty"`
	// LastUsed is when the token last authenticated a request, kept to
	// within the service's last-used interval (a minute by default) so
	// that reads do not each cost a write.
	LastUsed *time.Time `json:"last_used_at,omitempty"`
	// Revoked is when the token was revoked; a revoked token never
	// authenticates again.
	Revoked *time.Time `json:"revoked_at,omitempty"`
}

// Why a token or session is refused. Each is an EUNAUTHORIZED *Error, so
// it answers 401; errors.Is tells them apart for the audit log and the
// failure metric.
var (
	ErrTokenUnknown   = &Error{Code: EUNAUTHORIZED, Message: "unknown token"}
	ErrTokenRevoked   = &Error{Code: EUNAUTHORIZED, Message: "the token was revoked"}
	ErrTokenExpired   = &Error{Code: EUNAUTHORIZED, Message: "the token has expired"}
	ErrSessionUnknown = &Error{Code: EUNAUTHORIZED, Message: "not signed in"}
	ErrSessionExpired = &Error{Code: EUNAUTHORIZED, Message: "the session has expired: sign in again"}
)

// Usable returns nil when the token may authenticate at now, or why not.
func (p *Principal) Usable(now time.Time) error {
	switch {
	case p.Revoked != nil:
		return ErrTokenRevoked
	case p.Expires != nil && !now.Before(*p.Expires):
		return ErrTokenExpired
	}
	return nil
}

// Session is a signed-in browser's server-side record. The browser holds
// a random id; the store keeps only its hash, the token it was opened
// with, and its clocks.
type Session struct {
	TokenID string
	Created time.Time // sign-in
	Seen    time.Time // last request, kept to within a minute
	Expires time.Time // absolute end, whatever the activity
}

// Usable returns nil when the session may authenticate at now, given the
// idle timeout, or ErrSessionExpired.
func (s *Session) Usable(now time.Time, idle time.Duration) error {
	if !now.Before(s.Expires) || (idle > 0 && !now.Before(s.Seen.Add(idle))) {
		return ErrSessionExpired
	}
	return nil
}

// Validate checks a grant before a token is issued for it.
func (p *Principal) Validate() error {
	if !slices.Contains(Roles, p.Role) {
		return FieldError("role", "unknown role %q (want admin, fm, store, vendor or technician)", p.Role)
	}
	switch p.Role {
	case RoleStore:
		if len(p.Sites) == 0 {
			return FieldError("sites", "a store token needs at least one site")
		}
	case RoleVendor, RoleTechnician:
		if p.Vendor == "" {
			return FieldError("vendor", "a %s token needs a vendor", p.Role)
		}
		if p.Role == RoleTechnician && p.Name == "" {
			return FieldError("name", "a technician token needs the technician's name")
		}
	}
	for _, s := range p.Sites {
		if !validID(s) {
			return FieldError("sites", "%q is not a valid site id", s)
		}
	}
	return nil
}

// Scope is the set of work orders and sites a caller may see, resolved
// once per request. The zero Scope sees nothing; All sees everything.
type Scope struct {
	All        bool
	Sites      []string // when not All and non-nil: only these sites
	Vendor     string   // only work orders assigned to this vendor
	Technician string   // only work orders assigned to this technician
}

// SeesSite reports whether the scope covers a site's register and, for
// site-scoped callers, its work orders.
func (s Scope) SeesSite(site string) bool {
	if s.All {
		return true
	}
	return slices.Contains(s.Sites, site)
}

// SeesWorkOrder reports whether the scope covers a work order at site
// assigned to vendor and technician. It mirrors the stores' list filter.
func (s Scope) SeesWorkOrder(site, vendor, technician string) bool {
	switch {
	case s.All:
		return true
	case s.Sites == nil && s.Vendor == "" && s.Technician == "":
		return false
	case s.Sites != nil && !slices.Contains(s.Sites, site):
		return false
	case s.Vendor != "" && vendor != s.Vendor:
		return false
	case s.Technician != "" && technician != s.Technician:
		return false
	}
	return true
}

// NewToken returns a fresh secret bearer token and the hash to store. The
// token is shown once; only the hash is kept.
func NewToken() (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	token = "frl_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// NewSessionID returns a fresh page-session id and the hash to store:
// 256 random bits, like a token, under a prefix of its own.
func NewSessionID() (id, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	id = "frs_" + base64.RawURLEncoding.EncodeToString(b[:])
	return id, HashToken(id)
}

// HashToken is how tokens (and session ids) are stored and looked up. The tokens carry 256
// random bits, so a fast hash is enough; no salt or key stretching needed.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewID returns a random id with a prefix, e.g. "tok_5f0c...".
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}
