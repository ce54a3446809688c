//go:build js

// Package jsctx keeps the WebAssembly (Cloudflare Worker) build's calls
// into JavaScript in the right request's context.
//
// workerd ties every fetch, and every response body a Worker writes, to
// the request whose code is running when it starts. Go's goroutines are
// not tied to anything: one request's goroutine may wake up inside
// another's event, as when several requests wait for the one refresh of
// their shared session and the request that made it wakes them. A call
// into JavaScript from there would belong to the wrong request, and die
// with it. So the bridge gives each request's context an enter function
// that moves the calling goroutine into that request's own JavaScript
// context, and every call into JavaScript on a request's behalf runs
// after Enter.
package jsctx

import "context"

type enterKey struct{}

// With returns ctx carrying enter, which returns once the goroutine that
// called it runs in the JavaScript context of ctx's request.
func With(ctx context.Context, enter func()) context.Context {
	return context.WithValue(ctx, enterKey{}, enter)
}

// Enter moves the calling goroutine into the JavaScript context of ctx's
// request, when ctx carries one.
func Enter(ctx context.Context) {
	if enter, ok := ctx.Value(enterKey{}).(func()); ok {
		enter()
	}
}
