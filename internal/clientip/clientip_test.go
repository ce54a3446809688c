package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{" 10.0.0.0/8 ,192.168.1.7,\tfd00::/8 ", []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8"}},
		{"2001:db8::1", []string{"2001:db8::1/128"}},
		{"0.0.0.0/0,::/0", []string{"0.0.0.0/0", "::/0"}},
		// IPv4-mapped forms mean the IPv4 addresses IP compares them with.
		{"::ffff:10.1.2.3", []string{"10.1.2.3/32"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"::ffff:0.0.0.0/96", []string{"0.0.0.0/0"}},
		{"::/80", []string{"::/80"}},
		{"10.0.0.1/32", []string{"10.0.0.1/32"}},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", tt.in, err)
			continue
		}
		var gotS []string
		for _, p := range got {
			gotS = append(gotS, p.String())
		}
		if !slices.Equal(gotS, tt.want) {
			t.Errorf("ParseTrustedProxies(%q) = %q, want %q", tt.in, gotS, tt.want)
		}
	}
}

func TestParseTrustedProxiesErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings of the error, in order
	}{
		{"10.0.0.0/8,", []string{`trusted proxy 2 "": empty entry`}},
		{",10.0.0.0/8", []string{`trusted proxy 1 "": empty entry`}},
		{"10.0.0.0/8, proxy.internal", []string{`trusted proxy 2 "proxy.internal": not an IP address`}},
		{"10.0.0.0/33", []string{`trusted proxy 1 "10.0.0.0/33": not a CIDR prefix`}},
		{"10.0.0.0/", []string{`trusted proxy 1 "10.0.0.0/": not a CIDR prefix`}},
		{"x/8", []string{`trusted proxy 1 "x/8": not a CIDR prefix`}},
		{"10.1.2.3/8", []string{`trusted proxy 1 "10.1.2.3/8": host bits set after /8; write 10.0.0.0/8`}},
		{"fe80::1%eth0", []string{`trusted proxy 1 "fe80::1%eth0": zones are not allowed`}},
		{"fe80::/64%eth0", []string{`trusted proxy 1 "fe80::/64%eth0": not a CIDR prefix`}},
		{"10.0.0.1:80", []string{`trusted proxy 1 "10.0.0.1:80"`}},
		// Every bad entry is reported, good ones in between are not.
		{"bad, 10.0.0.0/8 ,also bad", []string{`trusted proxy 1 "bad"`, `trusted proxy 3 "also bad"`}},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if err == nil {
			t.Errorf("ParseTrustedProxies(%q) = %v, want error", tt.in, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseTrustedProxies(%q) returned %v with its error", tt.in, got)
		}
		msg := err.Error()
		rest := msg
		for _, w := range tt.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("ParseTrustedProxies(%q) error %q: missing %q (in order)", tt.in, msg, w)
				break
			}
			rest = rest[i+len(w):]
		}
		// One error per bad entry, and none for the good ones.
		if joined, ok := err.(interface{ Unwrap() []error }); !ok || len(joined.Unwrap()) != len(tt.want) {
			t.Errorf("ParseTrustedProxies(%q) error %q: want %d joined errors", tt.in, msg, len(tt.want))
		}
	}
}

// trust is the proxy set used by most IP tests: an internal load-balancer
// network, one IPv6 ingress network, and one CDN edge address.
const trust = "10.0.0.0/8, fd00::/8, 203.0.113.9"

func TestIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		remote  string
		xff     []string // one element per X-Forwarded-For header
		want    string   // "" for the invalid Addr
	}{
		// No trusted proxies: the peer, whatever the header says.
		{"no trust, no header", "", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"no trust, header ignored", "", "192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"},
		{"no trust, peer looks internal", "", "10.0.0.1:1234", []string{"198.51.100.7"}, "10.0.0.1"},

		// The peer is not trusted: its header is the client's own claim.
		{"untrusted peer, header ignored", trust, "192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"},

		// One trusted proxy.
		{"one proxy", trust, "10.0.0.1:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"one proxy, spaces", trust, "10.0.0.1:1234", []string{"  198.51.100.7\t"}, "198.51.100.7"},
		{"one proxy, no header", trust, "10.0.0.1:1234", nil, "10.0.0.1"},
		{"one proxy, empty header", trust, "10.0.0.1:1234", []string{""}, "10.0.0.1"},
		{"single-address trust", trust, "203.0.113.9:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"neighbour of single-address trust", trust, "203.0.113.10:443", []string{"198.51.100.7"}, "203.0.113.10"},

		// Chains: every trusted hop is skipped.
		{"chain", trust, "10.0.0.1:1234", []string{"198.51.100.7, 203.0.113.9, 10.1.1.1"}, "198.51.100.7"},
		{"chain, all trusted", trust, "10.0.0.1:1234", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"chain stops at first untrusted", trust, "10.0.0.1:1234", []string{"10.0.0.9, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},

		// A client that writes its own header cannot choose its address.
		{"spoofed left-most", trust, "10.0.0.1:1234", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"spoofed trusted address", trust, "10.0.0.1:1234", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"spoofed garbage", trust, "10.0.0.1:1234", []string{"<script>, 198.51.100.7"}, "198.51.100.7"},
		{"spoofed separate header", trust, "10.0.0.1:1234", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},

		// Malformed entries: the address to the right, never further left.
		{"malformed right after peer", trust, "10.0.0.1:1234", []string{"198.51.100.7, unknown"}, "10.0.0.1"},
		{"malformed after trusted hop", trust, "10.0.0.1:1234", []string{"198.51.100.7, garbage, 10.0.0.2"}, "10.0.0.2"},
		{"empty entry", trust, "10.0.0.1:1234", []string{"198.51.100.7,,10.0.0.2"}, "10.0.0.2"},
		{"trailing comma", trust, "10.0.0.1:1234", []string{"198.51.100.7,"}, "10.0.0.1"},
		{"obfuscated identifier", trust, "10.0.0.1:1234", []string{"198.51.100.7, _hidden"}, "10.0.0.1"},
		{"IPv4 in brackets", trust, "10.0.0.1:1234", []string{"198.51.100.7, [10.0.0.2]"}, "10.0.0.1"},
		{"bad port", trust, "10.0.0.1:1234", []string{"198.51.100.7:99999"}, "10.0.0.1"},
		{"empty port", trust, "10.0.0.1:1234", []string{"198.51.100.7:"}, "10.0.0.1"},
		{"empty zone", trust, "10.0.0.1:1234", []string{"fe80::1%"}, "10.0.0.1"},
		{"zone on IPv4", trust, "10.0.0.1:1234", []string{"198.51.100.7%eth0"}, "10.0.0.1"},
		{"unclosed bracket", trust, "10.0.0.1:1234", []string{"[2001:db8::1"}, "10.0.0.1"},
		{"junk after bracket", trust, "10.0.0.1:1234", []string{"[2001:db8::1]x"}, "10.0.0.1"},
		{"quoted", trust, "10.0.0.1:1234", []string{`"198.51.100.7"`}, "10.0.0.1"},

		// Ports and brackets as some proxies write them.
		{"IPv4 with port", trust, "10.0.0.1:1234", []string{"198.51.100.7:4711"}, "198.51.100.7"},
		{"IPv6 bracketed", trust, "10.0.0.1:1234", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"IPv6 bracketed with port", trust, "10.0.0.1:1234", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"trusted hop with port", trust, "10.0.0.1:1234", []string{"198.51.100.7, 10.0.0.2:80"}, "198.51.100.7"},

		// IPv6.
		{"IPv6 peer, no trust", "", "[2001:db8::1]:443", []string{"198.51.100.7"}, "2001:db8::1"},
		{"IPv6 trusted peer", trust, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 chain", trust, "[fd00::1]:443", []string{"2001:db8::7, 10.0.0.5, fd12::1"}, "2001:db8::7"},
		{"IPv6 zone dropped", trust, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"IPv6 zone in header dropped", trust, "10.0.0.1:1", []string{"fe80::7%eth1"}, "fe80::7"},
		{"IPv6 untrusted peer", trust, "[2001:db8::1]:443", []string{"198.51.100.7"}, "2001:db8::1"},

		// RemoteAddr forms.
		{"peer without port", "", "192.0.2.1", nil, "192.0.2.1"},
		{"IPv6 peer without port", "", "2001:db8::1", nil, "2001:db8::1"},
		{"IPv6 peer bracketed without port", "", "[2001:db8::1]", nil, "2001:db8::1"},
		{"unix socket peer", "", "@", nil, ""},
		{"empty peer", trust, "", []string{"198.51.100.7"}, ""},
		{"hostname peer", trust, "localhost:80", []string{"198.51.100.7"}, ""},

		// Several headers are one list, in order.
		{"two headers", trust, "10.0.0.1:1234", []string{"198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"three headers, chain", trust, "10.0.0.1:1234", []string{"192.0.2.200, 198.51.100.7", "10.0.0.3", "10.0.0.2"}, "198.51.100.7"},
		{"malformed in earlier header", trust, "10.0.0.1:1234", []string{"198.51.100.7, bad", "10.0.0.2"}, "10.0.0.2"},
		{"empty last header", trust, "10.0.0.1:1234", []string{"198.51.100.7", ""}, "10.0.0.1"},

		// IPv4-mapped addresses are unmapped, before and after trust checks.
		{"mapped peer", "", "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1"},
		{"mapped trusted peer", trust, "[::ffff:10.0.0.1]:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"mapped client", trust, "10.0.0.1:1234", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"mapped client bracketed", trust, "10.0.0.1:1234", []string{"[::ffff:198.51.100.7]:9"}, "198.51.100.7"},
		{"mapped trusted hop", trust, "10.0.0.1:1234", []string{"198.51.100.7, ::ffff:10.0.0.2"}, "198.51.100.7"},
		{"mapped trust config", "::ffff:10.0.0.0/104", "10.0.0.1:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv6 /0 does not cover IPv4", "::/0", "10.0.0.1:1234", []string{"198.51.100.7"}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trusted, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			req := request(tt.remote, tt.xff...)
			got := New(trusted).IP(req)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("IP(RemoteAddr %q, X-Forwarded-For %q) = %v, want %v", tt.remote, tt.xff, got, want)
			}
		})
	}
}

// TestIPHopLimit checks that a long chain of trusted proxies is examined
// only up to the bound, and that the bound is where the answer comes from.
func TestIPHopLimit(t *testing.T) {
	hops := make([]string, 1000)
	for i := range hops {
		hops[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()
	}
	r := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	tests := []struct {
		name string
		xff  []string
		want netip.Addr
	}{
		// The 32nd entry from the right is hops[len-32].
		{"one header", []string{strings.Join(hops, ",")}, netip.MustParseAddr(hops[len(hops)-maxHops])},
		{"one header each", hops, netip.MustParseAddr(hops[len(hops)-maxHops])},
		// Within the bound, the client is found.
		{"client at the bound", append([]string{"198.51.100.7"}, hops[len(hops)-maxHops+1:]...), netip.MustParseAddr("198.51.100.7")},
		// Beyond it, not: the left-most trusted hop examined answers.
		{"client past the bound", append([]string{"198.51.100.7"}, hops[len(hops)-maxHops:]...), netip.MustParseAddr(hops[len(hops)-maxHops])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.IP(request("10.0.0.1:1", tt.xff...)); got != tt.want {
				t.Errorf("IP = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIPAllocs(t *testing.T) {
	r := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
	tests := []struct {
		name   string
		remote string
		xff    []string
	}{
		{"no header", "10.0.0.1:1", nil},
		{"chain", "10.0.0.1:1", []string{"198.51.100.7, 10.0.0.3", "10.0.0.2:80, [fd00::1]:443, fd00::2"}},
		{"mapped and zoned", "[::ffff:10.0.0.1]:1", []string{"fe80::1%eth0, ::ffff:10.0.0.4"}},
		{"long chain", "10.0.0.1:1", []string{strings.Repeat("10.0.0.2, ", 10000) + "10.0.0.2"}},
	}
	for _, tt := range tests {
		req := request(tt.remote, tt.xff...)
		if n := testing.AllocsPerRun(100, func() { r.IP(req) }); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tt.name, n)
		}
	}
}

func TestNewCopies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := New(trusted)
	trusted[0] = netip.MustParsePrefix("192.0.2.0/24")
	if got := r.IP(request("10.0.0.1:1", "198.51.100.7")); got != netip.MustParseAddr("198.51.100.7") {
		t.Errorf("IP after caller changed its slice = %v, want 198.51.100.7", got)
	}
}

func TestZeroResolver(t *testing.T) {
	var r Resolver
	if got := r.IP(request("10.0.0.1:1", "198.51.100.7")); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("zero Resolver IP = %v, want the peer 10.0.0.1", got)
	}
}

func request(remote string, xff ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = remote
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	return req
}
