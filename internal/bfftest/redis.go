package bfftest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a real redis-server (Debian's package) on a loopback port of
// its own, with no persistence: a restart loses everything, as a crashed
// cache does.
type Redis struct {
	t    testing.TB
	Port int
	URL  string // redis://127.0.0.1:PORT/0
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a Redis for the test, or skips it (fails it on CI)
// when redis-server is not installed. It stops when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but there is no redis-server: .ci/install-redis must install Debian's redis-server")
		}
		t.Skip("no redis-server on PATH: install Debian's redis-server (.ci/install-redis) to run the Redis suites")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{t: t, dir: t.TempDir(), Port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	r.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port)
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server on its port and waits until it answers. It is
// how a test brings a stopped Redis back.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if reply, err := r.Do("PING"); err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			r.Stop()
			r.t.Fatal("redis-server did not answer PING within 10 s")
		}
	}
}

// Stop kills the server, as a crash would, and waits for it to go.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Do sends one command and returns its reply: a string for a simple or
// bulk string ("" for nil), an int64 for an integer, a []any for an
// array; a Redis error reply is an error.
func (r *Redis) Do(args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(conn))
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
