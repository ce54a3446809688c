//go:build js && wasm

package main

import "syscall/js"

// call is one fetch event's way back into its own JavaScript context; see
// package jsctx.
type call struct {
	ring  js.Value // resolves a promise armed in the request's context
	wake  js.Func  // the continuation of that promise calls this
	woken chan struct{}
}

// newCall arms bell, worker.mjs's bell(wake), which must be called in the
// request's context: fetch is.
func newCall(bell js.Value) *call {
	c := &call{woken: make(chan struct{}, 1)}
	c.wake = js.FuncOf(func(js.Value, []js.Value) any {
		c.woken <- struct{}{}
		return nil
	})
	c.ring = bell.Invoke(c.wake)
	return c
}

// enter returns once the calling goroutine runs in the request's context:
// the bell's continuation runs there and wakes it, and the goroutine runs
// on inside that continuation until it blocks.
func (c *call) enter() {
	c.ring.Invoke()
	<-c.woken
}

// release tells worker.mjs, from the request's context, that Go is done
// with the request.
func (c *call) release(done js.Value) {
	c.enter()
	done.Invoke()
	c.wake.Release()
}
