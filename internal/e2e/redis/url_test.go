package redis_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
)

// TestRedisUser: a Redis user with a password and only the commands bff
// needs, and a database number, all from the URL; a wrong password is a
// Redis that cannot be reached, and the password is never logged.
func TestRedisUser(t *testing.T) {
	redis := bfftest.StartRedis(t)
	const password = "pw-" + "Zq7vX2"
	if _, err := redis.Do("ACL", "SETUSER", "bff", "on", ">"+password, "resetkeys", "~bff:*",
		"-@all", "+hello", "+select", "+ping", "+client|tracking", "+client|setname",
		"+client|caching", "+multi", "+exec", "+pttl",
		"+get", "+set", "+del", "+evalsha", "+eval"); err != nil {
		t.Fatal(err)
	}
	db := redis.Database(7)
	base := fmt.Sprintf("redis://bff:%s@127.0.0.1:%d/7", password, redis.Port())

	s := withRedis(t, db, bfftest.StackOptions{Replicas: 2, Env: map[string]string{"BFF_REDIS_URL": base}})
	s.Login()
	copied := s.SessionCookies()
	if r := logout(t, s); r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	for i := range s.Replicas {
		untilRefused(t, s, i, copied, time.Second)
	}
	if len(db.Keys()) == 0 {
		t.Error("nothing was written to database 7")
	}

	wrong := withRedis(t, db, bfftest.StackOptions{Unready: true, Env: map[string]string{
		"BFF_REDIS_URL": strings.Replace(base, password, "wrong-"+password, 1),
	}})
	waitRedisUnready(t, wrong)
	wrong.Login()
	wantStoreUnavailable(t, "a session with a wrong Redis password", wrong.API("/api/x"))
	for _, logs := range []string{s.Logs.String(), wrong.Logs.String()} {
		if strings.Contains(logs, password) {
			t.Error("a log line holds the Redis password")
		}
	}
}

// TestRedisTLS: rediss:// to a Redis that speaks only TLS on that port,
// trusted through the system's certificate pool (SSL_CERT_FILE, as in a
// container image). bff runs as its own process so that it reads the pool
// from that file.
func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	_, tlsPort, _ := net.SplitHostPort(kit.ClosedPort(t))
	redis := bfftest.StartRedis(t, "--tls-port", tlsPort,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile, "--tls-auth-clients", "no")

	bin := bfftest.Build(t)
	addr := kit.ClosedPort(t)
	public := &url.URL{Scheme: "http", Host: addr}
	op := bfftest.StartOP(t, public, bfftest.OPOptions{})
	up := bfftest.NewUpstream(t, nil)
	env := bfftest.Env(op, public, bfftest.NewKey(t))
	env["BFF_LISTEN"] = addr
	env["BFF_ROUTES"] = "/api/=" + up.URL
	env["BFF_REDIS_URL"] = "rediss://127.0.0.1:" + tlsPort + "/0"
	env["SSL_CERT_FILE"] = certFile
	bfftest.Start(t, bin, env)
	if err := bfftest.WaitReady(addr, 10*time.Second); err != nil {
		t.Fatalf("bff with Redis over TLS: %v", err)
	}

	client, jar := bfftest.NewClient(t)
	base := public.String()
	start := bfftest.Get(t, client, base, "/auth/login")
	cb := op.Login(t, client, start.Header.Get("Location"))
	if r := bfftest.Get(t, client, base, cb.RequestURI()); r.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", r.StatusCode)
	}
	copied := jar.Cookies(public)
	logoutURL := bfftest.LogoutURL(t, bfftest.Get(t, client, base, "/auth/session", "X-CSRF", "1"))
	if r := bfftest.Get(t, client, base, logoutURL); r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	other, otherJar := bfftest.NewClient(t)
	otherJar.SetCookies(public, copied)
	if r := bfftest.Get(t, other, base, "/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a copy of the cookie after logout, Redis over TLS: %d, want 401", r.StatusCode)
	}
	if len(redis.Keys()) == 0 {
		t.Error("nothing reached Redis over TLS")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}
