package formbuilder

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNonPublicAddr(t *testing.T) {
	for _, c := range []struct{ addr, scope string }{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.5", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"169.254.169.254", "link-local"}, // cloud metadata services
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "reserved"},
		{"192.0.2.1", "documentation"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"224.0.0.251", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:8.8.8.8", ""},
		{"::127.0.0.1", "reserved"},   // IPv4-compatible, deprecated
		{"64:ff9b::a00:1", "private"}, // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", ""},      // NAT64 of 8.8.8.8
		{"64:ff9b:1::1", "private"},
		{"2002:7f00:1::", "loopback"}, // 6to4 of 127.0.0.1
		{"2002:808:808::1", ""},
		{"2001::1", "reserved"}, // Teredo
		{"2001:db8::1", "documentation"},
		{"fc00::1", "private"},
		{"fd12:3456:789a::1", "private"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"100::1", "reserved"},
		{"4000::1", "reserved"}, // outside 2000::/3
		{"8.8.8.8", ""},
		{"100.63.255.255", ""},
		{"172.32.0.1", ""},
		{"192.169.0.1", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001::200e", ""},
	} {
		a, err := netip.ParseAddr(c.addr)
		require.NoError(t, err, c.addr)
		assert.Equal(t, c.scope, NonPublicAddr(a), c.addr)
	}
	assert.Equal(t, "invalid", NonPublicAddr(netip.Addr{}))
}

func TestWebhookTargetProblem(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"https://hooks.example.com/in", ""},
		{"https://8.8.8.8/in", ""},
		{"https://[2606:4700:4700::1111]:8443/", ""},
		// A name is judged when it is resolved, by the worker.
		{"https://internal.corp.example/in", ""},
		{"http://localhost:8080/", "points at this server (localhost); webhooks go to public addresses only"},
		{"http://LOCALHOST./", "points at this server (localhost); webhooks go to public addresses only"},
		{"http://api.localhost/", "points at this server (localhost); webhooks go to public addresses only"},
		{"http://127.0.0.1:9200/_search", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://10.0.0.5:8080/in", "points at a non-public address (private); webhooks go to public addresses only"},
		{"http://169.254.169.254/latest/meta-data/", "points at a non-public address (link-local); webhooks go to public addresses only"},
		{"http://[::1]/", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://[::ffff:192.168.0.1]/", "points at a non-public address (private); webhooks go to public addresses only"},
		{"http://[fd00::1]/", "points at a non-public address (private); webhooks go to public addresses only"},
		{"http://0.0.0.0/", "points at a non-public address (unspecified); webhooks go to public addresses only"},
		// What inet_aton reads as 127.0.0.1.
		{"http://2130706433/", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://127.1/", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://0x7f.0.0.1/", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://0177.0.0.1/", "points at a non-public address (loopback); webhooks go to public addresses only"},
		{"http://100.64.1.1/", "points at a non-public address (carrier-grade NAT); webhooks go to public addresses only"},
		// Not URLs this check judges: Validate refuses them.
		{"", ""},
		{"::", ""},
	} {
		assert.Equal(t, c.want, WebhookTargetProblem(c.url).String(), c.url)
	}
}

func TestValidateTargets(t *testing.T) {
	n := Notifications{Webhooks: []Webhook{
		{URL: "https://hooks.example.com/in"},
		{URL: "http://127.0.0.1:8080/in"},
		{URL: "https://crm.example.com/in"},
		{URL: "http://[fe80::1%25eth0]/"},
	}}
	err := n.ValidateTargets()
	requireFieldErrors(t, err, "notifications.webhooks.1.url", "notifications.webhooks.3.url")
	assert.Contains(t, ErrorFields(err)["notifications.webhooks.3.url"], "link-local")
	assert.NoError(t, (&Notifications{Webhooks: n.Webhooks[:1]}).ValidateTargets())
	assert.NoError(t, (&Notifications{}).ValidateTargets())
}

func TestLegacyIPv4(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" when not an address
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"10.65535", "10.0.255.255"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F.1", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"256.1.1.1", ""},
		{"1.2.3.256", ""},
		{"1.2.65536", ""},
		{"1.2.3.4.5", ""},
		{"1..2", ""},
		{"08.1.1.1", ""}, // octal has no 8
		{"0x", ""},
		{"example.com", ""},
		{"", ""},
	} {
		a, ok := legacyIPv4(c.in)
		if c.want == "" {
			assert.False(t, ok, c.in)
			continue
		}
		require.True(t, ok, c.in)
		assert.Equal(t, c.want, a.String(), c.in)
	}
}

// FuzzLegacyIPv4 holds legacyIPv4 to the forms it must read: every
// dotted quad netip reads gives the same address, and every 32-bit number
// written in decimal, octal or hex, whole or split a.b.c.d, a.b.c or a.b,
// reads back as itself.
func FuzzLegacyIPv4(f *testing.F) {
	f.Add(uint32(0x7f000001), uint8(0), "")
	f.Add(uint32(0x0a000005), uint8(5), "10.0.0.5")
	f.Add(uint32(0xffffffff), uint8(11), "1.2.3")
	f.Fuzz(func(t *testing.T, n uint32, form uint8, s string) {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			got, ok := legacyIPv4(s)
			if !ok || got != a {
				t.Fatalf("legacyIPv4(%q) = %v, %v; netip reads %v", s, got, ok, a)
			}
		}
		legacyIPv4(s) // never panics
		b := [4]uint32{n >> 24, n >> 16 & 255, n >> 8 & 255, n & 255}
		var parts []uint32
		switch form % 4 {
		case 0:
			parts = []uint32{n}
		case 1:
			parts = []uint32{b[0], n & 0xffffff}
		case 2:
			parts = []uint32{b[0], b[1], n & 0xffff}
		case 3:
			parts = b[:]
		}
		text := ""
		for i, p := range parts {
			if i > 0 {
				text += "."
			}
			switch form / 4 % 3 {
			case 0:
				text += fmt.Sprint(p)
			case 1:
				text += fmt.Sprintf("0%o", p)
			case 2:
				text += fmt.Sprintf("0x%x", p)
			}
		}
		want := netip.AddrFrom4([4]byte{byte(b[0]), byte(b[1]), byte(b[2]), byte(b[3])})
		if got, ok := legacyIPv4(text); !ok || got != want {
			t.Fatalf("legacyIPv4(%q) = %v, %v; want %v", text, got, ok, want)
		}
	})
}

// Every scope NonPublicAddr names has its message, so a refusal reads
// whole in German ("nicht öffentliche Adresse (Loopback)").
func TestScopeMsgNamesEveryScope(t *testing.T) {
	for _, n := range nonPublic {
		m := ScopeMsg(n.scope)
		assert.Equal(t, n.scope, m.String(), "the English word is the scope")
		assert.NotEqual(t, MsgScopeInvalid, m.Code, n.scope)
	}
	assert.Equal(t, M(MsgScopeInvalid), ScopeMsg("something new"))
	de := WebhookTargetProblem("http://127.0.0.1/hook").Text(LangDE)
	assert.Contains(t, de, "(Loopback)")
	assert.NotContains(t, WebhookTargetProblem("http://10.0.0.1/hook").Text(LangDE), "private")
}
