package bfftest

import (
	"net/http"
	"net/url"
	"testing"

	"bff/internal/bfftest/kit"
)

// Deployment is the built binary as an operator runs it: a process of its
// own, configured by its environment, logging to a pipe, in front of a
// recording upstream at /api/ (mapped to its /v1) and against an
// in-process OP. Unlike a [Stack], it runs on real time.
type Deployment struct {
	*Process
	T        testing.TB
	Origin   string // bff's public URL, which is its own listener
	Public   *url.URL
	OP       *OP
	Upstream *Upstream
	Env      map[string]string
	Client   *http.Client // a browser tab
	Jar      http.CookieJar
}

// DeploymentOptions shape a Deployment.
type DeploymentOptions struct {
	OP       OPOptions
	Upstream http.Handler      // nil: the echo answer
	Env      map[string]string // added to bff's environment
	Process  ProcessOptions
}

// Deploy starts bin (from [Build]) as a Deployment and waits until it is
// ready. SIGTERM stops it when the test ends, and it must exit 0.
func Deploy(t testing.TB, bin string, o DeploymentOptions) *Deployment {
	t.Helper()
	addr := kit.ClosedPort(t)
	d := &Deployment{T: t, Origin: "http://" + addr, Public: &url.URL{Scheme: "http", Host: addr}}
	d.OP = StartOP(t, d.Public, o.OP)
	d.Upstream = NewUpstream(t, o.Upstream)
	d.Env = Env(d.OP, d.Public, NewKey(t))
	d.Env["BFF_ROUTES"] = "/api/=" + d.Upstream.URL + "/v1"
	for k, v := range o.Env {
		d.Env[k] = v
	}
	d.Process = ServeBinary(t, o.Process, bin, addr, d.Env)
	d.Client, d.Jar = NewClient(t)
	return d
}

// LogIn signs the deployment's browser in, and returns the callback URL
// the OP sent it to (with the code and state).
func (d *Deployment) LogIn() *url.URL {
	d.T.Helper()
	return LogIn(d.T, d.Client, d.OP, d.Origin)
}

// Get requests path with the deployment's browser.
func (d *Deployment) Get(path string, headers ...string) Response {
	d.T.Helper()
	return Get(d.T, d.Client, d.Origin, path, headers...)
}
