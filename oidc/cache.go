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
// plaintexts, so a hit can never be a different session. A sealed handle
// names a record in the shared store that a refresh on any replica may
// rewrite, so its hit holds only while the store answers the same record.
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
	// record is the shared store's record a handle session was opened
	// from: the handle stays while a refresh rewrites the record, so a hit
	// is good only while the store still holds this very record.
	record string
	// reads are the record's key and the session's end keys, which a hit
	// reads in one call.
	reads []string
}

// sessionsCachedPerGeneration bounds memory to about 2 x 1024 sessions of a
// few kilobytes each (twice that for a session kept in the shared store,
// with its sealed record).
const sessionsCachedPerGeneration = 1024

func newOpenedCache(perGen int) *openedCache {
	return &openedCache{young: map[string]openedSession{}, old: map[string]openedSession{}, perGen: perGen}
}

// get returns a copy of the cached entry, whose session the caller may
// change.
func (c *openedCache) get(sealed string) (openedSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.young[sealed]
	if !ok {
		if e, ok = c.old[sealed]; ok {
			// A clone: sealed is part of the request's Cookie header.
			c.insert(strings.Clone(sealed), e)
		}
	}
	return e, ok
}

func (c *openedCache) put(sealed string, e openedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A clone, so the key does not pin the request's whole Cookie header.
	c.insert(strings.Clone(sealed), e)
}

func (c *openedCache) insert(sealed string, e openedSession) {
	if len(c.young) >= c.perGen {
		c.old, c.young = c.young, make(map[string]openedSession, c.perGen)
	}
	c.young[sealed] = e
}
