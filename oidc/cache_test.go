package oidc

import (
	"fmt"
	"testing"
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
