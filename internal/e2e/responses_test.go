package e2e

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestProxiedResponseHeaders: what the browser gets of an upstream's
// answer. Caches are told the response is private (the request that
// reached a CDN carried a cookie, not Authorization), and every security
// header has exactly one value even when the upstream sends its own.
func TestProxiedResponseHeaders(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Routes: map[string]http.Handler{
		"/cached/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("X-Frame-Options", "SAMEORIGIN")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Referrer-Policy", "strict-origin")
			io.WriteString(w, "{}")
		}),
		"/secret/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, "{}")
		}),
	}})
	s.Login()
	for path, want := range map[string]string{"/cached/x": "private, max-age=60", "/secret/x": "no-store", "/api/x": "private"} {
		r := s.API(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if got := strings.Join(r.Header["Cache-Control"], " | "); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
		for _, name := range []string{"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
			if got := r.Header[name]; len(got) != 1 {
				t.Errorf("%s: %s = %q, want exactly one value", path, name, got)
			}
		}
	}
}

// TestEarlyHintsKeepTheRefresh: an upstream's 103 Early Hints passes
// through without any of bff's cookies, and the session bff resealed on
// the way (a refresh, under strict rotation) arrives on the final
// response. Were it sent on the 103, which browsers do not store cookies
// from, the next request would replay the rotated-out refresh token and
// lose the session.
func TestEarlyHintsKeepTheRefresh(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Routes: map[string]http.Handler{
		"/hints/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Link", "</app.css>; rel=preload; as=style")
			h.Add("Set-Cookie", "__Host-bff-session=FORGED; Path=/; Secure; HttpOnly")
			w.WriteHeader(http.StatusEarlyHints)
			clear(h)
			h.Set("Content-Type", "application/json")
			io.WriteString(w, "{}")
		}),
	}})
	s.Login()
	s.Clock.Advance(2 * time.Minute) // the access token is due: this request refreshes it

	var early [][]string
	req, err := http.NewRequest(http.MethodGet, s.Front.URL+"/hints/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-CSRF", "1")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = append(early, h["Set-Cookie"])
			return nil
		},
	}))
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(early) != 1 {
		t.Fatalf("status %d after %d informational responses, want 200 after one 103", resp.StatusCode, len(early))
	}
	if len(early[0]) != 0 {
		t.Errorf("the 103 carried Set-Cookie %q", early[0])
	}
	if !slices.ContainsFunc(resp.Header["Set-Cookie"], func(l string) bool {
		return strings.HasPrefix(l, "__Host-bff-session") && !strings.Contains(l, "FORGED") && !strings.Contains(l, "Max-Age=0")
	}) {
		t.Fatalf("the final response did not carry the resealed session: %q", resp.Header["Set-Cookie"])
	}
	if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
		t.Errorf("the next request: %d, want 200 on the refreshed session", r.StatusCode)
	}
	if c := s.OP.Counts(); c.RefreshGrants != 1 || c.RefreshRefused != 0 {
		t.Errorf("OP counts %+v, want one refresh grant and none refused", c)
	}
}
