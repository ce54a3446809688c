package policy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://app.example.com", "https://app.example.com"},
		{"https://app.example.com/", "https://app.example.com"},
		{"HTTPS://App.Example.com", "https://app.example.com"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://localhost:80", "http://localhost"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"https://app.example.com/spa/", ""},
		{"https://u:p@app.example.com", ""},
		{"https://app.example.com?x", ""},
		{"https://app.example.com?", ""},
		{"https://app.example.com#f", ""},
		{"ftp://app.example.com", ""},
		{"app.example.com", ""},
		{"*", ""},
		{"", ""},
		{"https://", ""},
		{"https:app.example.com", ""},
	} {
		got, err := Origin(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Origin(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Origin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	for _, tc := range []struct {
		value []string
		ok    bool
	}{
		{[]string{"1"}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{"true"}, false},
		{[]string{"0"}, false},
		{[]string{" 1"}, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
		if tc.value != nil {
			r.Header["X-Csrf"] = tc.value
		}
		rec := httptest.NewRecorder()
		if got := CheckCSRF(rec, r); got != tc.ok {
			t.Errorf("CheckCSRF(X-CSRF %q) = %v, want %v", tc.value, got, tc.ok)
		}
		switch {
		case tc.ok && rec.Code != http.StatusOK:
			t.Errorf("CheckCSRF(X-CSRF %q) wrote %d, want nothing", tc.value, rec.Code)
		case !tc.ok && (rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("Content-Type"), "problem+json")):
			t.Errorf("CheckCSRF(X-CSRF %q) wrote %d %q, want 403 problem+json", tc.value, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

// TestCSRFHeaderAllocations: every proxied request looks the header up,
// and a lookup by a name in canonical form allocates nothing.
func TestCSRFHeaderAllocations(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
	r.Header.Set("X-CSRF", "1")
	if n := testing.AllocsPerRun(100, func() { CheckCSRF(nil, r) }); n != 0 {
		t.Errorf("CheckCSRF allocates %v times, want 0", n)
	}
}
