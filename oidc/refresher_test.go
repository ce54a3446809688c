package oidc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRefresherCoalesces(t *testing.T) {
	f := newRefresher(4, time.Now, time.Second, time.Hour)
	var calls atomic.Int32
	release := make(chan struct{})
	fn := func(context.Context) (refreshResult, error) {
		calls.Add(1)
		<-release
		return refreshResult{accessToken: "new"}, nil
	}
	var wg sync.WaitGroup
	results := make([]refreshResult, 20)
	for i := range results {
		wg.Go(func() { results[i], _ = f.do(context.Background(), "rt-1", fn) })
	}
	// Let the waiters pile up on the one call in flight, then release it.
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls for one refresh token, want 1", n)
	}
	for i, r := range results {
		if r.accessToken != "new" {
			t.Fatalf("waiter %d got %q", i, r.accessToken)
		}
	}
	// A request arriving after the call, with the old refresh token, gets
	// the remembered result instead of a second call.
	if r, err := f.do(context.Background(), "rt-1", fn); err != nil || r.accessToken != "new" || calls.Load() != 1 {
		t.Errorf("late request: %q %v, %d calls", r.accessToken, err, calls.Load())
	}
}

func TestRefresherCapsCallsInFlight(t *testing.T) {
	f := newRefresher(1, time.Now, 50*time.Millisecond, time.Hour)
	started := make(chan struct{})
	release := make(chan struct{})
	go f.do(context.Background(), "rt-a", func(context.Context) (refreshResult, error) {
		close(started)
		<-release
		return refreshResult{}, nil
	})
	<-started
	defer close(release)
	// The only slot is taken: another refresh token's call waits for it,
	// within the call's timeout, and never reaches the IdP.
	_, err := f.do(context.Background(), "rt-b", func(context.Context) (refreshResult, error) {
		t.Error("a second call ran while the only slot was taken")
		return refreshResult{}, nil
	})
	if err == nil {
		t.Fatal("no error while the refresh slots were full")
	}
}
