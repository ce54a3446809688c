#!/usr/bin/env bash
# Builds the Worker into build/ (or the directory given): bff.wasm, the
# ./worker package for GOOS=js GOARCH=wasm, and wasm_exec.js, the Go
# runtime's JavaScript half, from the same toolchain (the two must match).
# wrangler runs it before every deploy; GO names the go command (default go),
# VERSION the version bff reports (default: from the VCS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
go=${GO:-go}
mkdir -p "$out"
cd "$here/../.."
ldflags="-s -w"
if [ -n "${VERSION:-}" ]; then
  ldflags="$ldflags -X bff/internal/version.stamp=$VERSION"
fi
GOOS=js GOARCH=wasm CGO_ENABLED=0 "$go" build -trimpath -ldflags "$ldflags" -o "$out/bff.wasm" ./worker
cp "$("$go" env GOROOT)/lib/wasm/wasm_exec.js" "$out/wasm_exec.js"
