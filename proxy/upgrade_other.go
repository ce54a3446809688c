//go:build !js

package proxy

// webSockets is whether WebSocket upgrades are forwarded; see upgrade_js.go.
const webSockets = true
