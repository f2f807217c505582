package rtmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// streamName makes a stream name unique per test and run: nginx's record_unique names files
// by the second, and a name reused within a second overwrites.
func streamName(t testing.TB) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
}

// checkRecording asserts that a recording holds exactly the n frames publish sent, decodable,
// first a keyframe, keyframes where the clip has them, DTS strictly increasing and spaced
// as sent (whatever base the recorder rebased them to).
func checkRecording(t *testing.T, path string, clip *testClip, n int) {
	t.Helper()
	v := peers.ProbeVideo(t, path)
	if v.Codec != "h264" || v.Width != clipWidth || v.Height != clipHeight {
		t.Errorf("%s: %s %dx%d, want h264 %dx%d", filepath.Base(path), v.Codec, v.Width, v.Height, clipWidth, clipHeight)
	}
	if v.DecodeErrors != "" {
		t.Errorf("%s: decode errors: %s", filepath.Base(path), v.DecodeErrors)
	}
	if v.Frames != n || len(v.Packets) != n {
		t.Fatalf("%s: %d frames decoded, %d packets; want %d", filepath.Base(path), v.Frames, len(v.Packets), n)
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Errorf("%s: DTS not increasing at packet %d: %v then %v", filepath.Base(path), i, v.Packets[i-1].DTS, v.Packets[i].DTS)
	}
	for i, p := range v.Packets {
		want := time.Duration(frameTime(0, i)) * time.Millisecond
		if got := p.DTS - v.Packets[0].DTS; got != want {
			t.Errorf("%s: packet %d at +%v, want +%v", filepath.Base(path), i, got, want)
			break
		}
		if p.Keyframe != clip.keyframes[i%len(clip.keyframes)] {
			t.Errorf("%s: packet %d keyframe=%v, want %v", filepath.Base(path), i, p.Keyframe, !p.Keyframe)
			break
		}
	}
}

func TestPublishToNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := loadClip(t)
	stream := streamName(t)
	c, err := Dial(context.Background(), ng.URL(stream), Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clip.publish(t, c, 0, clipFrames)
	if c.BytesWritten() < uint64(len(clip.frames)*200) {
		t.Errorf("BytesWritten = %d after %d frames", c.BytesWritten(), clipFrames)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.WriteVideo(0, clip.frames[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteVideo after Close = %v, want ErrClosed", err)
	}
	recs := ng.WaitPublishEnded(t, stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], clip, clipFrames)
}

// crossingBase puts the first frame 5216 ms before 2^24 ms (4 h 39 min 37 s of streaming),
// so that 10 s of stream time crosses the point where timestamps need the extended field.
const crossingBase = 16_772_000

// crossingFrames is 10 s at 30 fps.
const crossingFrames = 300

// crossingChunkSize makes nearly every frame span several chunks, so that type 3
// continuation chunks carry extended timestamps.
const crossingChunkSize = 128

// assertCrossingExercised makes sure the crossing tests send what they are about: many
// frames past 0xFFFFFF that take more than one chunk.
func assertCrossingExercised(t *testing.T, clip *testClip) {
	t.Helper()
	n := 0
	for i := range crossingFrames {
		if frameTime(crossingBase, i) >= 0xffffff && len(clip.frames[i%len(clip.frames)]) > crossingChunkSize {
			n++
		}
	}
	if frameTime(crossingBase, 0) >= 1<<24 || frameTime(crossingBase, crossingFrames-1) <= 1<<24 || n < 100 {
		t.Fatalf("test does not cross 2^24 with multi-chunk frames: %d such frames", n)
	}
}

func TestTimestampsCross2p24IntoNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := loadClip(t)
	assertCrossingExercised(t, clip)
	stream := streamName(t)
	c, err := Dial(context.Background(), ng.URL(stream), Options{Timeout: 5 * time.Second, ChunkSize: crossingChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	clip.publish(t, c, crossingBase, crossingFrames)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	recs := ng.WaitPublishEnded(t, stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], clip, crossingFrames)
}

// TestTimestampsCross2p24IntoFFmpeg has ffmpeg's own RTMP server (a second, independent
// chunk reader) record the same stream. ffmpeg keeps the timestamps, so the recording itself
// crosses 2^24 ms.
func TestTimestampsCross2p24IntoFFmpeg(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	clip := loadClip(t)
	assertCrossingExercised(t, clip)
	port := peers.FreePort(t)
	out := filepath.Join(t.TempDir(), "ffmpeg.flv")
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/crossing", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-listen", "1", "-i", url,
		"-c", "copy", "-copyts", "-y", out)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// ffmpeg accepts exactly one connection, so no port probe: retry Dial until it listens.
	var c *Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		c, err = Dial(ctx, url, Options{Timeout: 5 * time.Second, ChunkSize: crossingChunkSize})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg -listen never accepted a publish: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	clip.publish(t, c, crossingBase, crossingFrames)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ffmpeg did not finish after the publisher closed")
	}
	checkRecording(t, out, clip, crossingFrames)
	if v := peers.ProbeVideo(t, out); v.Packets[len(v.Packets)-1].DTS < time.Duration(1<<24)*time.Millisecond {
		t.Errorf("ffmpeg recording ends at %v; want the original timestamps past 2^24 ms", v.Packets[len(v.Packets)-1].DTS)
	}
}

func TestNginxRefusals(t *testing.T) {
	ng := peers.StartNginx(t)
	const key = "K3y-SECRET"
	tests := []struct {
		name string
		url  string
	}{
		{"unknown app", "rtmp://" + ng.Addr() + "/nosuchapp/" + key + "?token=SECRETQUERY"},
		{"publish denied", "rtmp://" + ng.Addr() + "/closed/" + key + "?token=SECRETQUERY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.url, Options{Timeout: 3 * time.Second})
			if err == nil {
				// nginx-rtmp's live module answers NetStream.Publish.Start before its access
				// module refuses and drops the connection: then Dial succeeds and the reader
				// reports the refusal at once.
				select {
				case <-c.Done():
					err = c.Err()
				case <-time.After(3 * time.Second):
					t.Fatal("Dial succeeded and the server kept the connection")
				}
				c.Close()
				if err == nil {
					t.Fatal("Dial succeeded, the connection ended, Err is nil")
				}
			}
			// nginx says nothing, it only closes: that must still count as a refusal, so
			// that the publisher does not retry in a hot loop.
			if !errors.Is(err, ErrRefused) || !IsRefused(err) {
				t.Errorf("error %q does not wrap ErrRefused", err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the key or query: %v", err)
			}
			if !strings.Contains(err.Error(), "/****") {
				t.Errorf("error %q does not name the redacted URL", err)
			}
		})
	}

	t.Run("stream already published", func(t *testing.T) {
		url := ng.URL(streamName(t) + key)
		first, err := Dial(context.Background(), url, Options{Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		_, err = Dial(context.Background(), url, Options{Timeout: 3 * time.Second})
		var se *StatusError
		if !errors.As(err, &se) || se.Level != "error" || se.Code != "NetStream.Publish.BadName" || !IsRefused(err) {
			t.Fatalf("second publish: %v, want a *StatusError NetStream.Publish.BadName", err)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error shows the key: %v", err)
		}
	})
}

// TestServerDiesWhilePublishing kills nginx under a publishing Conn: the reader goroutine
// notices without any write, and the next write fails at once with that cause.
func TestServerDiesWhilePublishing(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := loadClip(t)
	c, err := Dial(context.Background(), ng.URL(streamName(t)), Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clip.publish(t, c, 0, 10)
	// A close sooner than this after the publish counts as a refusal (see ErrRefused).
	time.Sleep(RefusalWindow)
	if c.Err() != nil {
		t.Fatalf("Err before the server died: %v", c.Err())
	}
	ng.Kill()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not notice the server died")
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "closed by server") || IsRefused(err) {
		t.Errorf("Err = %v, want connection closed by server, not a refusal", err)
	}
	if err := c.WriteVideo(frameTime(0, 10), clip.frames[10]); err == nil {
		t.Error("WriteVideo after the server died succeeded")
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
}

// selfSignedCert makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "camnode test ingest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startTLSProxy terminates TLS on a free port and forwards to backend, as an rtmps ingest
// (or stunnel in front of nginx) does.
func startTLSProxy(t *testing.T, cert tls.Certificate, backend string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			front, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer front.Close()
				back, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer back.Close()
				go func() {
					io.Copy(back, front)
					back.(*net.TCPConn).CloseWrite()
				}()
				io.Copy(front, back)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestRTMPS(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := loadClip(t)
	cert, pool := selfSignedCert(t)
	proxy := startTLSProxy(t, cert, ng.Addr())

	stream := streamName(t)
	url := "rtmps://" + proxy + "/live/" + stream
	_, err := Dial(context.Background(), url, Options{Timeout: 3 * time.Second})
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("Dial without the CA: %v, want a certificate verification error", err)
	}
	if err != nil && strings.Contains(err.Error(), stream) {
		t.Errorf("error shows the stream key: %v", err)
	}

	c, err := Dial(context.Background(), url, Options{Timeout: 3 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	clip.publish(t, c, 0, clipFrames)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	recs := ng.WaitPublishEnded(t, stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], clip, clipFrames)
}
