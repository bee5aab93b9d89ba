package formbuilder

import "net/netip"

// IP storage modes.
const (
	IPFull      = "full"
	IPTruncated = "truncated"
)

func truncateIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}

// ApplyIPMode returns ip as it is to be stored under mode.
func ApplyIPMode(mode, ip string) string {
	if mode == IPTruncated {
		return truncateIP(ip)
	}
	return ip
}
