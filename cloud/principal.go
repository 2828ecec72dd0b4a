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

// HashToken is how tokens are stored and looked up. The tokens carry 256
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
