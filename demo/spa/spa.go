// Package spa is the demo's single-page app: three static files that bff
// serves on its own origin. There is no build step and nothing is loaded
// from anywhere else, so the page runs under bff's strict Content Security
// Policy (script, style and connections from 'self' only, no inline code).
//
// The app never sees a token. It learns who is signed in from bff's
// /auth/session and reaches the demo API through bff's /api/ proxy, which
// adds the access token on the server side.
package spa

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js style.css
var files embed.FS

// CSP is the Content-Security-Policy to serve the app with: nothing but its
// own origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// FS holds index.html, app.js and style.css at its root. It is read-only,
// so every caller may share it.
func FS() fs.FS { return files }
