package httpflv_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/httpflv"
)

// dialFrom opens a TCP connection to addr from the loopback address 127.0.0.n, so that a
// test can be several clients.
func dialFrom(t testing.TB, n byte, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, n)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server has closed c: a read that ends. A read that
// merely times out says c is still open, however loaded the machine.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionBounds: half-open connections (that never send a request) are held up to
// the bound per client address, and the rest are closed at once; when the total bound is
// reached, a viewer from elsewhere still gets /status, and the oldest half-open
// connection makes room for it.
func TestConnectionBounds(t *testing.T) {
	const perAddr, total = 4, 12
	srv := startServer(t, httpflv.Options{MaxConns: total, MaxConnsPerAddr: perAddr, HeaderTimeout: 10 * time.Minute})
	addr := srv.Addr().String()

	var flood []net.Conn
	for range perAddr + 6 {
		flood = append(flood, dialFrom(t, 2, addr))
	}
	closed := func(cs []net.Conn) (n int) {
		for _, c := range cs {
			if closedByServer(c) {
				n++
			}
		}
		return n
	}
	waitFor(t, "the connections over the per-address bound to be closed", 30*time.Second, func() bool { return closed(flood) >= 6 })
	if n := closed(flood); n != 6 {
		t.Fatalf("%d of %d connections from one address closed, want %d (bound %d)", n, len(flood), 6, perAddr)
	}
	var held []net.Conn
	for _, c := range flood {
		if !closedByServer(c) {
			held = append(held, c)
		}
	}
	// Fill the total bound from two more addresses.
	for n := byte(3); n <= 4; n++ {
		for range perAddr {
			held = append(held, dialFrom(t, n, addr))
		}
	}
	// A viewer: its request is served although every place was taken.
	viewer := dialFrom(t, 1, addr)
	io.WriteString(viewer, "GET /status HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	viewer.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(viewer), nil)
	if err != nil {
		t.Fatalf("the viewer got no /status with %d half-open connections held: %v", len(held), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the viewer's /status: %s", resp.Status)
	}
	if !closedByServer(held[0]) {
		t.Error("the oldest half-open connection was not closed to make room")
	}
	if n := closed(held[1:]); n != 0 {
		t.Errorf("%d other half-open connections closed, want 0", n)
	}
}

// TestRefusalLogBounded: requests that anyone can send (a wrong token, a 1 MB or 8 KB path)
// make a bounded log: few lines, each short.
func TestRefusalLogBounded(t *testing.T) {
	logs := &syncWriter{w: &bytes.Buffer{}}
	// The connection bounds are not what this test is about: the server holds a
	// connection whose request it did not read whole for a moment after it answered.
	srv := startServer(t, httpflv.Options{MaxConns: 1 << 12, MaxConnsPerAddr: 1 << 12, Token: "s3cret-T0ken", Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	start := time.Now()
	for _, size := range []int{1 << 20, 8 << 10} {
		path := "/" + strings.Repeat("a", size)
		// In rounds of 16 at once: the server waits a moment before it closes a
		// connection whose request it did not read whole.
		for range 200 / 16 {
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					c := dialFrom(t, 1, srv.Addr().String())
					defer c.Close()
					// The server may answer and close before it has read 1 MB.
					go io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
					c.SetReadDeadline(time.Now().Add(30 * time.Second))
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Errorf("GET of a %d-byte path: %v", size, err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						t.Errorf("GET of a %d-byte path without a token: %s", size, resp.Status)
					}
				})
			}
			wg.Wait()
		}
	}
	// The refusals are rate-limited: a few at once, then one per 10 s.
	maxLines := 5 + int(time.Since(start)/(10*time.Second)) + 1
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) > maxLines {
		t.Errorf("400 refused requests logged %d lines (%d bytes), want at most %d", len(lines), len(logs.String()), maxLines)
	}
	for _, l := range lines {
		if len(l) > 400 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
			break
		}
	}
	if !strings.Contains(logs.String(), "without a valid token") {
		t.Errorf("the log does not say requests were refused:\n%.2000s", logs.String())
	}
}

// TestDNSRebinding: without a token, a request whose Host is a name other than localhost
// or the one the server listens on (what a page on a rebound name sends) is refused; an IP
// literal and localhost are served.
func TestDNSRebinding(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	media.Feed(context.Background(), srv)(&media.AccessUnit{NALUs: [][]byte{testSPS(t), {0x68, 0xce, 0x3c, 0x80}, {0x65, 0}}, Keyframe: true})
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	get := func(host, path string) (int, []byte, http.Header) {
		c := dialFrom(t, 1, srv.Addr().String())
		defer c.Close()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s with Host %s: %v", path, host, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 && path == "/live.flv" {
			return resp.StatusCode, nil, resp.Header // the stream would not end
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, b, resp.Header
	}
	for _, host := range []string{"rebind.attacker.example", "rebind.attacker.example:" + port, "localhost.attacker.example:" + port} {
		for _, path := range []string{"/", "/live.flv", "/status"} {
			code, body, _ := get(host, path)
			if code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %s: %d, want %d", path, host, code, http.StatusMisdirectedRequest)
			}
			if bytes.Contains(body, []byte("FLV")) || bytes.Contains(body, []byte("<canvas")) || bytes.Contains(body, []byte("live")) {
				t.Errorf("GET %s with Host %s: the body gives the stream away: %.80q", path, host, body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LOCALHOST", "localhost.", "[::1]:" + port} {
		if code, _, _ := get(host, "/status"); code != 200 {
			t.Errorf("GET /status with Host %s: %d, want 200", host, code)
		}
	}
	if code, _, h := get("localhost:"+port, "/live.flv"); code != 200 || h.Get("Content-Type") != "video/x-flv" {
		t.Errorf("GET /live.flv with Host localhost: %d %q", code, h.Get("Content-Type"))
	}
}

// TestNosniff: every response carries X-Content-Type-Options: nosniff, the stream too.
func TestNosniff(t *testing.T) {
	for _, token := range []string{"", "s3cret-T0ken"} {
		srv := startServer(t, httpflv.Options{Token: token})
		base := "http://" + srv.Addr().String()
		q := ""
		if token != "" {
			q = "?token=" + token
		}
		paths := []string{"/" + q, "/status" + q, "/nothing" + q, "/live.flv" + q}
		if token != "" {
			paths = append(paths, "/", "/live.flv")
		}
		for _, p := range paths {
			resp, err := http.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s (token %v): %s with X-Content-Type-Options %q", p, token != "", resp.Status, got)
			}
		}
		media.Feed(context.Background(), srv)(&media.AccessUnit{NALUs: [][]byte{testSPS(t), {0x68, 0xce, 0x3c, 0x80}, {0x65, 0}}, Keyframe: true})
		resp, err := http.Get(base + "/live.flv" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); resp.StatusCode != 200 || got != "nosniff" {
			t.Errorf("GET /live.flv while live (token %v): %s with X-Content-Type-Options %q", token != "", resp.Status, got)
		}
	}
}

// BenchmarkHalfOpen measures what HALF_OPEN (default 6000) connections that never send a
// request cost the process (server and client ends together): the growth of VmRSS, with
// the default bounds and, for comparison, with none (MaxConns=1e6, as before the bounds).
// Then it times a viewer's /status. Run it alone: go test -run=^$ -bench=HalfOpen -benchtime=1x.
func BenchmarkHalfOpen(b *testing.B) {
	n := 6000
	if s := os.Getenv("HALF_OPEN"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, bc := range []struct {
		name string
		opts httpflv.Options
	}{
		{"bounded", httpflv.Options{}},
		{"unbounded", httpflv.Options{MaxConns: 1e6, MaxConnsPerAddr: 1e6}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				before := vmRSS(b)
				srv := startServer(b, bc.opts)
				addr := srv.Addr().String()
				conns := make([]net.Conn, 0, n)
				for i := range n {
					// From 200 addresses, as a distributed flood would come.
					conns = append(conns, dialFrom(b, byte(2+i%200), addr))
				}
				time.Sleep(time.Second) // let the server accept them all
				after := vmRSS(b)
				start := time.Now()
				resp, err := http.Get("http://" + addr + "/status")
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-status")
				b.ReportMetric(float64(after-before)/(1<<20), "MB-rss")
				for _, c := range conns {
					c.Close()
				}
			}
		})
	}
}

func vmRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	tb.Skip("no VmRSS")
	return 0
}
