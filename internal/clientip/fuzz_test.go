package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseTrustedProxies feeds arbitrary configuration text. It must never
// panic; what it accepts must be one canonical prefix per entry, and must
// read back unchanged from its own printed form, so an operator who copies
// a logged value gets the same configuration.
func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{
		"", " ", ",", "10.0.0.0/8", "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
		"::ffff:10.0.0.0/104", "::ffff:1.2.3.4", "10.1.2.3/8", "fe80::1%eth0",
		"0.0.0.0/0,::/0", "1.2.3.4/33", "::/129", "a,b,,c", "10.0.0.1:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTrustedProxies(s)
		if err != nil {
			if got != nil {
				t.Fatalf("ParseTrustedProxies(%q) returned %v with error %v", s, got, err)
			}
			if !strings.Contains(err.Error(), "trusted proxy ") {
				t.Fatalf("ParseTrustedProxies(%q) error %q does not name the entry", s, err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if got != nil {
				t.Fatalf("ParseTrustedProxies(%q) = %v, want nil", s, got)
			}
			return
		}
		if n := strings.Count(s, ",") + 1; len(got) != n {
			t.Fatalf("ParseTrustedProxies(%q) = %d prefixes for %d entries", s, len(got), n)
		}
		printed := make([]string, len(got))
		for i, p := range got {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() && p.Bits() >= 96 {
				t.Fatalf("ParseTrustedProxies(%q)[%d] = %v, not canonical", s, i, p)
			}
			printed[i] = p.String()
		}
		again, err := ParseTrustedProxies(strings.Join(printed, ","))
		if err != nil {
			t.Fatalf("ParseTrustedProxies(%q) = %v, which does not parse back: %v", s, got, err)
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("ParseTrustedProxies(%q) = %v, parsed back as %v", s, got, again)
			}
		}
	})
}

// FuzzIP feeds arbitrary RemoteAddr and X-Forwarded-For values through
// several trust configurations. IP must never panic, and its answer must be
// the peer or an address written in the header: a resolver that could
// return anything else would invent clients. The answer must also agree
// with walk, a deliberately naive version of the same rule.
func FuzzIP(f *testing.F) {
	configs := [][]netip.Prefix{
		nil,
		mustParse(f, "10.0.0.0/8"),
		mustParse(f, "10.0.0.0/8, fd00::/8, 203.0.113.9"),
		mustParse(f, "0.0.0.0/0, ::/0"), // trusts everyone: walks as far as it can
	}
	for _, s := range []struct {
		remote, xff1, xff2 string
	}{
		{"192.0.2.1:1234", "", ""},
		{"10.0.0.1:1234", "198.51.100.7", ""},
		{"10.0.0.1:1234", "1.1.1.1, 198.51.100.7, 10.0.0.2", "10.0.0.3"},
		{"[fd00::1]:443", "2001:db8::7, garbage, fd00::2", ""},
		{"[::ffff:10.0.0.1]:1", "::ffff:198.51.100.7", "[2001:db8::1]:80"},
		{"10.0.0.1:1", "198.51.100.7:4711,,10.0.0.2", " \t"},
		{"[fe80::1%eth0]:1", "fe80::2%eth1", "[fe80::3%x]:0"},
		{"@", "198.51.100.7", ""},
		{"10.0.0.1:1", strings.Repeat("10.0.0.2,", 40) + "10.0.0.3", ""},
	} {
		for i := range configs {
			f.Add(s.remote, s.xff1, s.xff2, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string, config uint8) {
		trusted := configs[int(config)%len(configs)]
		xff := []string{xff1, xff2}
		got := New(trusted).IP(request(remote, xff...))

		if got != refParse(remote) && !inHeader(got, xff) {
			t.Fatalf("IP(%q, %q) = %v: neither the peer nor in the header", remote, xff, got)
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("IP(%q, %q) = %v: not in normal form", remote, xff, got)
		}
		if want := walk(trusted, remote, xff); got != want {
			t.Fatalf("IP(%q, %q) with trust %v = %v, want %v", remote, xff, trusted, got, want)
		}
	})
}

// inHeader reports whether a is, in normal form, one of the entries of the
// X-Forwarded-For headers.
func inHeader(a netip.Addr, xff []string) bool {
	for _, v := range xff {
		for _, e := range strings.Split(v, ",") {
			if b := refParse(strings.Trim(e, " \t")); b.IsValid() && b == a {
				return true
			}
		}
	}
	return false
}

// refParse is parse written with the standard library's own parsers, to
// catch the hand-written one accepting what they would not, or reading it
// differently.
func refParse(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		a, err = ap.Addr(), err2
	}
	if err != nil && len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		a, err = netip.ParseAddr(s[1 : len(s)-1])
		if err == nil && !a.Is6() {
			return netip.Addr{} // brackets are for IPv6 only
		}
	}
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// walk is the rule of Resolver.IP spelled out with slices.
func walk(trusted []netip.Prefix, remote string, xff []string) netip.Addr {
	trusts := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	peer := refParse(remote)
	if !peer.IsValid() || !trusts(peer) {
		return peer
	}
	var entries []string
	for _, v := range xff {
		entries = append(entries, strings.Split(v, ",")...)
	}
	last := peer
	for i := len(entries) - 1; i >= 0 && i >= len(entries)-maxHops; i-- {
		a := refParse(strings.Trim(entries[i], " \t"))
		if !a.IsValid() {
			return last
		}
		if !trusts(a) {
			return a
		}
		last = a
	}
	return last
}

func mustParse(tb testing.TB, s string) []netip.Prefix {
	tb.Helper()
	p, err := ParseTrustedProxies(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
