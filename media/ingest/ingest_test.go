package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/flv"
)

// An ffmpeg publish is recorded to <stream>-<unixtime>.flv, which ffprobe decodes to the
// clip: same codec, size and frame count, starting on a keyframe, and what the Recording
// says matches the file.
func TestRecordsFFmpegPublish(t *testing.T) {
	s, done := serve(t, Options{})
	publishClip(t, rtmpURL(s, "live/test"))
	rec := waitRecording(t, done)

	if ok, _ := regexp.MatchString(`^test-\d{10}\.flv$`, filepath.Base(rec.Path)); !ok {
		t.Errorf("recording file name %q, want test-<unixtime>.flv", filepath.Base(rec.Path))
	}
	if rec.App != "live" || rec.Stream != "test" || rec.Ended.IsZero() || rec.Ended.Before(rec.Started) {
		t.Errorf("recording %+v: want app live, stream test, ended after started", rec)
	}

	v := peers.ProbeVideo(t, rec.Path)
	if v.Codec != "h264" || v.Width != clipWidth || v.Height != clipHeight {
		t.Errorf("ffprobe: %s %dx%d, want h264 %dx%d", v.Codec, v.Width, v.Height, clipWidth, clipHeight)
	}
	if v.Frames != clipFrames || len(v.Packets) != clipFrames {
		t.Errorf("ffprobe: %d frames decoded, %d packets; the clip has %d", v.Frames, len(v.Packets), clipFrames)
	}
	if len(v.Packets) > 0 && !v.Packets[0].Keyframe {
		t.Error("first packet is not a keyframe")
	}
	if v.DecodeErrors != "" {
		t.Errorf("ffmpeg decode errors: %s", v.DecodeErrors)
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Errorf("DTS not increasing at packet %d", i)
	}

	hdr, tags := readFLV(t, rec.Path)
	if !hdr.HasVideo || hdr.HasAudio {
		t.Errorf("file header says video=%v audio=%v; the stream had video only", hdr.HasVideo, hdr.HasAudio)
	}
	if tags[0].Type != flv.TagScript || !bytes.HasPrefix(tags[0].Body, flv.AppendAMFString(nil, "onMetaData")) {
		t.Errorf("first tag: type %d body % x..., want the onMetaData script tag", tags[0].Type, tags[0].Body[:min(16, len(tags[0].Body))])
	}
	fi, err := os.Stat(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Bytes != fi.Size() || rec.VideoTags != countTags(tags, flv.TagVideo) || rec.DataTags != 1 || rec.AudioTags != 0 {
		t.Errorf("recording says %d bytes, %d video, %d data, %d audio tags; file has %d bytes, %d video tags",
			rec.Bytes, rec.VideoTags, rec.DataTags, rec.AudioTags, fi.Size(), countTags(tags, flv.TagVideo))
	}
	if !rec.FirstVideoKeyframe || rec.Width != clipWidth || rec.Height != clipHeight {
		t.Errorf("recording: first keyframe %v, size %dx%d from onMetaData", rec.FirstVideoKeyframe, rec.Width, rec.Height)
	}
	if got := s.Recordings(); len(got) != 1 || got[0].Path != rec.Path || got[0].Ended.IsZero() {
		t.Errorf("Recordings() = %+v, want the one finished recording", got)
	}
}

// The ingest records the same video as nginx-rtmp does from the same publish: every video
// tag, byte for byte, with the same timestamps.
func TestRecordsSameVideoAsNginx(t *testing.T) {
	n := peers.StartNginx(t)
	stream := fmt.Sprintf("same%d", time.Now().UnixNano())
	publishClip(t, n.URL(stream))
	nginxRecs := n.WaitPublishEnded(t, stream, 1, 10*time.Second)
	if len(nginxRecs) != 1 {
		t.Fatalf("nginx recordings: %v", nginxRecs)
	}

	s, done := serve(t, Options{})
	publishClip(t, rtmpURL(s, "live/"+stream))
	rec := waitRecording(t, done)

	videoOf := func(path string) []flv.Tag {
		_, tags := readFLV(t, path)
		var video []flv.Tag
		for _, tag := range tags {
			// nginx-rtmp keeps ffmpeg's closing end-of-sequence tag out of its recording.
			if tag.Type == flv.TagVideo && !bytes.Equal(tag.Body, flv.AppendEndOfSequence(nil)) {
				video = append(video, tag)
			}
		}
		return video
	}
	want, got := videoOf(nginxRecs[0]), videoOf(rec.Path)
	if len(got) != len(want) {
		t.Fatalf("%d video tags, nginx-rtmp recorded %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Timestamp != want[i].Timestamp || !bytes.Equal(got[i].Body, want[i].Body) {
			t.Fatalf("video tag %d: %d ms, %d bytes; nginx-rtmp: %d ms, %d bytes",
				i, got[i].Timestamp, len(got[i].Body), want[i].Timestamp, len(want[i].Body))
		}
	}
}

// Two publishes of one stream name within the same second get two files, both complete.
func TestSameStreamTwiceGetsTwoFiles(t *testing.T) {
	s, done := serve(t, Options{})
	clip(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", clip(t), "-c", "copy", "-f", "flv",
				rtmpURL(s, "live/twice")).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("ffmpeg: %v\n%s", err, out)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, b := waitRecording(t, done), waitRecording(t, done)
	if a.Path == b.Path {
		t.Fatalf("both publishes went to %s", a.Path)
	}
	for _, rec := range []Recording{a, b} {
		if v := peers.ProbeVideo(t, rec.Path); v.Frames != clipFrames || v.DecodeErrors != "" {
			t.Errorf("%s: %d frames (want %d), errors %q", filepath.Base(rec.Path), v.Frames, clipFrames, v.DecodeErrors)
		}
	}
}

// Within one second the names go test-<t>.flv, test-<t>-2.flv, test-<t>-3.flv, and an
// existing file is never touched.
func TestRecordingNamesNeverOverwrite(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1732450000, 0)
	var paths []string
	for range 3 {
		r, err := createRecorder(dir, "live", "cam/../../etc/passwd", now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.finish(now); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Base(r.rec.Path))
	}
	want := []string{"cam_.._.._etc_passwd-1732450000.flv", "cam_.._.._etc_passwd-1732450000-2.flv", "cam_.._.._etc_passwd-1732450000-3.flv"}
	if !slices.Equal(paths, want) {
		t.Errorf("names %q, want %q", paths, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want the 3 recordings", len(entries))
	}
}

func TestFileNameIsSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"test", "test"},
		{"cam-1_main.v2", "cam-1_main.v2"},
		{"../../etc/passwd", "_.._etc_passwd"},
		{"..", "stream"},
		{".hidden", "hidden"},
		{"", "stream"},
		{"a/b\\c d", "a_b_c_d"},
		{"直播", "__"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxNameLen)},
	} {
		if got := fileName(tc.in); got != tc.want {
			t.Errorf("fileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every message a publisher sends is recorded as one tag with its timestamp and body:
// @setDataFrame loses its first string and stays onMetaData, onTextData (chat) passes
// through as a script tag, audio and video are copied. deleteStream ends the recording while
// the connection stays open, and the stream key never reaches the log.
func TestRecordsEveryMessageAsATag(t *testing.T) {
	var logs peers.LogBuffer
	s, done := serve(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	p := dialPublisher(t, s, "live?app-token=hush", "chat-sekrit?token=hush")

	meta := flv.AppendMetadata(nil, flv.Metadata{Width: 640, Height: 360, FrameRate: 30, Encoder: "camnode"})
	_, n, _ := flv.DecodeAMF(meta) // "@setDataFrame"
	chat := flv.AppendAMFString(nil, "onTextData")
	chat = flv.AppendAMFObjectStart(chat)
	chat = flv.AppendAMFKey(chat, "text")
	chat = flv.AppendAMFString(chat, "666 弹幕")
	chat = flv.AppendAMFObjectEnd(chat)
	want := []flv.Tag{
		{Type: flv.TagScript, Timestamp: 0, Body: meta[n:]},
		{Type: flv.TagVideo, Timestamp: 0, Body: flv.AppendSequenceHeader(nil, []byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 1, 0x67})},
		{Type: flv.TagVideo, Timestamp: 0, Body: flv.AppendVideoTag(nil, true, 0, [][]byte{{0x65, 0x88, 0x80}})},
		{Type: flv.TagAudio, Timestamp: 10, Body: []byte{0xaf, 0x01, 0x21, 0x10}},
		{Type: flv.TagScript, Timestamp: 33, Body: chat},
		{Type: flv.TagVideo, Timestamp: 33, Body: flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41, 0x9a, 0x02}})},
		{Type: flv.TagVideo, Timestamp: 66, Body: flv.AppendVideoTag(nil, false, 33, [][]byte{{0x41, 0x9a, 0x03}})},
	}
	for _, tag := range want {
		p.send(t, tag.Type, tag.Timestamp, tag.Body)
	}
	p.deleteStream(t)
	rec := waitRecording(t, done)

	hdr, got := readFLV(t, rec.Path)
	if !hdr.HasAudio || !hdr.HasVideo {
		t.Errorf("file header says video=%v audio=%v, want both", hdr.HasVideo, hdr.HasAudio)
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %d tags, sent %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Timestamp != want[i].Timestamp || !bytes.Equal(got[i].Body, want[i].Body) {
			t.Errorf("tag %d: type %d at %d ms, body % x\nsent type %d at %d ms, body % x",
				i, got[i].Type, got[i].Timestamp, got[i].Body, want[i].Type, want[i].Timestamp, want[i].Body)
		}
	}
	if rec.App != "live" || rec.Stream != "chat-sekrit" || !strings.HasPrefix(filepath.Base(rec.Path), "chat-sekrit-") {
		t.Errorf("app %q, stream %q, file %s: want the names without their query", rec.App, rec.Stream, rec.Path)
	}
	if rec.Width != 640 || rec.Height != 360 || !rec.FirstVideoKeyframe || rec.VideoTags != 4 || rec.AudioTags != 1 || rec.DataTags != 2 {
		t.Errorf("recording %+v", rec)
	}

	// The connection is still usable: a second publish on it is a second recording.
	p.publish(t, "chat-sekrit")
	p.send(t, flv.TagVideo, 100, want[1].Body)
	p.deleteStream(t)
	if second := waitRecording(t, done); second.Path == rec.Path || second.VideoTags != 1 {
		t.Errorf("second publish: %+v", second)
	}

	if strings.Contains(logs.String(), "sekrit") || strings.Contains(logs.String(), "hush") {
		t.Errorf("log shows the stream key or a query:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "stream=****") {
		t.Errorf("log does not mention the publish with a redacted key:\n%s", logs.String())
	}
}

// While the publisher is on, the file on disk is always a whole FLV: tags up to a keyframe
// land at once, later ones within about a second, and a dropped connection completes it.
func TestFileIsReadableWhilePublishing(t *testing.T) {
	s, done := serve(t, Options{})
	p := dialPublisher(t, s, "live", "cam")
	p.send(t, flv.TagVideo, 0, flv.AppendSequenceHeader(nil, []byte{1, 0x42, 0xc0, 0x1e}))
	p.send(t, flv.TagVideo, 0, flv.AppendVideoTag(nil, true, 0, [][]byte{{0x65, 1}}))
	p.send(t, flv.TagVideo, 40, flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41, 2}}))

	var recs []Recording
	waitUntil(t, "the recording to appear", func() bool { recs = s.Recordings(); return len(recs) == 1 })
	if !recs[0].Ended.IsZero() {
		t.Fatalf("recording in progress shows as ended: %+v", recs[0])
	}
	// The inter frame is not followed by anything: only the timed flush can bring it to disk.
	waitUntil(t, "3 video tags on disk", func() bool {
		_, tags := readFLV(t, recs[0].Path)
		return countTags(tags, flv.TagVideo) == 3
	})

	p.c.Close() // no deleteStream: the network drops
	rec := waitRecording(t, done)
	if rec.Ended.IsZero() || rec.VideoTags != 3 {
		t.Errorf("after the drop: %+v", rec)
	}
	if _, tags := readFLV(t, rec.Path); countTags(tags, flv.TagVideo) != 3 {
		t.Errorf("file has %d video tags after the drop, want 3", countTags(tags, flv.TagVideo))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Garbage, a stalled client, protocol errors that panic or exhaust memory inside go-rtmp:
// each connection is dropped, nothing is recorded, and the next publisher is served as usual.
func TestSurvivesGarbage(t *testing.T) {
	s, done := serve(t, Options{IdleTimeout: 300 * time.Millisecond})
	addr := s.Addr().String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	random := make([]byte, 8192)
	rand.Read(random)
	c := dial()
	c.Write(random)
	c.Close()

	c = dial()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // then stalls inside the handshake
	waitClosedByServer(t, c, "stalled HTTP client")

	c = dial()
	waitClosedByServer(t, c, "silent client")

	// A chunk of a zero-length message makes go-rtmp v0.0.7 panic("invalid state").
	c = dial()
	handshake(t, c)
	c.Write([]byte{0x03, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0})
	waitClosedByServer(t, c, "zero-length chunk")

	// Media before any connect/publish, then garbage.
	c = dial()
	handshake(t, c)
	c.Write(append([]byte{0x06, 0, 0, 0, 0, 0, 4, 0x09, 1, 0, 0, 0, 0x17, 1, 0, 0}, random[:512]...))
	waitClosedByServer(t, c, "media without publish")

	// 11 bytes of AMF0 (a strict array of 2^31 elements) that made go-amf0 allocate 32 GiB:
	// the runtime aborted the whole process, past any recover.
	c = dial()
	handshake(t, c)
	c.Write(appendMessage(appendConnect(nil, "live"), 4, rtmpData, 0, 0, []byte{0x02, 0, 3, 'f', 'o', 'o', 0x0a, 0x7f, 0xff, 0xff, 0xff}))
	waitClosedByServer(t, c, "AMF0 bomb")

	publishClip(t, rtmpURL(s, "live/after"))
	rec := waitRecording(t, done)
	if v := peers.ProbeVideo(t, rec.Path); v.Frames != clipFrames || v.DecodeErrors != "" {
		t.Errorf("publish after garbage: %d frames (want %d), errors %q", v.Frames, clipFrames, v.DecodeErrors)
	}
	if got := s.Recordings(); len(got) != 1 {
		t.Errorf("%d recordings, want only the real publish: %+v", len(got), got)
	}
}

// Cancelling Serve's context while a publisher is live completes the recording, returns,
// closes the listener it was given and leaves no goroutine of the server behind.
func TestServeStopsCleanly(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	before := runtime.NumGoroutine()

	done := make(chan Recording, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ln, Options{Dir: t.TempDir(), OnRecording: func(r Recording) { done <- r }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	// A live encoder at real-time pace, so it is still publishing when the server stops.
	ffmpeg := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-f", "flv", rtmpURL(s, "live/live"))
	if err := ffmpeg.Start(); err != nil {
		t.Fatal(err)
	}
	defer ffmpeg.Process.Kill()
	waitUntil(t, "a keyframe and more", func() bool {
		r := s.Recordings()
		return len(r) == 1 && r[0].VideoTags > 30
	})

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s of cancel")
	}
	select {
	case rec := <-done:
		if rec.Ended.IsZero() {
			t.Errorf("recording not ended: %+v", rec)
		}
		if v := peers.ProbeVideo(t, rec.Path); v.Frames < 30 || v.DecodeErrors != "" || !v.Packets[0].Keyframe {
			t.Errorf("recording cut by shutdown: %d frames, errors %q", v.Frames, v.DecodeErrors)
		}
	default:
		t.Fatal("Serve returned before the recording was finished")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after Serve returned")
	}
	ffmpeg.Process.Kill()
	ffmpeg.Wait()

	// Goroutines of the runtime and of the testing package come and go; a server leak would
	// keep at least one per connection or per listener.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 {
		if time.Now().After(deadline) {
			var stacks bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("%d goroutines before, %d after Serve returned:\n%s", before, runtime.NumGoroutine(), stacks.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeTwiceFails(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Serve(ctx); err != nil {
		t.Fatalf("Serve with an ended context: %v", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("a second Serve on one server succeeded")
	}
}

func TestVideoPicture(t *testing.T) {
	for _, tc := range []struct {
		name         string
		body         []byte
		picture, key bool
	}{
		{"AVC sequence header", flv.AppendSequenceHeader(nil, []byte{1}), false, false},
		{"AVC keyframe", flv.AppendVideoTag(nil, true, 0, [][]byte{{0x65}}), true, true},
		{"AVC inter frame", flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41}}), true, false},
		{"AVC end of sequence", flv.AppendEndOfSequence(nil), false, false},
		{"AVC truncated", []byte{0x17, 1}, false, false},
		{"empty", nil, false, false},
		{"command frame", []byte{0x57, 0}, false, false},
		{"legacy VP6 keyframe", []byte{0x14, 0}, true, true},
		{"enhanced HEVC sequence start", []byte{0x90, 'h', 'v', 'c', '1'}, false, false},
		{"enhanced HEVC coded keyframe", []byte{0x91, 'h', 'v', 'c', '1'}, true, true},
		{"enhanced HEVC coded-X inter", []byte{0xa3, 'h', 'v', 'c', '1'}, true, false},
	} {
		if picture, key := videoPicture(tc.body); picture != tc.picture || key != tc.key {
			t.Errorf("%s: picture=%v key=%v, want %v %v", tc.name, picture, key, tc.picture, tc.key)
		}
	}
}
