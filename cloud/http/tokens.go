package http

import (
	"context"
	"time"

	"github.com/frostline/frostline/cloud"
)

// TokenStore keeps token grants by hash.
type TokenStore interface {
	PutToken(ctx context.Context, hash string, p *cloud.Principal) error
}

// IssueToken validates a grant and stores a new token for it, returning
// the secret (shown once) and the grant. `frostline-cloud token create`
// uses it too.
func IssueToken(ctx context.Context, st TokenStore, q TokenRequest, now time.Time) (string, *cloud.Principal, error) {
	p := &cloud.Principal{TokenID: cloud.NewID("tok_"), Name: q.Name, Role: q.Role, Sites: q.Sites, Region: q.Region,
		Vendor: q.Vendor, Created: now.UTC()}
	if err := p.Validate(); err != nil {
		return "", nil, err
	}
	tok, hash := cloud.NewToken()
	if err := st.PutToken(ctx, hash, p); err != nil {
		return "", nil, err
	}
	return tok, p, nil
}

// BootstrapAdmin stores a known admin token (FROSTLINE_ADMIN_TOKEN), so a
// fresh deployment can be reached. Stored hashed like any other.
func BootstrapAdmin(ctx context.Context, st TokenStore, token string, now time.Time) error {
	if len(token) < 16 {
		return cloud.Errorf(cloud.EINVALID, "FROSTLINE_ADMIN_TOKEN must be at least 16 characters")
	}
	return st.PutToken(ctx, cloud.HashToken(token), &cloud.Principal{TokenID: "tok_bootstrap", Name: "bootstrap-admin", Role: cloud.RoleAdmin, Created: now.UTC()})
}
