package oidc

import (
	"strings"
	"sync"
)

// openedCache remembers sessions this replica has already opened, by their
// exact sealed value. Opening costs an AES-GCM decryption, an inflate and a
// decode on every API call; a browser sends the same cookie until it
// changes, so most calls find it here. It is a cache, not a store: a miss
// just opens the cookie, and the session's time limits are checked on
// every request whatever the source. Equal sealed values hold equal
// plaintexts, so a hit can never be a different session.
//
// Two generations bound it without bookkeeping per entry: when the young
// map is full it becomes the old one, and whatever was not used since is
// dropped with it.
type openedCache struct {
	mu         sync.Mutex
	young, old map[string]openedSession
	perGen     int
}

type openedSession struct {
	s       Session
	current bool
}

// sessionsCachedPerGeneration bounds memory to about 2 x 1024 sessions of a
// few kilobytes each.
const sessionsCachedPerGeneration = 1024

func newOpenedCache(perGen int) *openedCache {
	return &openedCache{young: map[string]openedSession{}, old: map[string]openedSession{}, perGen: perGen}
}

// get returns a copy of the cached session, which the caller may change.
func (c *openedCache) get(sealed string) (Session, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.young[sealed]
	if !ok {
		if e, ok = c.old[sealed]; ok {
			// A clone: sealed is part of the request's Cookie header.
			c.insert(strings.Clone(sealed), e)
		}
	}
	return e.s, e.current, ok
}

func (c *openedCache) put(sealed string, s Session, current bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A clone, so the key does not pin the request's whole Cookie header.
	c.insert(strings.Clone(sealed), openedSession{s: s, current: current})
}

func (c *openedCache) insert(sealed string, e openedSession) {
	if len(c.young) >= c.perGen {
		c.old, c.young = c.young, make(map[string]openedSession, c.perGen)
	}
	c.young[sealed] = e
}
