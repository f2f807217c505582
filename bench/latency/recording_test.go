//go:build linux

package latency

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// flvTag is one FLV tag with its trailing previous-tag-size field.
func flvTag(typ byte, ts uint32, data []byte) []byte {
	n := len(data)
	b := []byte{typ, byte(n >> 16), byte(n >> 8), byte(n), byte(ts >> 16), byte(ts >> 8), byte(ts), byte(ts >> 24), 0, 0, 0}
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, uint32(11+n))
}

func videoData(frameType, packetType byte, size int) []byte {
	b := bytes.Repeat([]byte{0xee}, size)
	b[0], b[1] = frameType<<4|7, packetType
	return b
}

var flvHeader = []byte{'F', 'L', 'V', 1, 1, 0, 0, 0, 9, 0, 0, 0, 0}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func watch(t *testing.T, dir string) *RecordingWatch {
	t.Helper()
	w, err := WatchRecordings(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func arrival(t *testing.T, w *RecordingWatch, within time.Duration) Arrival {
	t.Helper()
	select {
	case a := <-w.Arrivals():
		return a
	case <-time.After(within):
		t.Fatalf("no keyframe arrival within %v (watch error: %v)", within, w.Err())
		return Arrival{}
	}
}

// The arrival is the moment the keyframe tag's last byte is in the file, not before, and
// every new recording gets one; other files do not disturb the watch.
func TestRecordingWatchReportsWholeKeyframes(t *testing.T) {
	dir := t.TempDir()
	w := watch(t, dir)

	appendFile(t, filepath.Join(dir, "notes.txt"), []byte("not a recording"))
	appendFile(t, filepath.Join(dir, "garbage-1.flv"), bytes.Repeat([]byte("x"), 100))

	first := filepath.Join(dir, "cam-1.flv")
	appendFile(t, first, flvHeader)
	appendFile(t, first, flvTag(18, 0, []byte("onMetaData...")))
	appendFile(t, first, flvTag(9, 0, videoData(1, 0, 40))) // sequence header: no picture
	appendFile(t, first, flvTag(9, 0, videoData(2, 1, 3000)))
	key := flvTag(9, 33, videoData(1, 1, 200_000))
	cut := len(key) - 4 - 1 // all but the last data byte and the previous-tag-size field
	for i := 0; i < cut; i += 4096 {
		appendFile(t, first, key[i:min(i+4096, cut)])
	}
	select {
	case a := <-w.Arrivals():
		t.Fatalf("arrival %+v before the keyframe's last byte was written", a)
	case <-time.After(300 * time.Millisecond):
	}
	written := time.Now()
	appendFile(t, first, key[cut:cut+1])
	a := arrival(t, w, 5*time.Second)
	if a.File != first || a.At.Before(written) {
		t.Fatalf("arrival %+v, want %s at or after %v", a, first, written.Format(time.StampMicro))
	}
	appendFile(t, first, key[cut+1:])
	appendFile(t, first, flvTag(9, 66, videoData(1, 1, 100))) // later keyframes are not arrivals

	second := filepath.Join(dir, "cam-2.flv")
	appendFile(t, second, append(append([]byte(nil), flvHeader...), flvTag(9, 0, videoData(1, 1, 500))...))
	if a := arrival(t, w, 5*time.Second); a.File != second {
		t.Fatalf("arrival %+v, want one for %s", a, second)
	}
	select {
	case a := <-w.Arrivals():
		t.Fatalf("unexpected arrival %+v", a)
	case <-time.After(200 * time.Millisecond):
	}
}

// With the real ingest: ffmpeg publishes, nginx-rtmp records, and the watch times the
// keyframe within the push.
func TestRecordingWatchTimesFFmpegPushIntoNginx(t *testing.T) {
	ingest := peers.StartNginx(t)
	w := watch(t, ingest.RecDir)
	clip := filepath.Join(t.TempDir(), "clip.h264")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-frames:v", "60", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "30", "-f", "h264", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}

	began := time.Now()
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-c", "copy", "-f", "flv",
		ingest.URL("watched")).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg push: %v\n%s", err, out)
	}
	ended := time.Now()
	a := arrival(t, w, 10*time.Second)
	recs := ingest.WaitPublishEnded(t, "watched", 1, 20*time.Second)
	if len(recs) != 1 || a.File != recs[0] {
		t.Fatalf("arrival in %s, recordings %v", a.File, recs)
	}
	if a.At.Before(began) || a.At.After(ended) {
		t.Fatalf("keyframe timed at %s, outside the push %s..%s", a.At.Format(time.StampMicro),
			began.Format(time.StampMicro), ended.Format(time.StampMicro))
	}
}
