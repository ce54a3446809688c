package oidc

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestOpenedCache(t *testing.T) {
	c := newOpenedCache(2)
	c.put("a", Session{Subject: "A"}, true)
	s, current, ok := c.get("a")
	if !ok || !current || s.Subject != "A" {
		t.Fatalf("get(a) = %v %v %v", s.Subject, current, ok)
	}
	s.Subject = "changed"
	if s2, _, _ := c.get("a"); s2.Subject != "A" {
		t.Fatal("a caller's change reached the cache")
	}
	c.put("b", Session{Subject: "B"}, false)
	c.put("c", Session{Subject: "C"}, false) // young {a b} full: becomes old
	if _, _, ok := c.get("a"); !ok {
		t.Fatal("a dropped one generation early")
	}
	// get(a) promoted it into the young generation {c a}; b stayed old.
	c.put("d", Session{}, false) // young {c a} full: old = {c a}, young = {d}
	if _, _, ok := c.get("b"); ok {
		t.Error("b survived two generations without use")
	}
	for i := range 100 {
		c.put(fmt.Sprint(i), Session{}, false)
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
	c.put(sealed, Session{Subject: "A"}, true)
	c.put("other", Session{}, true) // young {sealed} full: becomes old
	if _, _, ok := c.get(sealed); !ok {
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
