// Package static serves a single-page app's files the way its build tools
// expect: client-side routes fall back to index.html, HTML is revalidated
// on every load while hashed assets may be cached, and the precompressed
// .br and .gz files that Vite and Angular emit are sent to browsers that
// accept them. Directories are never listed.
package static

import (
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"bff/internal/problem"
)

// Options shape a Handler.
type Options struct {
	// Fallback answers a navigation to a path that matches no file, and
	// whose last segment has no ".", with /index.html and 200: a route of
	// the SPA's own router. Every other miss is 404.
	Fallback bool
	// CSP, when set, is the Content-Security-Policy of every response.
	CSP string
}

// Handler serves fsys at /.
func Handler(fsys fs.FS, o Options) http.Handler {
	return &handler{fsys: fsys, o: o}
}

type handler struct {
	fsys fs.FS
	o    Options
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.CSP != "" {
		w.Header().Set("Content-Security-Policy", h.o.CSP)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		problem.Write(w, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	name, ok := h.resolve(r.URL.Path)
	if !ok && h.o.Fallback && IsNavigation(r) && !strings.Contains(path.Base(r.URL.Path), ".") {
		name, ok = h.resolve("/index.html")
	}
	if !ok {
		problem.Write(w, http.StatusNotFound, "Not found", "")
		return
	}
	h.serveFile(w, r, name)
}

// resolve maps a URL path to the file to send: the file itself, or a
// directory's index.html. A directory without one is not found: bff lists
// no directories.
func (h *handler) resolve(urlPath string) (string, bool) {
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		return "", false
	}
	fi, err := fs.Stat(h.fsys, name)
	if err != nil {
		return "", false
	}
	if fi.IsDir() {
		name = path.Join(name, "index.html")
		if fi, err = fs.Stat(h.fsys, name); err != nil || fi.IsDir() {
			return "", false
		}
	}
	return name, fi.Mode().IsRegular()
}

// encodings are the precompressed siblings tried, best first.
var encodings = [...]struct{ token, suffix string }{{"br", ".br"}, {"gzip", ".gz"}}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	if strings.HasPrefix(ctype, "text/html") {
		// An SPA's HTML names its hashed assets: a stale copy would load
		// the previous release's scripts.
		hdr.Set("Cache-Control", "no-cache")
	}
	send, encoding, varies := name, "", false
	for _, e := range encodings {
		if _, err := fs.Stat(h.fsys, name+e.suffix); err != nil {
			continue
		}
		// The answer depends on Accept-Encoding whenever a sibling exists,
		// whether or not this browser takes it.
		if !varies {
			hdr.Add("Vary", "Accept-Encoding")
			varies = true
		}
		if encoding == "" && accepts(r.Header.Get("Accept-Encoding"), e.token) {
			send, encoding = name+e.suffix, e.token
		}
	}
	f, err := h.fsys.Open(send)
	if err != nil {
		problem.Write(w, http.StatusNotFound, "Not found", "")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		problem.Write(w, http.StatusNotFound, "Not found", "")
		return
	}
	if encoding != "" {
		hdr.Set("Content-Encoding", encoding)
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			problem.Write(w, http.StatusNotFound, "Not found", "")
			return
		}
		rs = strings.NewReader(string(b))
	}
	// The name is empty so that ServeContent does not guess the type from
	// the .br or .gz it may be sending.
	http.ServeContent(w, r, "", fi.ModTime(), rs)
}

// accepts reports whether an Accept-Encoding header accepts coding with a
// non-zero weight.
func accepts(header, coding string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// IsNavigation reports whether r is a browser loading a page rather than
// a script fetching data: a GET or HEAD with Sec-Fetch-Mode: navigate, or,
// from a browser that sends no fetch metadata, one whose Accept includes
// text/html.
func IsNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}
