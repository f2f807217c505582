package httpflv

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzRequest sends any request that net/http parses through the server's handlers (the
// guard, the token check, the routes), with and without a token: none panics, the token
// shows in no response and no log line, and no log line is longer than a bound, whatever
// the path or Host.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
		"GET /live.flv?token=s3cret-T0ken HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Bearer s3cret-T0ke\r\n\r\n",
		"HEAD /live.flv HTTP/1.0\r\n\r\n",
		"GET /" + strings.Repeat("%e2%80%8b", 40) + " HTTP/1.1\r\nHost: localhost.\r\n\r\n",
		"GET /\xff\xfe HTTP/1.1\r\nHost: \xe2\x80\x8blocalhost\r\n\r\n",
	} {
		f.Add(seed)
	}
	const token = "s3cret-T0ken"
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var servers []*Server
	for _, tok := range []string{"", token} {
		s, err := Listen(Options{Addr: "127.0.0.1:0", Token: tok, Logger: logger})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { s.ln.Close() })
		// The fuzzer is faster than the rate limit: let every refusal reach the log.
		var clock time.Time
		s.refused.now = func() time.Time { clock = clock.Add(refusalEvery); return clock }
		servers = append(servers, s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:50000"
		for _, s := range servers {
			mu.Lock()
			logs.Reset()
			mu.Unlock()
			rec := httptest.NewRecorder()
			s.http.Handler.ServeHTTP(rec, req)
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%q: X-Content-Type-Options %q", raw, got)
			}
			if rec.Code != http.StatusUnauthorized && s.opts.Token != "" && !strings.ContainsAny(raw, "%+") && !strings.Contains(raw, token) {
				t.Errorf("%q: served (%d) without the token", raw, rec.Code)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Errorf("%q: the response shows the token", raw)
			}
			mu.Lock()
			out := logs.String()
			mu.Unlock()
			if strings.Contains(out, token) && !strings.Contains(req.URL.Path+req.Host, token) {
				t.Errorf("%q: the log shows the token: %s", raw, out)
			}
			for _, line := range strings.Split(out, "\n") {
				if len(line) > 600 {
					t.Errorf("%q: a log line of %d bytes", raw, len(line))
				}
			}
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
