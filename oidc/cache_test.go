package oidc

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestOpenedCache(t *testing.T) {
	c := newOpenedCache(2)
	c.put("a", openedSession{s: Session{Subject: "A"}, current: true})
	e, ok := c.get("a")
	if !ok || !e.current || e.s.Subject != "A" {
		t.Fatalf("get(a) = %v %v %v", e.s.Subject, e.current, ok)
	}
	e.s.Subject = "changed"
	if e2, _ := c.get("a"); e2.s.Subject != "A" {
		t.Fatal("a caller's change reached the cache")
	}
	c.put("b", openedSession{s: Session{Subject: "B"}})
	c.put("c", openedSession{s: Session{Subject: "C"}}) // young {a b} full: becomes old
	if _, ok := c.get("a"); !ok {
		t.Fatal("a dropped one generation early")
	}
	// get(a) promoted it into the young generation {c a}; b stayed old.
	c.put("d", openedSession{}) // young {c a} full: old = {c a}, young = {d}
	if _, ok := c.get("b"); ok {
		t.Error("b survived two generations without use")
	}
	for i := range 100 {
		c.put(fmt.Sprint(i), openedSession{})
	}
	if n := len(c.young) + len(c.old); n > 4 {
		t.Errorf("cache holds %d entries, bound is 2 generations of 2", n)
	}
}

// TestOpenedCacheKeepsNoRequestMemory: a key the cache keeps, whether put
// or promoted from the old generation by a get, is a copy, never a slice of
// the request's Cookie header that would keep the whole header alive.
func TestOpenedCacheKeepsNoRequestMemory(t *testing.T) {
	header := "theme=dark; __Host-bff-session=" + strings.Repeat("v", 64) + "; other=1"
	sealed := header[31 : 31+64] // as a cookie parser hands it out
	c := newOpenedCache(1)
	c.put(sealed, openedSession{s: Session{Subject: "A"}, current: true})
	c.put("other", openedSession{current: true}) // young {sealed} full: becomes old
	if _, ok := c.get(sealed); !ok {
		t.Fatal("the entry was dropped")
	}
	for _, gen := range []map[string]openedSession{c.young, c.old} {
		for k := range gen {
			if unsafe.StringData(k) == unsafe.StringData(sealed) {
				t.Error("the cache keeps a key that shares the request header's memory")
			}
		}
	}
}
