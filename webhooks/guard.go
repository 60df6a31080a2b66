package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress means a webhook target resolves to an address the SSRF guard
// refuses.
var ErrForbiddenAddress = errors.New("webhooks: forbidden address")

// refused are ranges a webhook must never reach unless allowed: loopback, private,
// link-local (with the cloud metadata addresses), carrier-grade NAT, unspecified,
// multicast and reserved ranges.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// Guard decides which addresses webhook requests may reach: any public address, and
// the refused ranges only when they are inside Allow (STANDING_WEBHOOK_ALLOW_CIDRS).
type Guard struct {
	Allow []netip.Prefix
}

// Allowed reports whether addr may be reached. An address with an IPv6 zone is never
// allowed: prefixes do not contain zoned addresses, so it would slip past every range.
func (g Guard) Allowed(addr netip.Addr) bool {
	if addr.Zone() != "" {
		return false
	}
	addr = addr.Unmap()
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	for _, p := range refused {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// allowlisted reports whether addr is inside Allow.
func (g Guard) allowlisted(addr netip.Addr) bool {
	for _, p := range g.Allow {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL validates a destination URL when it is created or changed: an absolute
// http(s) URL without credentials whose host resolves only to allowed addresses; https
// unless every address is inside Allow (an internal receiver).
func (g Guard) CheckURL(ctx context.Context, raw string, resolver Resolver) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("must be an absolute https:// URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if len(raw) > 2048 {
		return errors.New("must be at most 2048 characters")
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("its host %q does not resolve", host)
		}
	}
	internal := true
	for _, a := range addrs {
		if !g.Allowed(a) {
			return fmt.Errorf("resolves to %s, a private, loopback, link-local or reserved address (allow it with STANDING_WEBHOOK_ALLOW_CIDRS)", a)
		}
		internal = internal && g.allowlisted(a)
	}
	if u.Scheme != "https" && !internal {
		return errors.New("must use https (plain http only for targets inside STANDING_WEBHOOK_ALLOW_CIDRS)")
	}
	return nil
}

// control checks, at dial time, the address a connection is about to reach, so that a
// host that resolved to a public address at creation cannot be rebound to a private
// one later.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	if !g.Allowed(addr) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenAddress, addr)
	}
	return nil
}
