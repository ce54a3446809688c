# syntax=docker/dockerfile:1
#
# bff: a static Go binary on distroless. Build from the repository root:
#
#   docker build --build-arg VERSION=1.2.3 -t bff:1.2.3 .
#
# The final image holds the binary, CA certificates and tzdata (from
# distroless/static) and nothing else: no shell, no package manager.

ARG GO_VERSION=1.27.3

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# The image's Go is the one go.mod asks for (go 1.27.3): never download
# another. An older GO_VERSION fails here with a clear message instead.
ENV GOTOOLCHAIN=local

# Dependencies first, so that a source change does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG VERSION=dev
# CGO_ENABLED=0: a static binary that runs without libc.
# -trimpath: no build-machine paths in the binary.
# -s -w: no symbol table or DWARF (smaller; stack traces keep function names).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X bff/internal/version.stamp=${VERSION}" \
      -o /out/bff .

FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/bff /bff

# uid/gid 65532. bff writes nothing to disk, so the root filesystem can be
# mounted read-only.
USER nonroot:nonroot

# The public listener (BFF_LISTEN, or :$PORT, default :8080). Metrics, when
# BFF_METRICS_LISTEN is set (e.g. :9090), listen on a separate port.
EXPOSE 8080

# No HEALTHCHECK: the image has no shell or curl to run one, and
# orchestrators probe GET /healthz (liveness) and GET /readyz (readiness:
# 503 until the identity provider's discovery document is loaded) directly.
ENTRYPOINT ["/bff"]
