// Package deploy holds bff's deployment material (Kubernetes manifests, a
// Docker Compose example with Keycloak, the Cloudflare Worker's files) and
// the tests that keep it honest: every file parses, the manifests have the
// properties the docs promise, the variables they set are ones bff reads,
// the Compose realm agrees with the Compose environment, the Worker's
// configuration agrees with itself, and the Dockerfile builds what it
// claims to.
//
// The tests never reach beyond 127.0.0.1.
package deploy

import (
	"bff/internal/bfftest"
	"bff/internal/config"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"sigs.k8s.io/yaml"
)

const (
	repoRoot      = ".."
	dockerfile    = "../Dockerfile"
	dockerignore  = "../.dockerignore"
	k8sDir        = "kubernetes"
	composeFile   = "compose/docker-compose.yaml"
	realmFile     = "compose/keycloak/realm-bff.json"
	wantReplicas  = 3
	finalBaseName = "gcr.io/distroless/static-debian12:nonroot"
)

// ---------------------------------------------------------------------------
// Parsing every YAML and JSON file

// yamlDocs splits a multi-document YAML file on lines that are exactly
// "---" and drops documents that hold only comments or whitespace.
func yamlDocs(data []byte) []string {
	text := "\n" + strings.ReplaceAll(string(data), "\r\n", "\n")
	var docs []string
	for _, part := range strings.Split(text, "\n---") {
		// "---" may be followed by a comment or spaces on its line.
		if i := strings.IndexByte(part, '\n'); i >= 0 && strings.TrimSpace(strings.SplitN(part[:i], "#", 2)[0]) == "" {
			part = part[i+1:]
		}
		if hasContent(part) {
			docs = append(docs, part)
		}
	}
	return docs
}

func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

// deployFiles returns the files under deploy/ with one of the extensions.
func deployFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, strings.ToLower(filepath.Ext(p))) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestEveryFileParses(t *testing.T) {
	yamls := deployFiles(t, ".yaml", ".yml")
	jsons := deployFiles(t, ".json")
	if len(yamls) < 2 || len(jsons) < 1 {
		t.Fatalf("found %d YAML and %d JSON files under deploy/; expected the Kubernetes and Compose files", len(yamls), len(jsons))
	}
	for _, p := range yamls {
		data := mustRead(t, p)
		docs := yamlDocs(data)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", p)
		}
		for i, doc := range docs {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				t.Errorf("%s: document %d: %v", p, i+1, err)
			} else if len(v) == 0 {
				t.Errorf("%s: document %d is not a mapping", p, i+1)
			}
		}
	}
	tomls := deployFiles(t, ".toml")
	if len(tomls) < 1 {
		t.Error("found no TOML file under deploy/; expected the Cloudflare Worker's wrangler.toml")
	}
	for _, p := range tomls {
		var v map[string]any
		if _, err := toml.Decode(string(mustRead(t, p)), &v); err != nil {
			t.Errorf("%s: %v", p, err)
		} else if len(v) == 0 {
			t.Errorf("%s: no keys", p)
		}
	}
	for _, p := range jsons {
		var v any
		dec := json.NewDecoder(bytes.NewReader(mustRead(t, p)))
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s: %v", p, err)
		} else if dec.More() {
			t.Errorf("%s: trailing data after the JSON value", p)
		}
	}
}

func TestYAMLDocsSplitting(t *testing.T) {
	in := "# header only\n---\na: 1\n--- # second\nb: 2\n---\n# only a comment\n"
	got := yamlDocs([]byte(in))
	if len(got) != 2 || !strings.Contains(got[0], "a: 1") || !strings.Contains(got[1], "b: 2") {
		t.Fatalf("yamlDocs(%q) = %q", in, got)
	}
}

// ---------------------------------------------------------------------------
// Kubernetes

type k8sObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

type envVar struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secretKeyRef"`
	} `json:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
}

type securityContext struct {
	RunAsNonRoot             *bool `json:"runAsNonRoot"`
	RunAsUser                *int  `json:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
		Add  []string `json:"add"`
	} `json:"capabilities"`
	SeccompProfile *struct {
		Type string `json:"type"`
	} `json:"seccompProfile"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env          []envVar `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `json:"seconds"`
			} `json:"sleep"`
		} `json:"preStop"`
	} `json:"lifecycle"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	SecurityContext *securityContext `json:"securityContext"`
}

type deployment struct {
	k8sObject
	Spec struct {
		Replicas *int `json:"replicas"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds *int             `json:"terminationGracePeriodSeconds"`
				SecurityContext               *securityContext `json:"securityContext"`
				Containers                    []container      `json:"containers"`
				Volumes                       []struct {
					Name   string `json:"name"`
					Secret *struct {
						SecretName string `json:"secretName"`
						Items      []struct {
							Key  string `json:"key"`
							Path string `json:"path"`
						} `json:"items"`
					} `json:"secret"`
				} `json:"volumes"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type secret struct {
	k8sObject
	StringData map[string]string `json:"stringData"`
	Data       map[string]string `json:"data"`
}

type service struct {
	k8sObject
	Spec struct {
		SessionAffinity string `json:"sessionAffinity"`
		Ports           []struct {
			Name       string `json:"name"`
			Port       int    `json:"port"`
			TargetPort any    `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
}

// k8sManifests holds every object under deploy/kubernetes, by kind.
type k8sManifests struct {
	deployments []deployment
	secrets     map[string]secret
	services    []service
	kinds       []string
}

func loadK8s(t *testing.T) k8sManifests {
	t.Helper()
	m := k8sManifests{secrets: map[string]secret{}}
	files := deployFiles(t, ".yaml", ".yml")
	for _, p := range files {
		if !strings.HasPrefix(filepath.ToSlash(p), k8sDir+"/") {
			continue
		}
		for i, doc := range yamlDocs(mustRead(t, p)) {
			var obj k8sObject
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: document %d: %v", p, i+1, err)
			}
			m.kinds = append(m.kinds, obj.Kind)
			switch obj.Kind {
			case "Deployment":
				var d deployment
				mustUnmarshal(t, p, doc, &d)
				m.deployments = append(m.deployments, d)
			case "Secret":
				var s secret
				mustUnmarshal(t, p, doc, &s)
				m.secrets[s.Metadata.Name] = s
			case "Service":
				var s service
				mustUnmarshal(t, p, doc, &s)
				m.services = append(m.services, s)
			}
		}
	}
	if len(m.deployments) != 1 {
		t.Fatalf("deploy/kubernetes has %d Deployments (kinds: %v); want exactly one", len(m.deployments), m.kinds)
	}
	return m
}

func (m k8sManifests) bffContainer(t *testing.T) container {
	t.Helper()
	cs := m.deployments[0].Spec.Template.Spec.Containers
	for _, c := range cs {
		if c.Name == "bff" {
			return c
		}
	}
	t.Fatalf("the Deployment has no container named bff")
	return container{}
}

func TestKubernetesDeployment(t *testing.T) {
	m := loadK8s(t)
	d := m.deployments[0]
	if d.Spec.Replicas == nil {
		t.Errorf("replicas is not set, want %d", wantReplicas)
	} else if *d.Spec.Replicas != wantReplicas {
		t.Errorf("replicas = %d, want %d", *d.Spec.Replicas, wantReplicas)
	}
	c := m.bffContainer(t)

	if !strings.Contains(c.Image, "OWNER") || !strings.Contains(c.Image, "VERSION") {
		t.Errorf("image %q: want the placeholder ghcr.io/OWNER/bff:VERSION, marked for replacement", c.Image)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8080 {
		t.Errorf("container port http = %d, want 8080 (bff's default listener)", ports["http"])
	}

	for name, pr := range map[string]struct {
		p    *probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s probe: missing or not httpGet", name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path {
			t.Errorf("%s probe path = %q, want %q", name, pr.p.HTTPGet.Path, pr.path)
		}
		if port := fmt.Sprint(pr.p.HTTPGet.Port); port != "http" && port != "8080" {
			t.Errorf("%s probe port = %v, want the public listener (http / 8080)", name, pr.p.HTTPGet.Port)
		}
	}

	for _, res := range []string{"cpu", "memory"} {
		if c.Resources.Requests[res] == "" {
			t.Errorf("resources.requests.%s is not set", res)
		}
		if c.Resources.Limits[res] == "" {
			t.Errorf("resources.limits.%s is not set", res)
		}
	}

	sc := c.SecurityContext
	pod := d.Spec.Template.Spec.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the bff container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	}
	if !(sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) && !(pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true on the container or the pod")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Error("capabilities must drop ALL and add none")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod != nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != "RuntimeDefault" {
		t.Error("seccompProfile is not RuntimeDefault")
	}
	// distroless's nonroot user; a different uid would still run, but the
	// docs say 65532.
	if pod != nil && pod.RunAsUser != nil && *pod.RunAsUser == 0 {
		t.Error("the pod runs as uid 0")
	}
}

func TestKubernetesSecretsAndEnv(t *testing.T) {
	m := loadK8s(t)
	c := m.bffContainer(t)
	d := m.deployments[0]
	env := map[string]envVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	for _, name := range []string{"BFF_ISSUER", "BFF_CLIENT_ID", "BFF_PUBLIC_URL", "BFF_ROUTES", "BFF_METRICS_LISTEN"} {
		if _, ok := env[name]; !ok {
			t.Errorf("env %s is not set", name)
		}
	}
	// Every secret is a file from a Secret volume, so none appears in the
	// pod's environment (kubectl describe, /proc/1/environ).
	for _, name := range []string{"BFF_CLIENT_SECRET", "BFF_COOKIE_KEYS"} {
		if _, inline := env[name]; inline {
			t.Errorf("%s is in the environment; mount it from the Secret and set %s_FILE", name, name)
		}
		file, ok := env[name+"_FILE"]
		if !ok {
			t.Errorf("%s_FILE is not set", name)
			continue
		}
		if _, ok := m.secretFile(t, d, c, file.Value); !ok {
			t.Errorf("%s_FILE=%s is not a file of any mounted Secret volume", name, file.Value)
		}
	}

	// The Service reaches the container's named ports and has no affinity.
	if len(m.services) != 1 {
		t.Fatalf("want one Service, found %d", len(m.services))
	}
	svc := m.services[0]
	if svc.Spec.SessionAffinity != "" && svc.Spec.SessionAffinity != "None" {
		t.Errorf("Service sessionAffinity = %q; bff needs none", svc.Spec.SessionAffinity)
	}
	containerPorts := map[string]int{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	gotPorts := map[int]int{}
	for _, p := range svc.Spec.Ports {
		target := fmt.Sprint(p.TargetPort)
		if n, ok := containerPorts[target]; ok {
			gotPorts[p.Port] = n
		} else if n, err := strconv.Atoi(target); err == nil {
			gotPorts[p.Port] = n
		} else {
			t.Errorf("Service port %d targets %q, which the container does not name", p.Port, target)
		}
	}
	if gotPorts[80] != 8080 {
		t.Errorf("Service port 80 reaches container port %d, want 8080", gotPorts[80])
	}
	metricsPort := portOf(t, env["BFF_METRICS_LISTEN"].Value)
	if gotPorts[metricsPort] != metricsPort {
		t.Errorf("BFF_METRICS_LISTEN listens on %d, but the Service maps it to %d", metricsPort, gotPorts[metricsPort])
	}
	if containerPorts["metrics"] != metricsPort {
		t.Errorf("container port metrics = %d, BFF_METRICS_LISTEN port = %d", containerPorts["metrics"], metricsPort)
	}

	// The static parts of the public settings, as bff itself checks them.
	if u, err := url.Parse(env["BFF_PUBLIC_URL"].Value); err != nil || u.Scheme != "https" || u.Path != "" {
		t.Errorf("BFF_PUBLIC_URL %q must be an https origin outside loopback", env["BFF_PUBLIC_URL"].Value)
	}
	if u, err := url.Parse(env["BFF_ISSUER"].Value); err != nil || u.Scheme != "https" {
		t.Errorf("BFF_ISSUER %q must be https outside loopback", env["BFF_ISSUER"].Value)
	}
}

// secretFile finds the Secret key behind path, a file the bff container
// reads: it must lie in a read-only mount of a Secret volume whose items
// include it, and the Secret must have that key. It returns the key's
// value.
func (m k8sManifests) secretFile(t *testing.T, d deployment, c container, path string) (string, bool) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if !vm.ReadOnly {
			t.Errorf("volume mount %s holding %s is not readOnly", vm.MountPath, path)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			sec, ok := m.secrets[v.Secret.SecretName]
			if !ok {
				t.Errorf("volume %s mounts Secret %q, which the manifests do not define", v.Name, v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				if it.Path == filepath.ToSlash(rel) {
					val, ok := sec.StringData[it.Key]
					if !ok {
						t.Errorf("Secret %q has no key %q for %s", sec.Metadata.Name, it.Key, path)
					}
					return val, true
				}
			}
		}
	}
	return "", false
}

// TestKubernetesPreStop: the pod keeps serving for a moment after its
// endpoint is removed, and the grace period covers that wait and bff's
// 15 s drain.
func TestKubernetesPreStop(t *testing.T) {
	m := loadK8s(t)
	c := m.bffContainer(t)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep action (the image has no shell for an exec sleep)")
	}
	wait := c.Lifecycle.PreStop.Sleep.Seconds
	if wait < 3 || wait > 10 {
		t.Errorf("preStop sleeps %d s; docs/operations.md recommends a few seconds", wait)
	}
	grace := m.deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace < wait+15+5 {
		t.Errorf("terminationGracePeriodSeconds %v: want at least the preStop wait (%d s) + 15 s drain + 5 s", grace, wait)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	n, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%q is not host:port or :port", addr)
	}
	return n
}

// ---------------------------------------------------------------------------
// Every BFF_* name in the deployment material is one bff reads

// configVariables returns the BFF_* names bff reads: config.Variables,
// with the _FILE form of each secret.
func configVariables(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	for _, v := range config.Variables() {
		vars[v.Name] = true
		if v.Secret {
			vars[v.Name+"_FILE"] = true
		}
	}
	return vars
}

var bffVarRE = regexp.MustCompile(`\bBFF_[A-Z0-9_]*[A-Z0-9]\b`)

func TestVariablesExist(t *testing.T) {
	known := configVariables(t)
	// The parse itself must find the variables the contract names, or an
	// empty set would make the check below vacuous.
	for _, must := range []string{
		"BFF_ISSUER", "BFF_CLIENT_ID", "BFF_CLIENT_SECRET", "BFF_CLIENT_SECRET_FILE", "BFF_PUBLIC_URL",
		"BFF_COOKIE_KEYS", "BFF_ROUTES", "BFF_LISTEN", "BFF_SCOPES", "BFF_STATIC_DIR", "BFF_POST_LOGOUT_URL",
		"BFF_SESSION_MAX_AGE", "BFF_SESSION_IDLE", "BFF_EXPOSE_TOKEN", "BFF_METRICS_LISTEN", "BFF_LOG_LEVEL",
	} {
		if !known[must] {
			t.Errorf("config.Variables lacks %s (found %v)", must, sortedKeys(known))
		}
	}

	files := deployFiles(t, ".yaml", ".yml", ".json", ".md", ".html", ".js", ".mjs", ".toml", ".sh")
	files = append(files, dockerfile, dockerignore)
	if docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md")); err == nil {
		files = append(files, docs...)
	}
	used := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, name := range bffVarRE.FindAllString(line, -1) {
				used++
				if !known[name] {
					t.Errorf("%s:%d names %s, which bff does not read", p, i+1, name)
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("no BFF_* variable found in the deployment material")
	}
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---------------------------------------------------------------------------
// Compose and the Keycloak realm agree

type composeFileT struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		NetworkMode string            `json:"network_mode"`
		Volumes     []string          `json:"volumes"`
		DependsOn   []string          `json:"depends_on"`
		Build       *struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
		} `json:"build"`
	} `json:"services"`
}

type realmT struct {
	Realm                string `json:"realm"`
	Enabled              bool   `json:"enabled"`
	AccessTokenLifespan  int    `json:"accessTokenLifespan"`
	RevokeRefreshToken   bool   `json:"revokeRefreshToken"`
	RefreshTokenMaxReuse int    `json:"refreshTokenMaxReuse"`
	Clients              []struct {
		ClientID                  string            `json:"clientId"`
		Enabled                   bool              `json:"enabled"`
		PublicClient              bool              `json:"publicClient"`
		Secret                    string            `json:"secret"`
		StandardFlowEnabled       bool              `json:"standardFlowEnabled"`
		ImplicitFlowEnabled       bool              `json:"implicitFlowEnabled"`
		DirectAccessGrantsEnabled bool              `json:"directAccessGrantsEnabled"`
		ServiceAccountsEnabled    bool              `json:"serviceAccountsEnabled"`
		RedirectURIs              []string          `json:"redirectUris"`
		Attributes                map[string]string `json:"attributes"`
	} `json:"clients"`
	Users []struct {
		Username    string `json:"username"`
		Email       string `json:"email"`
		Enabled     bool   `json:"enabled"`
		Credentials []struct {
			Type      string `json:"type"`
			Value     string `json:"value"`
			Temporary bool   `json:"temporary"`
		} `json:"credentials"`
	} `json:"users"`
}

func loadCompose(t *testing.T) composeFileT {
	t.Helper()
	var c composeFileT
	mustUnmarshal(t, composeFile, string(mustRead(t, composeFile)), &c)
	for _, s := range []string{"bff", "keycloak", "whoami"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("%s has no service %q", composeFile, s)
		}
	}
	return c
}

func TestComposeAndRealmAgree(t *testing.T) {
	c := loadCompose(t)
	var r realmT
	if err := json.Unmarshal(mustRead(t, realmFile), &r); err != nil {
		t.Fatal(err)
	}
	bff := c.Services["bff"]
	env := bff.Environment
	public := strings.TrimSuffix(env["BFF_PUBLIC_URL"], "/")

	if bff.Build == nil || filepath.ToSlash(filepath.Join("compose", bff.Build.Context, bff.Build.Dockerfile)) != "../Dockerfile" {
		t.Errorf("bff is not built from the repository's Dockerfile (build: %+v)", bff.Build)
	}
	if bff.NetworkMode != "host" {
		t.Errorf("bff network_mode = %q; the issuer is only the same for bff and the browser on the host network", bff.NetworkMode)
	}

	// The issuer is Keycloak's pinned hostname plus the realm, and
	// Keycloak publishes that port on loopback.
	kc := c.Services["keycloak"]
	wantIssuer := strings.TrimSuffix(kc.Environment["KC_HOSTNAME"], "/") + "/realms/" + r.Realm
	if env["BFF_ISSUER"] != wantIssuer {
		t.Errorf("BFF_ISSUER = %q, Keycloak's issuer = %q", env["BFF_ISSUER"], wantIssuer)
	}
	if !slices.Contains(kc.Command, "--import-realm") {
		t.Errorf("keycloak command %v does not import the realm", kc.Command)
	}
	if !slices.ContainsFunc(kc.Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./keycloak/realm-bff.json:/opt/keycloak/data/import/")
	}) {
		t.Errorf("keycloak does not mount %s into /opt/keycloak/data/import/", realmFile)
	}
	issuer := mustURL(t, env["BFF_ISSUER"])
	if !publishes(kc.Ports, issuer.Port()) {
		t.Errorf("keycloak ports %v do not publish the issuer's port %s on loopback", kc.Ports, issuer.Port())
	}

	// The upstream behind /api/ is whoami's published port.
	routes := env["BFF_ROUTES"]
	prefix, upstream, ok := strings.Cut(routes, "=")
	if !ok || prefix != "/api/" {
		t.Fatalf("BFF_ROUTES = %q, want /api/=<whoami>", routes)
	}
	if up := mustURL(t, upstream); !publishes(c.Services["whoami"].Ports, up.Port()) {
		t.Errorf("BFF_ROUTES upstream %s: whoami does not publish port %s", upstream, up.Port())
	}

	// Redis, when the example uses it, is the published redis service, and
	// runs without evicting: an evicted key is a revocation lost.
	if u := env["BFF_REDIS_URL"]; u != "" {
		rd, ok := c.Services["redis"]
		if !ok {
			t.Fatal("BFF_REDIS_URL is set but there is no redis service")
		}
		if !publishes(rd.Ports, mustURL(t, u).Port()) {
			t.Errorf("BFF_REDIS_URL %s: redis does not publish that port on loopback", u)
		}
		if i := slices.Index(rd.Command, "--maxmemory-policy"); i < 0 || i+1 >= len(rd.Command) || rd.Command[i+1] != "noeviction" {
			t.Errorf("redis command %v: want --maxmemory-policy noeviction", rd.Command)
		}
		if !slices.Contains(bff.DependsOn, "redis") {
			t.Error("bff does not depend on redis")
		}
	}

	// The realm's client is the one bff is configured with.
	var found bool
	for _, cl := range r.Clients {
		if cl.ClientID != env["BFF_CLIENT_ID"] {
			continue
		}
		found = true
		if want := public + "/auth/callback"; !slices.Equal(cl.RedirectURIs, []string{want}) {
			t.Errorf("client %s redirectUris = %v, want exactly [%s]", cl.ClientID, cl.RedirectURIs, want)
		}
		if cl.Secret != env["BFF_CLIENT_SECRET"] || cl.Secret == "" {
			t.Errorf("client secret in the realm and BFF_CLIENT_SECRET differ")
		}
		if cl.PublicClient || !cl.Enabled || !cl.StandardFlowEnabled || cl.ImplicitFlowEnabled || cl.DirectAccessGrantsEnabled || cl.ServiceAccountsEnabled {
			t.Errorf("client %s must be an enabled confidential client with the standard flow only", cl.ClientID)
		}
		if got := cl.Attributes["pkce.code.challenge.method"]; got != "S256" {
			t.Errorf("pkce.code.challenge.method = %q, want S256", got)
		}
		postLogout := public + "/" // BFF_POST_LOGOUT_URL unset: "/" made absolute
		if p := env["BFF_POST_LOGOUT_URL"]; p != "" {
			postLogout = public + p
		}
		if !keycloakURIMatches(cl.Attributes["post.logout.redirect.uris"], postLogout) {
			t.Errorf("post.logout.redirect.uris %q does not allow %s", cl.Attributes["post.logout.redirect.uris"], postLogout)
		}
	}
	if !found {
		t.Fatalf("the realm has no client %q (BFF_CLIENT_ID)", env["BFF_CLIENT_ID"])
	}

	if !r.Enabled || r.AccessTokenLifespan != 60 {
		t.Errorf("realm enabled=%v accessTokenLifespan=%d; want enabled and 60 s so refresh is visible", r.Enabled, r.AccessTokenLifespan)
	}
	// Under rotation, each replica may redeem one refresh token once; the
	// realm must allow that many uses for the Kubernetes replica count.
	if r.RevokeRefreshToken && r.RefreshTokenMaxReuse < wantReplicas-1 {
		t.Errorf("refreshTokenMaxReuse = %d: %d racing replicas need at least %d", r.RefreshTokenMaxReuse, wantReplicas, wantReplicas-1)
	}
	demo := false
	for _, u := range r.Users {
		if u.Username == "demo" && u.Enabled && u.Email != "" && len(u.Credentials) == 1 &&
			u.Credentials[0].Value == "demo" && !u.Credentials[0].Temporary {
			demo = true
		}
	}
	if !demo {
		t.Error("the realm has no enabled user demo/demo with an email and a permanent password")
	}

	// The static SPA is mounted where BFF_STATIC_DIR points.
	if dir := env["BFF_STATIC_DIR"]; dir != "" {
		if !slices.ContainsFunc(bff.Volumes, func(v string) bool {
			parts := strings.Split(v, ":")
			return len(parts) >= 2 && parts[1] == dir
		}) {
			t.Errorf("BFF_STATIC_DIR=%s is not a mounted volume", dir)
		}
		if _, err := os.Stat("compose/spa/index.html"); err != nil {
			t.Error(err)
		}
	}
}

// keycloakURIMatches reports whether one of Keycloak's "##"-separated
// redirect URI patterns allows uri; a trailing "*" is a prefix match.
func keycloakURIMatches(patterns, uri string) bool {
	for _, p := range strings.Split(patterns, "##") {
		if p == uri || (strings.HasSuffix(p, "*") && strings.HasPrefix(uri, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

// publishes reports whether a compose ports list publishes port on
// 127.0.0.1 ("127.0.0.1:8081:8080").
func publishes(ports []string, port string) bool {
	return slices.ContainsFunc(ports, func(p string) bool {
		return strings.HasPrefix(p, "127.0.0.1:"+port+":")
	})
}

// ---------------------------------------------------------------------------
// Dockerfile

type instruction struct {
	cmd  string // upper case
	args string
	line int
}

// dockerInstructions reads a Dockerfile: comments and blank lines dropped,
// backslash continuations joined.
func dockerInstructions(t *testing.T, data []byte) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteByte(' ')
		if cont {
			continue
		}
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start})
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued line")
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t, mustRead(t, dockerfile))
	var froms []instruction
	stageOf := make([]int, len(ins)) // index of the stage each instruction is in
	for i, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
		stageOf[i] = len(froms) - 1
		if in.cmd == "HEALTHCHECK" {
			t.Errorf("line %d: HEALTHCHECK; the image has no shell, orchestrators probe /healthz and /readyz", in.line)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d FROM instructions; want a multi-stage build", len(froms))
	}
	build, final := froms[0], froms[len(froms)-1]
	if !regexp.MustCompile(`^golang:\S*bookworm AS build$`).MatchString(build.args) {
		t.Errorf("first stage %q: want FROM golang:<version>-bookworm AS build", build.args)
	}
	if final.args != finalBaseName {
		t.Errorf("final stage FROM %q, want %s", final.args, finalBaseName)
	}

	find := func(stage int, cmd, contains string) (int, bool) {
		for i, in := range ins {
			if stageOf[i] == stage && in.cmd == cmd && strings.Contains(in.args, contains) {
				return i, true
			}
		}
		return -1, false
	}
	last := len(froms) - 1

	modCopy, ok1 := find(0, "COPY", "go.mod go.sum")
	download, ok2 := find(0, "RUN", "go mod download")
	srcCopy, ok3 := find(0, "COPY", ". .")
	if !ok1 || !ok2 || !ok3 || !(modCopy < download && download < srcCopy) {
		t.Error("the build stage must COPY go.mod go.sum, RUN go mod download, then COPY . . (module cache layer)")
	}
	if _, ok := find(0, "ARG", "VERSION"); !ok {
		t.Error("no ARG VERSION in the build stage")
	}
	b, ok := find(0, "RUN", "go build")
	if !ok {
		t.Fatal("no RUN go build in the build stage")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X bff/internal/version.stamp=${VERSION}", "-o /out/bff ."} {
		if !strings.Contains(ins[b].args, want) {
			t.Errorf("go build line lacks %q: %s", want, ins[b].args)
		}
	}

	want := map[string]string{
		"COPY":       "--from=build /out/bff /bff",
		"USER":       "nonroot:nonroot",
		"EXPOSE":     "8080",
		"ENTRYPOINT": `["/bff"]`,
	}
	for cmd, args := range want {
		i, ok := find(last, cmd, args)
		if !ok || ins[i].args != args {
			t.Errorf("final stage lacks %s %s", cmd, args)
		}
	}
	if _, ok := find(last, "RUN", ""); ok {
		t.Error("the final stage runs a command; distroless has no shell")
	}
}

// dockerignoreRE compiles one .dockerignore pattern roughly as Docker's
// pattern matcher does: "**" crosses directories, "*" and "?" do not, a
// pattern also excludes everything under a matching directory.
func dockerignoreRE(pattern string) *regexp.Regexp {
	p := path.Clean(strings.TrimPrefix(strings.TrimSpace(pattern), "/"))
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				re.WriteString("(.*/)?")
			} else {
				re.WriteString(".*")
			}
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("(/.*)?$")
	return regexp.MustCompile(re.String())
}

func dockerIgnored(patterns []string, file string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if dockerignoreRE(strings.TrimPrefix(p, "!")).MatchString(file) {
			ignored = !neg
		}
	}
	return ignored
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(string(mustRead(t, dockerignore)), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	// The matcher itself, on cases whose answer is known.
	for file, want := range map[string]bool{
		".git/HEAD": true, "docs/security.md": true, "oidc/login_test.go": true, "testdata/tokenset.json": true,
		"go.mod": false, "demo/spa/app.js": false, "oidc/login.go": false,
	} {
		if got := dockerIgnored(patterns, file); got != want {
			t.Errorf("dockerignore: %s ignored = %v, want %v", file, got, want)
		}
	}

	// Everything the build reads: go.mod, go.sum, and each package's Go and
	// embedded files, as the go command lists them.
	needed := []string{"go.mod", "go.sum"}
	cmd := exec.Command(bfftest.GoCmd(), "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "bff"}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`, ".")
	cmd.Dir = repoRoot
	cmd.Env = bfftest.Offline(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s(the test does not download modules: run go mod download first)", err, stderrOf(err))
	}
	root, _ := filepath.Abs(repoRoot)
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if !slices.ContainsFunc(needed, func(f string) bool { return strings.HasPrefix(f, "demo/spa/") && !strings.HasSuffix(f, ".go") }) {
		t.Errorf("go list found no embedded demo SPA files: %v", needed)
	}
	for _, f := range needed {
		if dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore excludes %s, which the build needs", f)
		}
	}
}

// TestDockerBuild builds the image when a Docker engine answers.
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("image build skipped in -short mode")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine (docker info: %v: %s); the image build is not checked", err, firstLine(out))
	}
	tag := fmt.Sprintf("bff-deploy-test:%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "docker", "build", "--build-arg", "VERSION=test", "-t", tag, ".")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", tag).Run() })

	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", tag).Output()
	if err != nil {
		t.Fatalf("docker image inspect: %v", err)
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	t.Logf("image %s: %.1f MB", tag, float64(size)/1e6)
	// distroless/static is about 2 MB on top of the binary.
	if size > maxBinaryBytes+8<<20 {
		t.Errorf("image is %d bytes, more than the binary's bound plus 8 MiB", size)
	}

	out, err = exec.Command("docker", "run", "--rm", "--network", "none", tag, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "bff test" {
		t.Errorf("docker run %s version = %q, %v; want \"bff test\"", tag, out, err)
	}
	out, err = exec.Command("docker", "image", "inspect", "--format", "{{.Config.User}} {{json .Config.Entrypoint}}", tag).Output()
	if err != nil || strings.TrimSpace(string(out)) != `nonroot:nonroot ["/bff"]` {
		t.Errorf("image user and entrypoint = %q, %v", out, err)
	}
}

// ---------------------------------------------------------------------------
// The binary, built the way the Dockerfile builds it

// maxBinaryBytes bounds the stripped static binary: 26.7 MiB today. About
// 9 MiB of it is the Redis client: rueidis generates a type for every Redis
// command, and because html/template (bff's error page, the demo OP) calls
// methods by name, the linker must keep every exported method of those
// types. About 3 MiB is the OTLP exporter's gRPC types. A jump past this
// means a dependency came in that should not have.
const maxBinaryBytes = 28 << 20

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("binary build skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("the static-ELF check needs linux, not %s", runtime.GOOS)
	}
	bin := bfftest.Build(t)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("static binary: %.1f MiB", float64(fi.Size())/(1<<20))
	if fi.Size() > maxBinaryBytes {
		t.Errorf("static binary is %d bytes, more than %d", fi.Size(), maxBinaryBytes)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP program header: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
	f.Close()

	if out, err := exec.Command(bin, "version").Output(); err != nil || string(out) != "bff test\n" {
		t.Errorf("bff version = %q, %v; want \"bff test\\n\"", out, err)
	}

	out, err := exec.Command(bin, "keygen").Output()
	key := strings.TrimSpace(string(out))
	if raw, derr := base64.RawURLEncoding.Strict().DecodeString(key); err != nil || derr != nil || len(raw) != 32 {
		t.Fatalf("bff keygen = %q, %v: want base64url of 32 bytes", out, err)
	}

	// The Compose environment passes bff's own validation and serves.
	t.Run("compose environment", func(t *testing.T) {
		env := loadCompose(t).Services["bff"].Environment
		env["BFF_COOKIE_KEYS"] = key                            // compose takes it from the shell
		env["BFF_STATIC_DIR"] = filepath.Join("compose", "spa") // mounted at /spa in the container
		for _, name := range []string{"BFF_LISTEN", "BFF_METRICS_LISTEN"} {
			portOf(t, env[name]) // must be host:port; replaced so the test needs no fixed port
		}
		env["BFF_LISTEN"], env["BFF_METRICS_LISTEN"] = "127.0.0.1:0", "localhost:0"
		addr, _ := bfftest.Start(t, bin, env)

		res := get(t, "http://"+addr+"/healthz")
		var health map[string]string
		if res.status != http.StatusOK || json.Unmarshal(res.body, &health) != nil || health["status"] != "ok" || health["version"] != "test" {
			t.Errorf("/healthz = %d %s; want 200 {\"status\":\"ok\",\"version\":\"test\"}", res.status, res.body)
		}
		// Keycloak is not running here, so not ready (unless one happens to
		// be on localhost:8081); either way the endpoint answers.
		if res := get(t, "http://"+addr+"/readyz"); res.status != http.StatusServiceUnavailable && res.status != http.StatusOK {
			t.Errorf("/readyz = %d %s", res.status, res.body)
		}
		if res := get(t, "http://"+addr+"/"); res.status != http.StatusOK || !bytes.Contains(res.body, []byte("/app.js")) {
			t.Errorf("/ = %d; want the compose SPA's index.html", res.status)
		}
	})

	// The Kubernetes environment passes validation once its placeholders
	// are filled in, and fails loudly while they are not.
	t.Run("kubernetes environment", func(t *testing.T) {
		m := loadK8s(t)
		c := m.bffContainer(t)
		// Each secret file gets what the Secret holds, placeholders and all.
		env := map[string]string{}
		files := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if val, ok := m.secretFile(t, m.deployments[0], c, e.Value); ok && strings.HasSuffix(e.Name, "_FILE") {
				files[e.Name] = filepath.Join(t.TempDir(), path.Base(e.Value))
				env[e.Name] = files[e.Name]
				if err := os.WriteFile(files[e.Name], []byte(val), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		placeholder := string(mustRead(t, files["BFF_COOKIE_KEYS_FILE"]))
		env["BFF_LISTEN"] = "127.0.0.1:0"
		env["BFF_METRICS_LISTEN"] = "localhost:0"
		// Only loopback is contacted: the manifest's issuer is a placeholder.
		env["BFF_ISSUER"] = "http://127.0.0.1:1/realms/example"

		// As shipped, the cookie key is a placeholder bff must refuse.
		code, _, stderr := bfftest.Run(t, bin, env)
		if code == 0 || !strings.Contains(stderr, "BFF_COOKIE_KEYS") {
			t.Errorf("with the placeholder cookie key: exit %d, stderr %q; want a refusal naming BFF_COOKIE_KEYS", code, stderr)
		}
		if strings.Contains(stderr, placeholder) {
			t.Error("the refusal repeats the cookie key")
		}

		if err := os.WriteFile(files["BFF_COOKIE_KEYS_FILE"], []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		bfftest.Start(t, bin, env)
	})
}

type response struct {
	status int
	body   []byte
}

func get(t *testing.T, u string) response {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, body}
}

// ---------------------------------------------------------------------------
// helpers

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t *testing.T, file, doc string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(doc), v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		t.Fatalf("%q is not an absolute URL", s)
	}
	return u
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
