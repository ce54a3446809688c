package server

import "context"

// Discover loads the identity provider's discovery document now, retrying
// with backoff until it succeeds or ctx ends. [Server.Run] does this in the
// background; a host that serves without Run, such as a Cloudflare Worker,
// which may run nothing between requests, calls it before serving.
func (s *Server) Discover(ctx context.Context) error { return s.auth.Discover(ctx) }
