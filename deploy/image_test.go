package deploy

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"bff/internal/bfftest"
)

// imageGoal is what the whole image should stay within, uncompressed.
const imageGoal = 20_000_000

// distrolessFiles is what gcr.io/distroless/static-debian12 holds, taken
// from the Debian 12 packages it is built from (ca-certificates, tzdata,
// netbase, base-files) as this machine has them installed: a stand-in for
// the base image where no Docker engine can pull it.
var distrolessFiles = map[string]string{
	"etc/ssl/certs/ca-certificates.crt":       "/etc/ssl/certs/ca-certificates.crt",
	"usr/share/zoneinfo":                      "/usr/share/zoneinfo",
	"etc/services":                            "/etc/services",
	"etc/protocols":                           "/etc/protocols",
	"usr/lib/os-release":                      "/usr/lib/os-release",
	"usr/share/doc/ca-certificates/copyright": "/usr/share/doc/ca-certificates/copyright",
	"usr/share/doc/tzdata/copyright":          "/usr/share/doc/tzdata/copyright",
	"usr/share/doc/netbase/copyright":         "/usr/share/doc/netbase/copyright",
	"usr/share/doc/base-files/copyright":      "/usr/share/doc/base-files/copyright",
}

// distrolessWritten are the files distroless writes itself.
var distrolessWritten = map[string]string{
	"etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
	"etc/group":         "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
	"etc/nsswitch.conf": "hosts: files dns\n",
}

// TestImageRootFS builds the image's root filesystem as the Dockerfile
// does — the static binary at /bff on distroless/static — in a directory,
// and packs it as one layer: its size uncompressed is what an engine
// reports for the image, gzipped what a registry stores and a platform
// pulls at a cold start. It reports the size against the 20 MB goal, and
// bounds it as TestDockerBuild bounds a built image.
func TestImageRootFS(t *testing.T) {
	var missing []string
	for _, src := range distrolessFiles {
		if _, err := os.Stat(src); err != nil {
			missing = append(missing, src)
		}
	}
	if len(missing) > 0 {
		t.Skipf("this machine lacks %v (Debian's ca-certificates, tzdata, netbase): no stand-in for distroless/static", missing)
	}
	root := t.TempDir()
	for dst, src := range distrolessFiles {
		if fi, _ := os.Stat(src); fi.IsDir() {
			if err := os.CopyFS(filepath.Join(root, dst), os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		writeFile(t, filepath.Join(root, dst), mustRead(t, src), 0o644)
	}
	for dst, content := range distrolessWritten {
		writeFile(t, filepath.Join(root, dst), []byte(content), 0o644)
	}
	for _, dir := range []string{"tmp", "home/nonroot", "root"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := layerSize(t, root)
	bin := bfftest.Build(t)
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "bff"), binary, 0o755)
	image := layerSize(t, root)
	goal := "within"
	if image.raw > imageGoal {
		goal = fmt.Sprintf("%.1f MB over", mb(image.raw-imageGoal))
	}
	t.Logf("image root filesystem: %.1f MB (%.1f MB gzipped), %s the %.0f MB goal: the binary %.1f MB on a base of %.1f MB (%.1f MB gzipped)",
		mb(image.raw), mb(image.gzipped), goal, mb(imageGoal), mb(int64(len(binary))), mb(base.raw), mb(base.gzipped))
	if image.raw > maxBinaryBytes+8<<20 {
		t.Errorf("the image is %d bytes, more than the binary's bound plus 8 MiB", image.raw)
	}
}

type sizes struct{ raw, gzipped int64 }

func mb(n int64) float64 { return float64(n) / 1e6 }

// layerSize is the size of root packed as an image layer: a tar, and the
// tar gzipped.
func layerSize(t *testing.T, root string) sizes {
	t.Helper()
	raw, gz := &counter{}, &counter{}
	zw := gzip.NewWriter(gz)
	tw := tar.NewWriter(io.MultiWriter(raw, zw))
	if err := tw.AddFS(os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return sizes{raw.n, gz.n}
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func writeFile(t *testing.T, name string, content []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, content, mode); err != nil {
		t.Fatal(err)
	}
}
