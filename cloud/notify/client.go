package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrPrivateAddress is an attempt refused because the webhook's host
// resolved to an address that is not public.
var ErrPrivateAddress = errors.New("notify: refusing a non-public address")

// NewClient returns the HTTP client deliveries go out with. It follows no
// redirects (a 3xx answer is a failed attempt, as the signature is for
// the registered URL only). Unless allowPrivate, it connects only to
// public unicast addresses: a webhook URL is chosen by a tenant, and must
// not reach the cloud's own network (metadata services, the database,
// loopback). The check is made on the address actually dialled, after DNS
// resolution, so a name re-pointed after registration is caught too.
// No proxy from the environment is used, for the same reason.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !Public(ip) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, host)
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598),
// which netip does not count as private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Public reports whether ip is a public unicast address: not loopback,
// private (RFC 1918, fc00::/7), link-local, shared (RFC 6598),
// unspecified or multicast.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !cgnat.Contains(ip)
}

// Lookup resolves a host name to addresses (net.DefaultResolver.LookupNetIP
// with "ip").
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// CheckTarget reports, at registration, a webhook URL that delivery would
// refuse (NewClient without allowPrivate): its host is an address that is
// not Public (loopback, RFC 1918, link-local such as the metadata service
// 169.254.169.254, CGNAT, ...), "localhost", or a name that resolves to
// such an address. NAT64 (64:ff9b::/96) is public, as on delivery. A name
// that does not resolve now is not refused: delivery checks the address it
// actually dials. The error wraps ErrPrivateAddress.
func CheckTarget(ctx context.Context, rawURL string, lookup Lookup) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("notify: target: %w", err)
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !Public(ip) {
			return fmt.Errorf("%w: %s", ErrPrivateAddress, host)
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, host)
	}
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil // not resolvable now: delivery decides on the address it dials
	}
	for _, ip := range addrs {
		if !Public(ip) {
			return fmt.Errorf("%w: %s resolves to %s", ErrPrivateAddress, host, ip)
		}
	}
	return nil
}
