package httpx

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Proxies knows which peers are trusted reverse proxies, and so whose
// X-Forwarded-For is believed.
type Proxies struct {
	trusted []netip.Prefix
}

// NewProxies parses CIDRs (or bare addresses) of trusted proxies; empty
// entries are skipped.
func NewProxies(cidrs []string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, errors.New("web: bad trusted proxy " + s)
			}
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, errors.New("web: bad trusted proxy " + s)
		}
		p.trusted = append(p.trusted, pre.Masked())
	}
	return p, nil
}

// ClientIP returns the visitor's address. X-Forwarded-For is only read when
// the peer is a trusted proxy, and then from the right, skipping trusted
// hops, so a forged left-most entry never counts.
func (p *Proxies) ClientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !p.isTrusted(peer) {
		return peer.String()
	}
	xff := c.Get(fiber.HeaderXForwardedFor)
	if xff == "" {
		return peer.String()
	}
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			// A hop we cannot read: stop trusting what lies beyond it.
			return peer.String()
		}
		a = a.Unmap()
		if !p.isTrusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (p *Proxies) isTrusted(a netip.Addr) bool {
	for _, pre := range p.trusted {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// RateKeyIP is the address a client is counted under by rate limits and
// stream caps. IPv6 addresses count per /64, the block one subscriber
// usually gets: otherwise one host could rotate through 2^64 addresses.
func RateKeyIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
