package server

import (
	"context"
	"time"

	"bff/internal/funcurl"
	"bff/internal/version"
)

// lambdaDiscoveryWait bounds the wait for the discovery document during a
// function's initialisation, which Lambda ends after 10 s.
const lambdaDiscoveryWait = 8 * time.Second

// RunLambda serves AWS Lambda function URL invocations through the runtime
// API (AWS_LAMBDA_RUNTIME_API) until ctx ends. There is no listener, and
// no readiness probe holds invocations back, so the discovery document is
// loaded before the first one is taken: from BFF_DISCOVERY_FILE at once,
// or else from the IdP, for up to 8 s. An IdP that does not answer by then
// is retried in the background, as Run does, and requests that need it get
// 503 meanwhile. BFF_LISTEN and BFF_METRICS_LISTEN do not apply: nothing
// can connect to a function but its runtime.
func (s *Server) RunLambda(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, lambdaDiscoveryWait)
	err := s.auth.Discover(wait)
	cancel()
	if err != nil && ctx.Err() == nil {
		go func() { _ = s.auth.Discover(ctx) }()
	}
	if s.store != nil {
		s.store.ReadThrough()
		go s.store.Run(ctx)
	}
	if s.cfg.MetricsListen != "" {
		s.log.Warn("BFF_METRICS_LISTEN is ignored under AWS Lambda: nothing can scrape a function")
	}
	mode := "RESPONSE_STREAM"
	if s.cfg.LambdaBuffered {
		mode = "BUFFERED"
	}
	s.log.Info("bff serving function URL invocations", "invoke_mode", mode, "ready", s.auth.Ready(),
		"public_url", s.cfg.PublicURL.String(), "version", version.String())
	err = funcurl.Start(ctx, s.handler, s.cfg.LambdaBuffered, s.log)
	// The spans still batched go out when the runtime ends the function
	// with SIGTERM; see shutdownTracing.
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Shutdown)
	defer cancel()
	s.shutdownTracing(shutdown)
	return err
}
