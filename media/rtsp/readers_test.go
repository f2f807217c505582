package rtsp_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// player is one reader through gortsplib's own client over TCP, counting the RTP packets
// it receives: lighter than an ffmpeg per reader where many play at once.
type player struct {
	client  *gortsplib.Client
	packets atomic.Int64
}

func play(t testing.TB, url string) (*player, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	p := &player{client: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}}
	if err := p.client.Start(); err != nil {
		return nil, err
	}
	desc, _, err := p.client.Describe(u)
	if err == nil {
		err = p.client.SetupAll(desc.BaseURL, desc.Medias)
	}
	if err == nil {
		p.client.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { p.packets.Add(1) })
		_, err = p.client.Play(nil)
	}
	if err != nil {
		p.client.Close()
		return nil, err
	}
	t.Cleanup(p.client.Close)
	return p, nil
}

// TestSeventeenthReaderRefused: 16 readers play; the 17th is refused with 503 and the
// reason, and the 16 keep playing; once one leaves, a new one gets in.
func TestSeventeenthReaderRefused(t *testing.T) {
	peers.Require(t, "ffprobe")
	srv := startServer(t, rtsp.Options{})
	startFeeder(t, srv, testsrc.Options{Width: 320, Height: 240})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	var players []*player
	for i := range rtsp.DefaultMaxReaders {
		p, err := play(t, srv.URL())
		if err != nil {
			t.Fatalf("reader %d: %v", i+1, err)
		}
		players = append(players, p)
	}
	waitFor(t, "16 readers to play", 60*time.Second, func() bool { return srv.Stats().Readers == 16 })
	_, err := ffprobeStream(t, srv.URL())
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable (camnode serves at most 16 readers)") {
		t.Errorf("the 17th reader: %v, want 503 with the reason", err)
	}
	before := make([]int64, len(players))
	for i, p := range players {
		before[i] = p.packets.Load()
	}
	for i, p := range players {
		waitFor(t, fmt.Sprint("reader ", i+1, " to keep receiving"), 60*time.Second, func() bool { return p.packets.Load() > before[i]+30 })
	}
	players[0].client.Close()
	waitFor(t, "the reader to leave", 60*time.Second, func() bool { return srv.Stats().Readers == 15 })
	if got, err := ffprobeStream(t, srv.URL()); err != nil || got != "320x240" {
		t.Errorf("a reader after one left: %q, %v; want 320x240", got, err)
	}
	if st := srv.Stats(); st.Joined != 17 || st.Cut != 0 {
		t.Errorf("stats %+v: want 17 joined, none cut", st)
	}
}

// rtspRequest writes one request and reads its response: status line, headers, and the
// body that Content-Length announces.
func rtspRequest(t testing.TB, c net.Conn, r *bufio.Reader, method, url string, cseq int, headers ...string) (string, map[string]string) {
	t.Helper()
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, cseq, strings.Join(append(headers, ""), "\r\n"))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	status, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	h := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			h[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	if n, _ := strconv.Atoi(h["content-length"]); n > 0 {
		body := make([]byte, n)
		if _, err := r.Read(body); err != nil {
			t.Fatalf("%s body: %v", method, err)
		}
	}
	return strings.TrimSpace(status), h
}

// TestStalledReaderIsDropped: a TCP reader that stops reading (a tiny receive window,
// then nothing read) is dropped and counted in Cut, while another reader keeps receiving
// all along and the stream goes on.
func TestStalledReaderIsDropped(t *testing.T) {
	srv := startServer(t, rtsp.Options{ReaderQueue: 64})
	f := startFeeder(t, srv, testsrc.Options{Width: 640, Height: 360, Bitrate: 3_000_000, GOP: 10})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	steady, err := play(t, srv.URL())
	if err != nil {
		t.Fatal(err)
	}

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if status, _ := rtspRequest(t, c, r, "DESCRIBE", srv.URL(), 1, "Accept: application/sdp"); status != "RTSP/1.0 200 OK" {
		t.Fatalf("DESCRIBE: %s", status)
	}
	status, h := rtspRequest(t, c, r, "SETUP", srv.URL()+"/trackID=0", 2, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
	if status != "RTSP/1.0 200 OK" {
		t.Fatalf("SETUP: %s", status)
	}
	session, _, _ := strings.Cut(h["session"], ";")
	if status, _ := rtspRequest(t, c, r, "PLAY", srv.URL()+"/", 3, "Session: "+session); status != "RTSP/1.0 200 OK" {
		t.Fatalf("PLAY: %s", status)
	}
	// From here on the stalled reader reads nothing.
	waitFor(t, "the stalled reader to be dropped", 120*time.Second, func() bool { return srv.Stats().Cut == 1 })
	before, frames := steady.packets.Load(), f.frames.Load()
	waitFor(t, "the steady reader to keep receiving", 60*time.Second, func() bool { return steady.packets.Load() > before+100 })
	if st := srv.Stats(); st.Readers != 1 || f.frames.Load() <= frames {
		t.Errorf("stats %+v: want the steady reader alone, and the stream going on", st)
	}
}
