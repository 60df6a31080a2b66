package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrForbiddenAddress means a webhook target resolves to an address the SSRF guard
// refuses.
var ErrForbiddenAddress = errors.New("webhooks: forbidden address")

// Guard decides which addresses webhook requests may reach: public addresses, and the
// special-purpose ranges only when they are inside Allow (STANDING_WEBHOOK_ALLOW_CIDRS).
// The ranges come from code.dny.dev/ssrf, generated from IANA's IPv4 and IPv6
// special-purpose address registries: loopback, private, link-local (and the cloud
// metadata addresses), carrier-grade NAT, documentation, benchmarking, 6to4, multicast,
// reserved, and every IPv6 address outside global unicast 2000::/3 (which covers
// IPv4-compatible forms like [::127.0.0.1] and NAT64 64:ff9b::/96 and 64:ff9b:1::/48).
type Guard struct {
	Allow []netip.Prefix
}

// guardian is the library's checker with Allow as its allowed prefixes. Ports are
// checked by the guard itself (any port but 0: receivers listen where they like).
func (g Guard) guardian() *ssrf.Guardian {
	var v4, v6 []netip.Prefix
	for _, p := range g.Allow {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork(),
		ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
}

// Allowed reports whether addr may be reached. An IPv4-mapped address is judged as the
// IPv4 address it maps. An address with an IPv6 zone is never allowed: prefixes do not
// contain zoned addresses, so it would slip past every range.
func (g Guard) Allowed(addr netip.Addr) bool {
	if !addr.IsValid() || addr.Zone() != "" {
		return false
	}
	return g.guardian().SafeAddr(addr.Unmap()) == nil
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
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("must use a port from 1 to 65535")
		}
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
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if port == "0" {
		return fmt.Errorf("%w: port 0", ErrForbiddenAddress)
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
