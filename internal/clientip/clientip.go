// Package clientip finds the address of the browser behind a request, for
// rate limiting and logs.
//
// # Whom to believe
//
// The TCP peer (http.Request.RemoteAddr) is the only address nobody on the
// internet can forge. Behind a load balancer or ingress, though, the peer is
// always the proxy, and the browser's address arrives in X-Forwarded-For,
// which each proxy extends by appending the address it received the request
// from:
//
//	X-Forwarded-For: <whatever the client sent>, <client>, <proxy 1>
//
// Anything a client puts in that header survives at the left, so reading
// the left-most entry lets any client claim any address, and a rate limit
// keyed on it limits nothing. [Resolver.IP] reads from the right instead:
// starting at the peer, it believes an entry only while the hop that wrote
// it is a trusted proxy, and stops at the first address that is not one.
// That address was seen on a real connection by a proxy the operator
// trusts, so it cannot be forged by the client.
//
// With no trusted proxies configured (the default) X-Forwarded-For is not
// read at all. The Forwarded header (RFC 7239) and X-Real-IP are never
// read: a proxy that sets only those is not supported.
//
// # Normal form
//
// Addresses are returned without IPv6 zone, and IPv4-mapped IPv6 addresses
// ("::ffff:192.0.2.1") as plain IPv4, so that one client has one address
// however a dual-stack socket or proxy spelled it.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many X-Forwarded-For entries one request can make
// [Resolver.IP] examine. Real chains are a handful of hops long; the bound
// keeps a header of thousands of entries from costing more than a few.
const maxHops = 32

// Resolver finds the client's IP address for a request. The zero value
// trusts no proxy. A Resolver is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// ParseTrustedProxies parses BFF_TRUSTED_PROXIES: comma-separated CIDR
// prefixes or single addresses, IPv4 or IPv6, with spaces around each entry
// ignored, for example
//
//	10.0.0.0/8, 192.168.1.7, fd00::/8
//
// List only the proxies' own addresses: whatever a trusted address writes
// in X-Forwarded-For is believed, so trusting a network that clients
// connect from ("0.0.0.0/0" at the extreme) lets them choose their address.
//
// An empty string means no trusted proxy. A single address is trusted alone
// (as a /32 or /128). An IPv4-mapped IPv6 address, or prefix of /96 or
// longer, is read as the IPv4 address or prefix it maps, matching how
// [Resolver.IP] unmaps addresses; other IPv6 prefixes (even "::/0") match
// IPv6 addresses only.
//
// A prefix with bits set after its length, such as "10.1.2.3/8", is an
// error rather than being silently widened: it is more likely a typo for a
// single address than a wish to trust sixteen million. Zones are refused
// too, since a prefix cannot carry one. Every bad entry yields one error
// naming its 1-based position and quoting it; the errors are joined with
// [errors.Join] so an operator sees them all at once.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var (
		prefixes []netip.Prefix
		errs     []error
	)
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		p, err := parseTrusted(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted proxy %d %q: %w", i+1, entry, err))
			continue
		}
		prefixes = append(prefixes, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return prefixes, nil
}

func parseTrusted(entry string) (netip.Prefix, error) {
	if entry == "" {
		return netip.Prefix{}, errors.New("empty entry")
	}
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		// ParsePrefix explains itself ("bad bits after slash"), which helps
		// more than a generic message; it also quotes the entry, which the
		// caller does too, so only its reason is kept.
		msg := err.Error()
		if _, reason, ok := strings.Cut(msg, "): "); ok {
			msg = reason
		}
		return netip.Prefix{}, errors.New("not a CIDR prefix: " + msg)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("host bits set after /%d; write %s for the network, or the address alone to trust one host", p.Bits(), m)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// New returns a Resolver that believes X-Forwarded-For only as written by
// the trusted proxies, typically from [ParseTrustedProxies]. Nil or empty
// trusts none. The slice is copied.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// IP returns the client address for req.
//
// Without trusted proxies, or when the peer is not one, that is the peer
// (req.RemoteAddr). Otherwise IP walks X-Forwarded-For from the right
// (several such headers count as one list, in order) past every trusted
// proxy, and returns the first address that is not one. If the walk runs
// into an entry that is not an address, it returns the address just to the
// right of it: the last hop whose report could be believed, never anything
// further left, which the client could have written. If every entry is a
// trusted proxy, or after examining 32 entries, it returns the left-most
// trusted address examined. Entries may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711") or brackets ("[2001:db8::1]"), as some proxies
// write them.
//
// The result is the invalid zero [netip.Addr] if RemoteAddr is not an IP
// address, as for a Unix socket listener. IP never panics, examines at
// most 32 entries however long the header, and allocates nothing unless it
// meets a malformed address (and then once, as it stops there).
func (r *Resolver) IP(req *http.Request) netip.Addr {
	peer, ok := parse(req.RemoteAddr)
	if !ok || !r.trusts(peer) {
		return peer
	}
	// last is the left-most address so far that a trusted hop vouched for.
	last := peer
	hops := 0
	xff := req.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for {
			if hops == maxHops {
				return last
			}
			hops++
			entry := rest
			more := false
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest, more = rest[j+1:], rest[:j], true
			}
			a, ok := parse(strings.Trim(entry, " \t"))
			if !ok {
				return last
			}
			if !r.trusts(a) {
				return a
			}
			last = a
			if !more {
				break
			}
		}
	}
	return last
}

func (r *Resolver) trusts(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads an address as it appears in RemoteAddr or X-Forwarded-For:
// bare, bracketed if IPv6, or with a port, and returns it in normal form
// (unmapped, no zone). The form is told apart by syntax before parsing so
// that a well-formed address costs no allocation: netip allocates only for
// the errors it returns and for the zones it interns.
func parse(s string) (netip.Addr, bool) {
	host, port, bracketed := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.LastIndexByte(s, ']') // a zone may hold ']'; netip allows it
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port, bracketed = s[1:end], s[end+1:], true
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// One colon: IPv4 and port. An IPv6 address has at least two.
		host, port = s[:i], s[i:]
	}
	if port != "" && !validPort(port) {
		return netip.Addr{}, false
	}
	zoned := false
	if i := strings.IndexByte(host, '%'); i >= 0 {
		// A zone names an interface of the machine that wrote it and
		// means nothing here; it is validated and dropped rather than
		// parsed, since netip would intern it.
		if i == len(host)-1 {
			return netip.Addr{}, false
		}
		host, zoned = host[:i], true
	}
	if host == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	// Brackets and zones belong to IPv6 only; a port without brackets to
	// IPv4 only, or "::1:80" would be ambiguous (and is parsed above as a
	// plain IPv6 address).
	if (bracketed || zoned) && !a.Is6() || port != "" && !bracketed && !a.Is4() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validPort reports whether s is ":" and a decimal port number, 0 to
// 65535, as [netip.ParseAddrPort] accepts it (leading zeros included).
func validPort(s string) bool {
	if len(s) < 2 || s[0] != ':' {
		return false
	}
	n := 0
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return false
		}
	}
	return true
}
