package oidc

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"bff/cookie"
)

var sealGolden = flag.Bool("seal-golden", false, "write testdata/session-v<encodingVersion>.json if it is missing")

// sealedGolden is a session cookie as one release of bff sealed it, kept
// so that every later release is tested against it.
type sealedGolden struct {
	Note    string    `json:"note"`
	Key     string    `json:"key"`      // BFF_COOKIE_KEYS of the release that sealed it
	Cookie  string    `json:"cookie"`   // the __Host-bff-session value
	Opened  time.Time `json:"opened"`   // when the test opens it: inside its lifetimes
	Subject string    `json:"subject"`  // what /auth/session must answer
	Claims  []string  `json:"claims"`   // claims /auth/session must list
	Version int       `json:"encoding"` // encodingVersion of the release that sealed it
}

func goldenPath(version int) string {
	return filepath.Join("..", "testdata", fmt.Sprintf("session-v%d.json", version))
}

// TestSealedSessionCompat: a session sealed by an earlier release of bff
// opens in this one, so an upgrade logs no one out. Each encoding version
// leaves its cookie in testdata/ (go test ./oidc -run TestSealedSessionCompat
// -seal-golden writes the current version's, once); they are never
// rewritten, and every one of them must still open.
func TestSealedSessionCompat(t *testing.T) {
	if *sealGolden {
		writeSealedGolden(t)
	}
	if _, err := os.Stat(goldenPath(encodingVersion)); err != nil {
		t.Fatalf("no sealed cookie of the current encoding (%d) for the next release to be tested against: %v", encodingVersion, err)
	}
	for v := 1; v <= encodingVersion; v++ {
		raw, err := os.ReadFile(goldenPath(v))
		if err != nil {
			t.Fatal(err)
		}
		var g sealedGolden
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("encoding %d", v), func(t *testing.T) { openGolden(t, g) })
	}
}

// openGolden opens g through /auth/session, as a browser's next request
// after an upgrade would.
func openGolden(t *testing.T, g sealedGolden) {
	keys, err := cookie.ParseKeys(g.Key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{
		ClientID: "spa-bff", PublicURL: &url.URL{Scheme: "https", Host: "app.example.com"},
		SessionMaxAge: 12 * time.Hour, SessionIdle: time.Hour, Keys: keys, HTTPClient: http.DefaultClient,
		Now: func() time.Time { return g.Opened },
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/auth/session", nil)
	r.Header.Set("X-CSRF", "1")
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: g.Cookie})
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, r)
	var got sessionResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("/auth/session with the cookie %s sealed: %d %s", g.Note, rec.Code, rec.Body)
	}
	if got.Sub != g.Subject {
		t.Errorf("subject %q, want %q", got.Sub, g.Subject)
	}
	for _, c := range g.Claims {
		if _, ok := got.Claims[c]; !ok {
			t.Errorf("claim %q lost (claims: %v)", c, got.Claims)
		}
	}
	// The tokens come back whole: the cookie still works for the API.
	plain, _, err := keys.Open(purposeSession, g.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	var s Session
	if err := s.UnmarshalBinary(plain); err != nil {
		t.Fatal(err)
	}
	if want := realisticSession(t); s.AccessToken != want.AccessToken || s.RefreshToken != want.RefreshToken || s.IDToken != want.IDToken {
		t.Error("the tokens inside the old cookie did not come back unchanged")
	}
	// While the encoding is unchanged, this release writes what the older
	// one reads: a rollback logs no one out either.
	if g.Version == encodingVersion {
		again, _ := s.MarshalBinary()
		if !bytes.Equal(again, plain) {
			t.Error("this release encodes the same session differently from the release that sealed it, under the same encoding version")
		}
	}
}

func writeSealedGolden(t *testing.T) {
	path := goldenPath(encodingVersion)
	if _, err := os.Stat(path); err == nil {
		t.Logf("%s exists; an earlier release's cookie is never rewritten", path)
		return
	}
	key, err := cookie.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cookie.ParseKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	s := realisticSession(t)
	plain, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := keys.Seal(purposeSession, plain)
	if err != nil {
		t.Fatal(err)
	}
	claims := slices.Sorted(maps.Keys(s.claims()))
	g := sealedGolden{
		Note:   fmt.Sprintf("sealed by bff with session encoding %d; never rewrite: later releases must open it", encodingVersion),
		Key:    key,
		Cookie: sealed, Opened: s.Created.Add(2 * time.Minute), Subject: s.Subject, Claims: claims, Version: encodingVersion,
	}
	b, _ := json.MarshalIndent(g, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
