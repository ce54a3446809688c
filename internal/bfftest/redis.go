package bfftest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/redisstore"
)

// Redis is one database of a real redis-server (Debian's package) on a
// loopback port, with no persistence: a restart loses everything, as a
// crashed cache does.
type Redis struct {
	t   testing.TB
	URL string // redis://127.0.0.1:PORT/DB
	db  int
	srv *redisServer
}

type redisServer struct {
	port   int
	args   []string
	dir    string
	cmd    *exec.Cmd
	nextDB atomic.Int32
}

// redisDatabases is how many databases the package's server has: one per
// test that asks for one.
const redisDatabases = 1000

// packageRedis is the test package's one server, which RedisMain starts.
var packageRedis struct {
	started bool
	srv     *redisServer
	err     error
}

// RedisMain runs a test package with one redis-server shared by its tests,
// each of which takes a database of its own with [RedisDB]. Call it from
// TestMain. Without redis-server the tests that need it are skipped (on
// CI, failed).
func RedisMain(m *testing.M) {
	packageRedis.started = true
	dir, err := os.MkdirTemp("", "bff-redis-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if packageRedis.err = redisInstalled(); packageRedis.err == nil {
		packageRedis.srv, packageRedis.err = startRedisServer(dir)
	}
	code := m.Run()
	if packageRedis.srv != nil {
		packageRedis.srv.stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// RedisDB returns a fresh, empty database on the package's server.
func RedisDB(t testing.TB) *Redis {
	t.Helper()
	if !packageRedis.started {
		t.Fatal("bfftest.RedisDB needs TestMain to call bfftest.RedisMain")
	}
	requireRedis(t, packageRedis.err)
	db := int(packageRedis.srv.nextDB.Add(1))
	if db >= redisDatabases {
		t.Fatalf("more than %d Redis databases in one package", redisDatabases)
	}
	return packageRedis.srv.database(t, db)
}

// StartRedis starts a redis-server of the test's own, for a test that
// stops, restarts or slows it, or gives it further arguments (a TLS port,
// a password). It is killed when the test ends.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	requireRedis(t, redisInstalled())
	srv, err := startRedisServer(t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv.database(t, 0)
}

func redisInstalled() error {
	_, err := exec.LookPath("redis-server")
	return err
}

func requireRedis(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but Redis is not available (.ci/install-redis installs Debian's redis-server): %v", err)
	}
	t.Skipf("Redis is not available (install Debian's redis-server, as .ci/install-redis does): %v", err)
}

func startRedisServer(dir string, args ...string) (*redisServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &redisServer{dir: dir, port: ln.Addr().(*net.TCPAddr).Port, args: args}
	ln.Close()
	return srv, srv.start()
}

func (s *redisServer) database(t testing.TB, db int) *Redis {
	return &Redis{t: t, db: db, srv: s, URL: fmt.Sprintf("redis://127.0.0.1:%d/%d", s.port, db)}
}

func (s *redisServer) start() error {
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--databases", strconv.Itoa(redisDatabases),
		// DEBUG SLEEP is how a test makes Redis slow.
		"--enable-debug-command", "local",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning",
	}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	probe := &Redis{srv: s}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if reply, err := probe.Do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return errors.New("redis-server did not answer PING within 10 s")
		}
	}
}

// stop kills the server, as a crash would, and waits for it to go.
func (s *redisServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Stop kills the server, as a crash would. Only for a server of the
// test's own ([StartRedis]).
func (r *Redis) Stop() { r.srv.stop() }

// Start brings a stopped server back on its port, empty.
func (r *Redis) Start() {
	r.t.Helper()
	if err := r.srv.start(); err != nil {
		r.t.Fatal(err)
	}
}

// Do sends one command to the database and returns its reply: a string
// for a simple or bulk string ("" for nil), an int64 for an integer, a
// []any for an array; a Redis error reply is an error.
func (r *Redis) Do(args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.srv.port)), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for _, cmd := range [][]string{{"SELECT", strconv.Itoa(r.db)}, args} {
		fmt.Fprintf(&b, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	rd := bufio.NewReader(conn)
	if _, err := readReply(rd); err != nil {
		return nil, fmt.Errorf("select %d: %w", r.db, err)
	}
	return readReply(rd)
}

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply")
	}
	switch body := line[1:]; line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errors.New(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(body)
		out := make([]any, 0, max(n, 0))
		for range n {
			v, err := readReply(rd)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// Keys lists every key in the database.
func (r *Redis) Keys() []string {
	r.t.Helper()
	reply, err := r.Do("KEYS", "*")
	if err != nil {
		r.t.Fatal(err)
	}
	var keys []string
	for _, k := range reply.([]any) {
		keys = append(keys, k.(string))
	}
	return keys
}

// Value returns a key's value, "" when it does not exist.
func (r *Redis) Value(key string) string {
	r.t.Helper()
	reply, err := r.Do("GET", key)
	if err != nil {
		r.t.Fatal(err)
	}
	return reply.(string)
}

// Database is the same server's database db.
func (r *Redis) Database(db int) *Redis { return r.srv.database(r.t, db) }

// Port is the server's plain-text port.
func (r *Redis) Port() int { return r.srv.port }

// RunStore connects a store to the Redis at url and runs it until the
// test ends. It does not wait for the store to be ready: a test of an
// unreachable or broken server must see it not ready.
func RunStore(t testing.TB, url string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(url, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}
