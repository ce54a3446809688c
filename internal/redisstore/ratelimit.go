//go:build !js

package redisstore

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/time/rate"
)

// gcra takes one token from a bucket kept as its theoretical arrival time
// (the generic cell rate algorithm): the same limit as a token bucket of
// the same rate and burst, in one key and one round trip, on Redis's
// clock so that every replica agrees. It returns 0 when the token was
// taken, otherwise the milliseconds until one will be there.
var gcra = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
if next - now > tolerance then
  return next - tolerance - now
end
redis.call('SET', KEYS[1], next, 'PX', math.ceil(next - now))
return 0
`)

// Take takes one token from the bucket named key, which refills at r per
// second up to burst, for every replica at once. When there is none,
// retryAfter is how long until there will be one.
func (s *Store) Take(ctx context.Context, key string, r rate.Limit, burst int) (ok bool, retryAfter time.Duration, err error) {
	interval := math.Ceil(1000 / float64(r))
	err = s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		wait, err := gcra.Exec(ctx, c, []string{key}, []string{strconv.FormatFloat(interval, 'f', 0, 64), strconv.Itoa(burst)}).AsInt64()
		if err != nil {
			return err
		}
		ok, retryAfter = wait == 0, time.Duration(wait)*time.Millisecond
		return nil
	})
	return ok, retryAfter, err
}
