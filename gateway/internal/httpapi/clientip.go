package httpapi

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ParseTrustedProxies reads TRUSTED_PROXIES: addresses and CIDR ranges
// separated by commas or spaces ("10.0.0.1, 192.168.0.0/16"). Empty is none.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// proxies says who the client of a request is: the TCP peer, unless the peer
// is a trusted proxy, in which case the address that proxy saw, from
// header (X-Forwarded-For by default), read from the right: each proxy
// appends the address it was reached from, so the rightmost address that is
// not one of our proxies is the client. The leftmost one, which Fiber's
// Ctx.IP returns with ProxyHeader set, is whatever the client wrote.
type proxies struct {
	trusted []netip.Prefix
	header  string
}

func (p proxies) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, t := range p.trusted {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the request's client address (the key of the per-address limits).
func (p proxies) clientIP(c *fiber.Ctx) string {
	remote, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	remote = remote.Unmap()
	if len(p.trusted) == 0 || p.header == "" || !p.isTrusted(remote) {
		return remote.String()
	}
	client := remote
	values := c.Request().Header.PeekAll(p.header)
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(string(values[i]), ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				// Not an address: nothing left of it can be believed.
				return client.String()
			}
			client = a.Unmap()
			if !p.isTrusted(client) {
				return client.String()
			}
		}
	}
	return client.String()
}
