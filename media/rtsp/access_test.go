package rtsp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// ffprobeStream asks ffprobe for the video stream of url: "WIDTHxHEIGHT", or its error
// output.
func ffprobeStream(t testing.TB, url string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.New(strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// TestPasswordRequired: with credentials set, a reader without them or with a wrong
// password is refused (401), one with them reads; the password is never logged.
func TestPasswordRequired(t *testing.T) {
	peers.Require(t, "ffprobe")
	var logs peers.LogBuffer
	const password = "s3cret-Pa55"
	srv := startServer(t, rtsp.Options{Username: "viewer", Password: password,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	startFeeder(t, srv, testsrc.Options{})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	withCredentials := func(user, pass string) string {
		return strings.Replace(srv.URL(), "rtsp://", "rtsp://"+user+":"+pass+"@", 1)
	}
	for _, c := range []struct{ name, url string }{
		{"none", srv.URL()},
		{"wrong password", withCredentials("viewer", "guess")},
		{"wrong user", withCredentials("admin", password)},
	} {
		if got, err := ffprobeStream(t, c.url); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: ffprobe read %q (%v), want 401 Unauthorized", c.name, got, err)
		}
	}
	if got, err := ffprobeStream(t, withCredentials("viewer", password)); err != nil || got != "640x360" {
		t.Errorf("with the credentials: %q, %v; want 640x360", got, err)
	}
	// HTTP Basic, as some cameras' clients send it at once, and a wrong one.
	for _, c := range []struct {
		credentials, want string
	}{{"viewer:" + password, "RTSP/1.0 200 OK"}, {"viewer:guess", "RTSP/1.0 401 Unauthorized"}} {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		status, _ := rtspRequest(t, conn, bufio.NewReader(conn), "DESCRIBE", srv.URL(), 1,
			"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(c.credentials)))
		conn.Close()
		if status != c.want {
			t.Errorf("DESCRIBE with Basic %q: %s, want %s", strings.Split(c.credentials, ":")[1], status, c.want)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "wrong username or password") {
		t.Errorf("no refusal logged:\n%s", logs.String())
	}
}

// TestBeyondLoopbackNeedsCredentials: an address beyond loopback without credentials is
// ErrCredentialsRequired (the node exits 2 on it); loopback needs none.
func TestBeyondLoopbackNeedsCredentials(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		if _, err := rtsp.Listen(rtsp.Options{Addr: addr}); !errors.Is(err, rtsp.ErrCredentialsRequired) {
			t.Errorf("Listen(%q) = %v, want ErrCredentialsRequired", addr, err)
		}
	}
	for _, o := range []rtsp.Options{{Addr: "127.0.0.1"}, {Addr: "127.0.0.1:http"}, {Addr: "127.0.0.1:0", Username: "u"},
		{Addr: "127.0.0.1:0", UDPPort: 5001}} {
		if _, err := rtsp.Listen(o); err == nil || errors.Is(err, rtsp.ErrCredentialsRequired) {
			t.Errorf("Listen(%+v) = %v, want an error naming the bad setting", o, err)
		}
	}
	srv := startServer(t, rtsp.Options{Addr: "localhost:0"})
	if rtp, rtcp := srv.UDPPorts(); rtp%2 != 0 || rtcp != rtp+1 || rtp == 0 {
		t.Errorf("UDP ports %d, %d: want an even RTP port and RTCP next to it", rtp, rtcp)
	}
}

// TestStreamsComeAndGo: between streams a player is told there is none (404 with the
// reason); a reader of a stream that ends gets the end (ffmpeg exits); the next stream,
// at another size, gets its own description.
func TestStreamsComeAndGo(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	srv := startServer(t, rtsp.Options{})
	if _, err := ffprobeStream(t, srv.URL()); err == nil || !strings.Contains(err.Error(), "404 Not Found (no live stream now") {
		t.Errorf("before the stream: %v, want 404 with the reason", err)
	}
	f := startFeeder(t, srv, testsrc.Options{})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	if got, err := ffprobeStream(t, srv.URL()); err != nil || got != "640x360" {
		t.Fatalf("first stream: %q, %v; want 640x360", got, err)
	}
	// Readers that would read for minutes, over TCP and over UDP, end when the stream does.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ended := make(chan string, 2)
	for _, transport := range []string{"tcp", "udp"} {
		reader := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-i", srv.URL(),
			"-map", "0", "-c", "copy", "-t", "300", "-f", "null", "-")
		if err := reader.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { reader.Wait(); ended <- transport }()
	}
	waitFor(t, "the readers to play", 60*time.Second, func() bool { return srv.Stats().Readers == 2 })
	f.close()
	for range 2 {
		select {
		case <-ended:
		case <-time.After(60 * time.Second):
			t.Fatal("a reader did not end with the stream")
		}
	}
	if st := srv.Stats(); st.Live || st.Readers != 0 {
		t.Errorf("after the stream: %+v, want not live, no readers", st)
	}
	if _, err := ffprobeStream(t, srv.URL()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("between streams: %v, want 404", err)
	}
	startFeeder(t, srv, testsrc.Options{Width: 320, Height: 240})
	waitFor(t, "the second stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	if got, err := ffprobeStream(t, srv.URL()); err != nil || got != "320x240" {
		t.Errorf("second stream: %q, %v; want 320x240", got, err)
	}
}

// TestOptionsHideThePassword: printed or logged, Options never show the password.
func TestOptionsHideThePassword(t *testing.T) {
	o := rtsp.Options{Addr: ":8554", Username: "viewer", Password: "s3cret-Pa55"}
	var logs peers.LogBuffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("rtsp", "options", o)
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), logs.String()} {
		if strings.Contains(s, o.Password) || !strings.Contains(s, "viewer") || !strings.Contains(s, "REDACTED") {
			t.Errorf("%s: want the username and the password hidden", s)
		}
	}
}
