package formbuilder

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// A webhook makes this server send requests where an admin says. Pointed at
// this machine or its network (a database's admin port, a cloud metadata
// service, a router), that is server-side request forgery: the delivery log
// and "send test" would even show what answered. So, unless the operator
// allows it, webhooks go to public addresses only. NonPublicAddr is the
// rule; the delivery worker applies it to every address it dials (after DNS
// resolution, so a name that resolves to a private address is refused too,
// and on every redirect), and WebhookTargetProblem applies it when an admin
// saves a URL, where only literal addresses and "localhost" can be judged.

// nonPublic lists the IANA special-purpose ranges that are not globally
// reachable, with the word the refusal uses. IPv4-mapped, NAT64 and 6to4
// addresses are judged by the IPv4 address inside them.
var nonPublic = []struct {
	prefix netip.Prefix
	scope  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	// IPv6 outside 2000::/3 is never public; these get a precise word,
	// the rest of it "reserved".
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	// Inside 2000::/3: IETF protocol assignments (Teredo, benchmarking,
	// ORCHID, …) and documentation.
	{netip.MustParsePrefix("2001::/23"), "reserved"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4         = netip.MustParsePrefix("2002::/16")
)

// NonPublicAddr returns why a is not a public internet address: a short
// word such as "loopback", "private" or "link-local", or "" for a public
// one. IPv4 addresses inside IPv6 ones (v4-mapped, NAT64, 6to4) are judged
// by the IPv4 address.
func NonPublicAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return NonPublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(a):
			return NonPublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, n := range nonPublic {
		if n.prefix.Contains(a) {
			return n.scope
		}
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return "reserved"
	}
	return ""
}

// scopeMsgs name the scopes of NonPublicAddr by message code.
var scopeMsgs = map[string]MsgCode{
	"unspecified":       MsgScopeUnspecified,
	"private":           MsgScopePrivate,
	"carrier-grade NAT": MsgScopeCGNAT,
	"loopback":          MsgScopeLoopback,
	"link-local":        MsgScopeLinkLocal,
	"reserved":          MsgScopeReserved,
	"documentation":     MsgScopeDocumentation,
	"benchmarking":      MsgScopeBenchmarking,
	"multicast":         MsgScopeMulticast,
	"site-local":        MsgScopeSiteLocal,
	"invalid":           MsgScopeInvalid,
}

// ScopeMsg is a scope of NonPublicAddr ("loopback") as a message, for the
// {scope} of the messages that refuse such an address.
func ScopeMsg(scope string) Msg {
	if code, ok := scopeMsgs[scope]; ok {
		return M(code)
	}
	return M(MsgScopeInvalid)
}

// WebhookTargetProblem returns, for a webhook URL whose host is a literal
// address that is not public or a name that always means this machine
// ("localhost", "*.localhost"), a field message saying so; else the zero Msg. Other
// names can only be judged when they are resolved, which the delivery
// worker does on every connection. The web layer calls it on save unless
// the operator allows private webhook targets.
func WebhookTargetProblem(rawURL string) Msg {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return Msg{}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return M(MsgTargetLocalhost)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		var ok bool
		if a, ok = legacyIPv4(host); !ok {
			return Msg{}
		}
	}
	if scope := NonPublicAddr(a); scope != "" {
		return M(MsgTargetNonPublic).With("scope", ScopeMsg(scope))
	}
	return Msg{}
}

// ValidateTargets checks every webhook URL with WebhookTargetProblem;
// errors are named like "notifications.webhooks.0.url", as Validate's.
func (n *Notifications) ValidateTargets() error {
	errs := map[string]Msg{}
	for i, w := range n.Webhooks {
		if msg := WebhookTargetProblem(w.URL); !msg.IsZero() {
			errs["notifications.webhooks."+itoa(i)+".url"] = msg
		}
	}
	return FieldErrors(errs)
}

// legacyIPv4 parses the forms of an IPv4 address that inet_aton accepts
// and netip does not ("2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1"):
// a resolver that hands such a name to the C library connects to that
// address.
func legacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			p, base = p[2:], 16
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	// The last part fills the bytes the others leave: a.b.c.d, a.b.16bit,
	// a.24bit, 32bit.
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n := last
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
