package endpoint

import "testing"

func TestName(t *testing.T) {
	for path, want := range map[string]string{
		"/auth/login":    "/auth/login",
		"/auth/callback": "/auth/callback",
		"/auth/nope":     "/auth/*",
		"/auth/":         "/auth/*",
		"/auth":          "/auth/*",
		"/authx":         "",
		"/healthz":       "/healthz",
		"/healthz/x":     "",
		"/readyz":        "/readyz",
		"/api/x":         "",
		"/":              "",
	} {
		if got := Name(path); got != want {
			t.Errorf("Name(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestReserved(t *testing.T) {
	for prefix, want := range map[string]string{
		"/auth/":     "/auth/",
		"/auth/x/":   "/auth/",
		"/healthz/":  "/healthz",
		"/readyz/":   "/readyz",
		"/authx/":    "",
		"/healthzx/": "",
		"/api/":      "",
		"/":          "",
	} {
		got, ok := Reserved(prefix)
		if got != want || ok != (want != "") {
			t.Errorf("Reserved(%q) = %q, %v; want %q", prefix, got, ok, want)
		}
	}
}
