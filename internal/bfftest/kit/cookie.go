package kit

import (
	"fmt"
	"strings"
)

// SetCookieProblems lists what is wrong with one Set-Cookie line of a bff
// cookie, as the contract has them: named __Host-, Secure, HttpOnly,
// Path=/, no Domain, the given SameSite, and short enough (with its
// "Set-Cookie: ") for browsers to keep, at most 4096 bytes. None is right.
func SetCookieProblems(line, sameSite string) []string {
	var problems []string
	name, _, _ := strings.Cut(line, "=")
	if !strings.HasPrefix(name, "__Host-") {
		problems = append(problems, "not a __Host- cookie")
	}
	attrs := map[string]string{}
	parts := strings.Split(line, ";")
	for _, a := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(a), "=")
		attrs[strings.ToLower(k)] = v
	}
	for _, want := range []string{"secure", "httponly"} {
		if _, ok := attrs[want]; !ok {
			problems = append(problems, "no "+want)
		}
	}
	if p, ok := attrs["path"]; !ok || p != "/" {
		problems = append(problems, fmt.Sprintf("path %q, want /", p))
	}
	if _, ok := attrs["domain"]; ok {
		problems = append(problems, "has a Domain")
	}
	if !strings.EqualFold(attrs["samesite"], sameSite) {
		problems = append(problems, fmt.Sprintf("SameSite %q, want %s", attrs["samesite"], sameSite))
	}
	if n := len("Set-Cookie: " + line); n > 4096 {
		problems = append(problems, fmt.Sprintf("%d bytes", n))
	}
	return problems
}
