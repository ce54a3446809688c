package api

import (
	"bff/internal/bfftest/kit"
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	audience = "bff-client"
	kid      = "test-key"
)

// clock is the fixed "now" of every test, far from the real one so that a
// test passing only by the wall clock is caught.
var clock = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func fixedNow() time.Time { return clock }

// testOP serves only what the API reads from an OP: the discovery document
// and the JWKS. It can be switched off to play an OP that is not up yet.
type testOP struct {
	srv         *httptest.Server
	key         *rsa.PrivateKey
	down        atomic.Bool
	discoveries atomic.Int32
}

func newTestOP(t *testing.T) *testOP {
	t.Helper()
	op := &testOP{key: newKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		op.discoveries.Add(1)
		if op.down.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                op.srv.URL,
			"authorization_endpoint":                op.srv.URL + "/authorize",
			"token_endpoint":                        op.srv.URL + "/token",
			"jwks_uri":                              op.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &op.key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig",
		}}})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// claims returns a valid access token's claims; tests spoil one field.
func (op *testOP) claims() map[string]any {
	return map[string]any{
		"iss":   op.srv.URL,
		"sub":   "alice",
		"aud":   []string{audience, op.srv.URL},
		"exp":   clock.Add(50 * time.Second).Unix(),
		"iat":   clock.Add(-10 * time.Second).Unix(),
		"scope": "openid profile email",
	}
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (op *testOP) token(t *testing.T, claims map[string]any) string {
	return sign(t, jose.RS256, op.key, claims)
}

// newAPI builds the API against op, sending its log to the returned buffer
// so tests can check that no token reaches it.
func newAPI(t *testing.T, ctx context.Context, op *testOP, client *http.Client) (http.Handler, *kit.Buffer) {
	t.Helper()
	logs := &kit.Buffer{}
	h, err := New(ctx, Config{
		Issuer:     op.srv.URL,
		Audience:   audience,
		HTTPClient: client,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        fixedNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

func get(h http.Handler, path, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkProblem asserts an RFC 9457 body with the given status.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	if p.Type == "" || p.Title == "" || p.Status != status {
		t.Errorf("problem = %+v, want type, title and status %d", p, status)
	}
	// Internal error text such as go-oidc's "oidc: ..." must stay in the log.
	if strings.Contains(strings.ToLower(p.Detail), "oidc") {
		t.Errorf("detail leaks internal error text: %q", p.Detail)
	}
}

func TestWhoami(t *testing.T) {
	op := newTestOP(t)
	h, logs := newAPI(t, t.Context(), op, op.srv.Client())
	tok := op.token(t, op.claims())

	for want := int64(1); want <= 2; want++ {
		rec := get(h, "/whoami", "Bearer "+tok)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if strings.Contains(rec.Body.String(), tok) || strings.Contains(rec.Body.String(), strings.Split(tok, ".")[2]) {
			t.Fatal("response body contains the access token")
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		wantBody := map[string]any{
			"sub":       "alice",
			"expiresAt": "2031-05-06T07:08:59Z",
			"expiresIn": float64(50),
			"issuedAt":  "2031-05-06T07:07:59Z",
			"scope":     "openid profile email",
			"calls":     float64(want),
		}
		if len(got) != len(wantBody) {
			t.Errorf("body has fields %v, want exactly %v", got, wantBody)
		}
		for k, v := range wantBody {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("log contains the access token")
	}
}

func TestWhoamiScopeArray(t *testing.T) {
	op := newTestOP(t)
	h, _ := newAPI(t, t.Context(), op, op.srv.Client())
	c := op.claims()
	c["scope"] = []string{"openid", "email"}
	rec := get(h, "/whoami", "Bearer "+op.token(t, c))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	var got whoamiResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Scope != "openid email" {
		t.Errorf("scope = %q, want %q", got.Scope, "openid email")
	}
}

func TestRejected(t *testing.T) {
	op := newTestOP(t)
	h, logs := newAPI(t, t.Context(), op, op.srv.Client())
	spoil := func(k string, v any) string {
		c := op.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return op.token(t, c)
	}

	tests := []struct {
		name          string
		authorization string
		challenge     string
	}{
		{"missing header", "", "Bearer"},
		{"other scheme", "Basic YWxpY2U6c2VjcmV0", "Bearer"},
		{"empty bearer", "Bearer ", "Bearer"},
		{"garbage", "Bearer not.a.jwt", `Bearer error="invalid_token"`},
		{"expired", "Bearer " + spoil("exp", clock.Add(-time.Second).Unix()), `Bearer error="invalid_token"`},
		{"no expiry", "Bearer " + spoil("exp", nil), `Bearer error="invalid_token"`},
		{"wrong audience", "Bearer " + spoil("aud", []string{"someone-else"}), `Bearer error="invalid_token"`},
		{"wrong issuer", "Bearer " + spoil("iss", "https://evil.example"), `Bearer error="invalid_token"`},
		{"wrong signature", "Bearer " + sign(t, jose.RS256, newKey(t), op.claims()), `Bearer error="invalid_token"`},
		{"symmetric alg", "Bearer " + sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), op.claims()), `Bearer error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/whoami", "/events"} {
				rec := get(h, path, tt.authorization)
				checkProblem(t, rec, http.StatusUnauthorized)
				if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("%s: WWW-Authenticate = %q, want %q", path, got, tt.challenge)
				}
				if tok, _ := bearer(tt.authorization); tok != "" && strings.Contains(rec.Body.String(), tok) {
					t.Errorf("%s: body echoes the token", path)
				}
			}
			if tok, _ := bearer(tt.authorization); tok != "" && strings.Contains(logs.String(), tok) {
				t.Error("log contains the token")
			}
		})
	}

	// Rejections must not have counted as calls.
	rec := get(h, "/whoami", "Bearer "+op.token(t, op.claims()))
	var got whoamiResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Calls != 1 {
		t.Errorf("calls = %d after rejections, want 1", got.Calls)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	op := newTestOP(t)
	h, _ := newAPI(t, t.Context(), op, op.srv.Client())
	tok := op.token(t, op.claims())

	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/api/whoami", http.StatusNotFound},
		{http.MethodGet, "/whoami/extra", http.StatusNotFound},
		{http.MethodPost, "/whoami", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/events", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			checkProblem(t, rec, tt.status)
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodGet {
				t.Errorf("Allow = %q, want GET", rec.Header().Get("Allow"))
			}
		})
	}
	// None of these needed the OP.
	if n := op.discoveries.Load(); n != 0 {
		t.Errorf("%d discoveries for requests that need no token check", n)
	}
}

func TestEvents(t *testing.T) {
	op := newTestOP(t)
	h, _ := newAPI(t, t.Context(), op, op.srv.Client())
	// A real server, so flushing is observable as events arriving over time.
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+op.token(t, op.claims()))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}

	var got []event
	var arrived []time.Time
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue // event separator
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected line %q", line)
		}
		var e event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		got = append(got, e)
		arrived = append(arrived, time.Now())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != eventCount {
		t.Fatalf("got %d events, want %d", len(got), eventCount)
	}
	for i, e := range got {
		if e.N != i+1 || e.Sub != "alice" {
			t.Errorf("event %d = %+v, want n=%d sub=alice", i, e, i+1)
		}
	}
	// Unflushed, all five would arrive together at the end; flushed, they
	// span four intervals. Half of that leaves room for a slow machine.
	if span := arrived[len(arrived)-1].Sub(arrived[0]); span < 2*eventInterval {
		t.Errorf("events arrived within %v; they were not streamed", span)
	}
}

func TestEventsStopsWhenClientLeaves(t *testing.T) {
	op := newTestOP(t)
	h, _ := newAPI(t, t.Context(), op, op.srv.Client())
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/events", nil)
	req.Header.Set("Authorization", "Bearer "+op.token(t, op.claims()))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(rec, req)
		close(done)
	}()
	time.Sleep(eventInterval / 2) // let the first event out
	cancel()
	select {
	case <-done:
	case <-time.After(eventInterval * eventCount):
		t.Fatal("handler kept streaming after the client left")
	}
	if n := strings.Count(rec.Body.String(), "data: "); n >= eventCount {
		t.Errorf("sent %d events to a client that left", n)
	}
}

// countingTransport proves the API uses the client it was given.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestOPStartsLate(t *testing.T) {
	op := newTestOP(t)
	op.down.Store(true)
	tr := &countingTransport{next: op.srv.Client().Transport}
	h, _ := newAPI(t, t.Context(), op, &http.Client{Transport: tr})
	tok := "Bearer " + op.token(t, op.claims())

	rec := get(h, "/whoami", tok)
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if rec.Header().Get("WWW-Authenticate") != "" {
		t.Error("an unreachable OP is not the token's fault, yet a challenge was sent")
	}

	op.down.Store(false)
	if rec := get(h, "/whoami", tok); rec.Code != http.StatusOK {
		t.Fatalf("after the OP came up: status = %d, body %s", rec.Code, rec.Body)
	}
	// Once discovered, the OP is not asked again.
	if rec := get(h, "/whoami", tok); rec.Code != http.StatusOK {
		t.Fatalf("third call: status = %d", rec.Code)
	}
	if n := op.discoveries.Load(); n != 2 {
		t.Errorf("discoveries = %d, want 2 (one failed, one good)", n)
	}
	// Discovery twice and the JWKS once, all through the given client.
	if n := tr.n.Load(); n != 3 {
		t.Errorf("injected client made %d requests, want 3", n)
	}
}

func TestDiscoveryOncePerBurst(t *testing.T) {
	op := newTestOP(t)
	h, _ := newAPI(t, t.Context(), op, op.srv.Client())
	tok := "Bearer " + op.token(t, op.claims())

	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { codes[i] = get(h, "/whoami", tok).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	if d := op.discoveries.Load(); d != 1 {
		t.Errorf("discoveries = %d, want 1", d)
	}
	var got whoamiResponse
	if err := json.Unmarshal(get(h, "/whoami", tok).Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Calls != n+1 {
		t.Errorf("calls = %d, want %d", got.Calls, n+1)
	}
}

func TestStoppedAPIDoesNotDiscover(t *testing.T) {
	op := newTestOP(t)
	ctx, cancel := context.WithCancel(t.Context())
	h, _ := newAPI(t, ctx, op, op.srv.Client())
	cancel()
	checkProblem(t, get(h, "/whoami", "Bearer "+op.token(t, op.claims())), http.StatusServiceUnavailable)
	if n := op.discoveries.Load(); n != 0 {
		t.Errorf("discoveries = %d after the API's context ended, want 0", n)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"complete", Config{Issuer: "http://127.0.0.1:1", Audience: "bff"}, false},
		{"no issuer", Config{Audience: "bff"}, true},
		{"no audience", Config{Issuer: "http://127.0.0.1:1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(t.Context(), tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && h == nil {
				t.Fatal("nil handler without error")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	a, err := build(t.Context(), Config{Issuer: "http://127.0.0.1:1", Audience: "bff"})
	if err != nil {
		t.Fatal(err)
	}
	if a.client == nil || a.client == http.DefaultClient || a.client.Timeout <= 0 {
		t.Errorf("client = %+v, want a private client with a timeout", a.client)
	}
	if a.log == nil || a.now == nil {
		t.Error("logger or clock left nil")
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		tok, ok := bearer(tt.header)
		if tok != tt.token || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tt.header, tok, ok, tt.token, tt.ok)
		}
	}
}

func TestScopeString(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{`"openid email"`, "openid email"},
		{`["openid","email"]`, "openid email"},
		{``, ""},
		{`42`, ""},
		{`null`, ""},
	}
	for _, tt := range tests {
		if got := scopeString(json.RawMessage(tt.raw)); got != tt.want {
			t.Errorf("scopeString(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
