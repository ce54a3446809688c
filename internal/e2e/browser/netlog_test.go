package browser

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// seen is one piece of text the browser received or sent: a URL, a header
// or a response body.
type seen struct {
	where string // for the failure message, e.g. "response header Location of http://..."
	text  string
	isURL bool // a navigation or request target, or a Location header
}

// netLog records, from the DevTools network domain, every URL and header of
// one tab's traffic, and the bodies of the responses from the SPA's origin
// that the page (its documents and its fetches) could read.
type netLog struct {
	origin string // the SPA's origin; bodies are kept for its responses
	ctx    context.Context

	mu       sync.Mutex
	items    []seen
	wantBody map[network.RequestID]string // request id -> URL, for bodies to fetch once loaded
	docs     map[network.RequestID]bool   // which of them are documents, or the scripts and styles they load
	lostDocs []string                     // those navigated away from before their body was read
	pending  int
	bodies   map[string][]string // URL path -> bodies, in order
	errs     []string
	queue    chan network.RequestID
}

// bodyTypes are the resources whose bodies page script can read: the
// documents, and what fetch and XMLHttpRequest return. Scripts and styles
// are included because they are the page's own code.
var bodyTypes = []network.ResourceType{
	network.ResourceTypeDocument, network.ResourceTypeXHR, network.ResourceTypeFetch,
	network.ResourceTypeScript, network.ResourceTypeStylesheet,
}

// recordNetwork starts recording the tab of ctx.
func recordNetwork(t *testing.T, ctx context.Context, origin string) *netLog {
	t.Helper()
	l := &netLog{
		origin:   origin,
		ctx:      ctx,
		wantBody: map[network.RequestID]string{},
		docs:     map[network.RequestID]bool{},
		bodies:   map[string][]string{},
		queue:    make(chan network.RequestID, 4096),
	}
	// The listener runs on chromedp's reading goroutine and must not call
	// the browser, so bodies are fetched by a goroutine of their own.
	if err := chromedp.Listen(ctx, l.event); err != nil {
		t.Fatal(err)
	}
	// chromedp enables the network domain when it opens a tab; enabling it
	// again is harmless and makes the dependency explicit.
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	go l.fetchBodies()
	return l
}

func headerItems(where string, h network.Headers) []seen {
	var out []seen
	for k, v := range h {
		out = append(out, seen{
			where: fmt.Sprintf("%s header %s", where, k),
			text:  fmt.Sprint(v),
			isURL: strings.EqualFold(k, "Location"),
		})
	}
	return out
}

func (l *netLog) event(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if r := ev.RedirectResponse; r != nil {
			where := fmt.Sprintf("redirect %d from %s", r.Status, r.URL)
			l.items = append(l.items, seen{where: where + " (its URL)", text: r.URL, isURL: true})
			l.items = append(l.items, headerItems(where, r.Headers)...)
		}
		u := ev.Request.URL + ev.Request.URLFragment
		l.items = append(l.items, seen{where: "request URL", text: u, isURL: true})
		l.items = append(l.items, headerItems("request to "+ev.Request.URL, ev.Request.Headers)...)
	case *network.EventRequestWillBeSentExtraInfo:
		l.items = append(l.items, headerItems("request (raw)", ev.Headers)...)
	case *network.EventResponseReceived:
		r := ev.Response
		l.items = append(l.items, seen{where: "response URL", text: r.URL, isURL: true})
		l.items = append(l.items, headerItems("response from "+r.URL, r.Headers)...)
		if strings.HasPrefix(r.URL, l.origin+"/") && slices.Contains(bodyTypes, ev.Type) {
			l.wantBody[ev.RequestID] = r.URL
			switch ev.Type {
			case network.ResourceTypeDocument, network.ResourceTypeScript, network.ResourceTypeStylesheet:
				l.docs[ev.RequestID] = true
			}
		}
	case *network.EventResponseReceivedExtraInfo:
		l.items = append(l.items, headerItems(fmt.Sprintf("response %d (raw)", ev.StatusCode), ev.Headers)...)
	case *network.EventLoadingFinished:
		if _, ok := l.wantBody[ev.RequestID]; ok {
			select {
			case l.queue <- ev.RequestID:
				l.pending++
			default:
				l.errs = append(l.errs, "body queue full; a body was not checked")
			}
		}
	case *network.EventLoadingFailed:
		delete(l.wantBody, ev.RequestID)
	}
}

func (l *netLog) fetchBodies() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case id := <-l.queue:
			res, err := chromedp.Call(l.ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
			l.mu.Lock()
			u, doc := l.wantBody[id], l.docs[id]
			delete(l.wantBody, id)
			delete(l.docs, id)
			switch {
			case err != nil && doc && strings.Contains(err.Error(), "No resource with given identifier"):
				// A page that navigated on at once (the SPA's silent
				// sign-in, a meta refresh) takes its body, and its
				// scripts' and styles', with it. Only bff's own documents
				// are at stake: static files and its fixed error and
				// continue pages. API answers are never excused.
				l.lostDocs = append(l.lostDocs, u)
			case err != nil:
				l.errs = append(l.errs, fmt.Sprintf("body of %s: %v", u, err))
			default:
				l.items = append(l.items, seen{where: "response body of " + u, text: string(res.Body)})
				if pu, err := url.Parse(u); err == nil {
					l.bodies[pu.Path] = append(l.bodies[pu.Path], string(res.Body))
				}
			}
			l.pending--
			l.mu.Unlock()
		}
	}
}

// settle waits until every body that has finished loading has been read,
// so nothing is lost to the next navigation.
func (l *netLog) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := l.pending
		l.mu.Unlock()
		if n == 0 {
			l.mu.Lock()
			if len(l.lostDocs) > 0 {
				t.Logf("%d documents, scripts or styles were navigated away from before their bodies could be read: %q", len(l.lostDocs), l.lostDocs)
			}
			l.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d response bodies still unread after 10 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// add records text the test read from the page itself, such as its URL.
func (l *netLog) add(where, text string, isURL bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, seen{where: where, text: text, isURL: isURL})
}

func (l *netLog) snapshot() (items []seen, bodies map[string][]string, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bodies = make(map[string][]string, len(l.bodies))
	for k, v := range l.bodies {
		bodies[k] = slices.Clone(v)
	}
	return slices.Clone(l.items), bodies, slices.Clone(l.errs)
}

// withoutLogoutHint is the contract's one exception to "no token in the
// browser": RP-initiated logout sends the browser to the OP's
// end_session_endpoint with the ID token as id_token_hint. That URL is a
// navigation target (bff's 302 Location, then the request to the OP, then
// the URL of the OP's own redirect back); page script never gets to read
// it. For a URL to exactly that endpoint, the id_token_hint parameter is
// cut out and returned so the caller can check it; everything else in the
// URL is still scanned. Any other text is returned unchanged.
func withoutLogoutHint(text, endSession string) (rest, hint string) {
	u, err := url.Parse(text)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != endSession {
		return text, ""
	}
	q := u.Query()
	hint = q.Get("id_token_hint")
	q.Del("id_token_hint")
	u.RawQuery = q.Encode()
	return u.String(), hint
}

// leakScan reports every seen text that contains one of tokens (also
// percent-decoded), and returns the id_token_hint values it cut out of
// logout URLs. Failure messages name the token by its index, never by its
// value.
func leakScan(t *testing.T, items []seen, tokens []string, endSession string) (hints []string) {
	t.Helper()
	for _, it := range items {
		text := it.text
		if it.isURL {
			var hint string
			if text, hint = withoutLogoutHint(text, endSession); hint != "" {
				hints = append(hints, hint)
			}
		}
		variants := []string{text}
		if dec, err := url.QueryUnescape(text); err == nil && dec != text {
			variants = append(variants, dec)
		}
		for i, tok := range tokens {
			for _, v := range variants {
				if strings.Contains(v, tok) {
					t.Errorf("%s carries issued token #%d (of %d)", redactTokens(it.where, tokens), i, len(tokens))
					break
				}
			}
		}
	}
	return hints
}

// redactTokens keeps a failure message about a leak from becoming one.
func redactTokens(s string, tokens []string) string {
	for _, tok := range tokens {
		s = strings.ReplaceAll(s, tok, "[token]")
		s = strings.ReplaceAll(s, url.QueryEscape(tok), "[token]")
	}
	return s
}
