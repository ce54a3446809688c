//go:build js

package proxy

// webSockets is false in the WebAssembly (Cloudflare Worker) build: its
// Fetch API client cannot take over a connection, so an upgrade could
// never reach the upstream.
const webSockets = false
