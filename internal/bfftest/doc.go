// Package bfftest is the one test fixture of bff's suites: a real OpenID
// provider (the demo's, in process, with generated keys), cookie keys, a
// configuration, and a whole deployment on loopback (the OP, bff replicas
// running the production server, a recording upstream and a round-robin
// front), plus the clients and raw-request helpers that drive it. A stack
// can use another provider instead of the demo's: package hydra runs Ory
// Hydra for that (StackOptions.IdP).
//
// For what an operator runs, the built binary: [Build] it, then [Deploy]
// it (a process of its own against the in-process OP and a recording
// upstream, its log through a pipe), or [ServeBinary] and
// [StartProcessWith] for more control (another stdout, a pinned CPU).
//
// Nothing outside tests imports it.
//
// A typical end-to-end test:
//
//	s := bfftest.NewStack(t, bfftest.StackOptions{Replicas: 2})
//	s.Login()
//	resp := s.API("/api/orders")
//	saw := s.Upstream.Last(t) // what the upstream received
package bfftest
