package ingest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/flv"
)

// The test clip: 60 frames of 320x240 baseline H.264 at 25 fps, a keyframe every 25.
const (
	clipFrames = 60
	clipWidth  = 320
	clipHeight = 240
)

var (
	clipDir  string
	clipOnce sync.Once
	clipErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ingest-test-")
	if err != nil {
		panic(err)
	}
	clipDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clip returns the path of the raw H.264 test clip, made once per test run with ffmpeg.
func clip(t testing.TB) string {
	t.Helper()
	peers.Require(t, "ffmpeg", "ffprobe")
	path := filepath.Join(clipDir, "clip.h264")
	clipOnce.Do(func() {
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
			"-i", "testsrc=size=320x240:rate=25", "-frames:v", "60", "-c:v", "libx264", "-preset", "ultrafast",
			"-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25", "-f", "h264", path).CombinedOutput()
		if err != nil {
			clipErr = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if clipErr != nil {
		t.Fatalf("make test clip: %v", clipErr)
	}
	return path
}

// serve starts an ingest on a free loopback port recording into a fresh directory; it stops
// when the test ends (and the test fails if Serve then returns an error). Finished
// recordings arrive on the returned channel.
func serve(t testing.TB, opts Options) (*Server, <-chan Recording) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	done := make(chan Recording, 64)
	opts.OnRecording = func(r Recording) { done <- r }
	s, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, done
}

func rtmpURL(s *Server, path string) string { return "rtmp://" + s.Addr().String() + "/" + path }

// publishClip pushes the clip with ffmpeg, as fast as it can, and waits for ffmpeg to end.
func publishClip(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", clip(t),
		"-c", "copy", "-f", "flv", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
}

func waitRecording(t *testing.T, done <-chan Recording) Recording {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no recording finished within 10 s")
		return Recording{}
	}
}

// readFLV reads a whole recording with the flv package's checking reader.
func readFLV(t *testing.T, path string) (flv.FileHeader, []flv.Tag) {
	t.Helper()
	hdr, tags, err := flv.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return hdr, tags
}

func countTags(tags []flv.Tag, tagType byte) int {
	n := 0
	for _, tag := range tags {
		if tag.Type == tagType {
			n++
		}
	}
	return n
}

// handshake performs the plain RTMP handshake as a client: C0+C1, read S0+S1+S2, echo S1 as C2.
func handshake(t testing.TB, c net.Conn) {
	t.Helper()
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	rand.Read(c0c1[9:])
	if _, err := c.Write(c0c1); err != nil {
		t.Fatalf("write C0+C1: %v", err)
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("read S0+S1+S2: %v", err)
	}
	if _, err := c.Write(s[1 : 1+1536]); err != nil {
		t.Fatalf("write C2: %v", err)
	}
}

// waitClosedByServer reads until the server closes the connection; it fails the test when
// the server keeps it open for 10 s.
func waitClosedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

// RTMP message type ids (RTMP spec 5.4, 7.1).
const (
	rtmpAudio   = 8
	rtmpVideo   = 9
	rtmpData    = 18 // AMF0 data message
	rtmpCommand = 20 // AMF0 command message
)

// appendMessage appends one RTMP message as chunks of the default 128-byte chunk size.
func appendMessage(dst []byte, csid, typeID byte, streamID, timestamp uint32, payload []byte) []byte {
	return appendChunks(dst, 128, csid, typeID, streamID, timestamp, payload)
}

// appendChunks appends one RTMP message as chunks of chunkSize bytes:
//
//	first chunk: 0x00|csid  timestamp(3, BE)  length(3, BE)  type(1)  stream id(4, LE)
//	             [extended timestamp(4, BE) when timestamp >= 0xffffff]  <=chunkSize bytes
//	the rest:    0xC0|csid  <=chunkSize bytes
//
// Like go-rtmp's reader (and unlike the spec), type-3 chunks carry no extended timestamp.
func appendChunks(dst []byte, chunkSize int, csid, typeID byte, streamID, timestamp uint32, payload []byte) []byte {
	n := len(payload)
	ts := min(timestamp, 0xffffff)
	dst = append(dst, csid&0x3f,
		byte(ts>>16), byte(ts>>8), byte(ts),
		byte(n>>16), byte(n>>8), byte(n), typeID,
		byte(streamID), byte(streamID>>8), byte(streamID>>16), byte(streamID>>24))
	if ts == 0xffffff {
		dst = binary.BigEndian.AppendUint32(dst, timestamp)
	}
	for off := 0; ; {
		end := min(off+chunkSize, n)
		dst = append(dst, payload[off:end]...)
		off = end
		if off >= n {
			return dst
		}
		dst = append(dst, 0xc0|csid&0x3f)
	}
}

// appendCommand appends an AMF0 command message on chunk stream 3: name, transaction id,
// a null command object, then args (already AMF0-encoded).
func appendCommand(dst []byte, streamID uint32, name string, transaction float64, args []byte) []byte {
	body := flv.AppendAMFString(nil, name)
	body = flv.AppendAMFNumber(body, transaction)
	body = flv.AppendAMFNull(body)
	return appendMessage(dst, 3, rtmpCommand, streamID, 0, append(body, args...))
}

func appendConnect(dst []byte, app string) []byte {
	body := flv.AppendAMFString(nil, "connect")
	body = flv.AppendAMFNumber(body, 1)
	body = flv.AppendAMFObjectStart(body)
	body = flv.AppendAMFKey(body, "app")
	body = flv.AppendAMFString(body, app)
	body = flv.AppendAMFKey(body, "type")
	body = flv.AppendAMFString(body, "nonprivate")
	body = flv.AppendAMFKey(body, "tcUrl")
	body = flv.AppendAMFString(body, "rtmp://127.0.0.1/"+app)
	body = flv.AppendAMFObjectEnd(body)
	return appendMessage(dst, 3, rtmpCommand, 0, 0, body)
}

// appendTag appends an FLV tag body as the RTMP message that carries it: a script tag body
// (AMF0 name, values) is exactly a data message's payload.
func appendTag(dst []byte, streamID uint32, tagType byte, timestamp uint32, body []byte) []byte {
	typeID := map[byte]byte{flv.TagAudio: rtmpAudio, flv.TagVideo: rtmpVideo, flv.TagScript: rtmpData}[tagType]
	return appendMessage(dst, 4, typeID, streamID, timestamp, body)
}

// publisher is a hand-written RTMP publisher for tests that need exact control over the
// messages. It writes without waiting for replies (the server handles messages in order)
// and drains what the server sends.
type publisher struct {
	c        net.Conn
	streamID uint32
	streams  map[uint32]bool // ids the server has handed out, to predict the next one
}

func dialPublisher(t *testing.T, s *Server, app, name string) *publisher {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	handshake(t, c)
	go io.Copy(io.Discard, c)
	p := &publisher{c: c, streams: map[uint32]bool{}}
	p.write(t, appendConnect(nil, app))
	p.publish(t, name)
	return p
}

func (p *publisher) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.c.Write(b); err != nil {
		t.Fatalf("write to ingest: %v", err)
	}
}

// publish creates a stream and publishes name on it. go-rtmp gives out the lowest free
// stream id from 1.
func (p *publisher) publish(t *testing.T, name string) {
	t.Helper()
	id := uint32(1)
	for p.streams[id] {
		id++
	}
	p.streams[id], p.streamID = true, id
	b := appendCommand(nil, 0, "createStream", 2, nil)
	b = appendCommand(b, id, "publish", 0, flv.AppendAMFString(flv.AppendAMFString(nil, name), "live"))
	p.write(t, b)
}

func (p *publisher) send(t *testing.T, tagType byte, timestamp uint32, body []byte) {
	t.Helper()
	p.write(t, appendTag(nil, p.streamID, tagType, timestamp, body))
}

func (p *publisher) deleteStream(t *testing.T) {
	t.Helper()
	delete(p.streams, p.streamID)
	p.write(t, appendCommand(nil, 0, "deleteStream", 0, flv.AppendAMFNumber(nil, float64(p.streamID))))
}
