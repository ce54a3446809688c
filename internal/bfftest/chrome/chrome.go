// Package chrome holds what bff's browser tests share about driving
// Chromium. Nothing outside tests imports it.
package chrome

import (
	"context"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// WatchConsole collects CSP violations and uncaught exceptions in the tab
// of ctx: either means the page is broken under bff's policy. Call the
// returned function to stop watching and get what was seen.
func WatchConsole(ctx context.Context) func() []string {
	var mu sync.Mutex
	var bad []string
	ctx, stop := context.WithCancel(ctx)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				bad = append(bad, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}
