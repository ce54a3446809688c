// Package chrome holds what bff's browser tests share about driving
// Chromium. Nothing outside tests imports it.
package chrome

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// WatchConsole collects CSP violations and uncaught exceptions in the tab
// of ctx: either means the page is broken under bff's policy. Call the
// returned function to stop watching and get what was seen. A watch that
// ends before that, on an error or a closed tab, is an entry too: a
// page nobody watched must not pass as a clean one.
func WatchConsole(ctx context.Context) func() []string {
	var mu sync.Mutex
	var bad []string
	ctx, stop := context.WithCancel(ctx)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		for m, e := range messages {
			if err = e; err != nil {
				break
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				bad = append(bad, m.String())
				mu.Unlock()
			}
		}
		// Judged by the error too: the watch may fail before it is
		// stopped and be seen only after.
		if ctx.Err() == nil || (err != nil && !errors.Is(err, ctx.Err())) {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("watching the console stopped early: %v", err))
			mu.Unlock()
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
