// Command lambda packages bff for AWS Lambda's provided.al2023 runtime: for
// each architecture, a zip holding the bff binary as bootstrap (static,
// stripped, built as the Dockerfile builds it) and, when given, the IdP's
// discovery document for BFF_DISCOVERY_FILE. From the repository root:
//
//	curl -fsS "$BFF_ISSUER/.well-known/openid-configuration" > openid-configuration.json
//	go run ./deploy/lambda -discovery openid-configuration.json -version 1.2.3
//
// writes dist/lambda/bff-lambda-arm64.zip and dist/lambda/bff-lambda-amd64.zip.
// Lambda unpacks a zip into /var/task, so the function's BFF_DISCOVERY_FILE
// is /var/task/openid-configuration.json.
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DiscoveryName is the discovery document's name in the zip.
const DiscoveryName = "openid-configuration.json"

func main() {
	archs := flag.String("arch", "arm64,amd64", "comma-separated GOARCH values: arm64, amd64")
	out := flag.String("out", filepath.Join("dist", "lambda"), "directory for the zips")
	version := flag.String("version", "dev", "version stamped into the binary (bff version)")
	discovery := flag.String("discovery", "", "the IdP's discovery document to include, for BFF_DISCOVERY_FILE")
	flag.Parse()
	for _, arch := range strings.Split(*archs, ",") {
		zipPath, err := Package(strings.TrimSpace(arch), *out, *version, *discovery)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lambda:", err)
			os.Exit(1)
		}
		fmt.Println(zipPath)
	}
}

// Package builds bff for arch and writes its function zip into dir,
// returning the zip's path. It runs the go command of the PATH in the
// current directory, which must be inside the bff module.
func Package(arch, dir, version, discovery string) (string, error) {
	if arch != "arm64" && arch != "amd64" {
		return "", fmt.Errorf("architecture %q: Lambda runs arm64 and amd64 (x86_64)", arch)
	}
	tmp, err := os.MkdirTemp("", "bff-lambda-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bootstrap := filepath.Join(tmp, "bootstrap")
	build := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X bff/internal/version.stamp="+version, "-o", bootstrap, "bff")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build for %s: %w\n%s", arch, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	zipPath := filepath.Join(dir, "bff-lambda-"+arch+".zip")
	files := []zipFile{{"bootstrap", bootstrap, 0o755}}
	if discovery != "" {
		files = append(files, zipFile{DiscoveryName, discovery, 0o644})
	}
	return zipPath, writeZip(zipPath, files)
}

type zipFile struct {
	name, path string
	mode       os.FileMode
}

// writeZip writes files into a new zip at path, each with its mode: Lambda
// runs bootstrap only if the zip marks it executable.
func writeZip(path string, files []zipFile) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	zw := zip.NewWriter(f)
	for _, file := range files {
		src, err := os.Open(file.path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: file.name, Method: zip.Deflate}
		h.SetMode(file.mode)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = io.Copy(w, src)
		}
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", file.name, err)
		}
	}
	return zw.Close()
}
