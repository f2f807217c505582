package main

// End-to-end tests of raw exec: sources (CAMNODE_SOURCE_FORMAT): ffmpeg writes raw
// pictures of the deterministic testsrc2 pattern, camnode turns them (CAMNODE_ROTATE),
// draws chat into them (CAMNODE_DANMAKU=burn), encodes them with x264 and streams them to
// nginx-rtmp. The reference picture is the same ffmpeg command run again by the test:
// recorded frame i must be source frame i, turned as asked, changed only where chat is.

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/encoder/x264"
)

const (
	rawW, rawH, rawFPS = 320, 240, 15
	// rawSeconds of pattern at rawFPS: what the source program sends.
	rawSeconds = 4
	rawFrames  = rawSeconds * rawFPS
	// rawBlock is the side of the squares whose mean luma difference from the reference
	// is compared: coding noise averages out in them, chat does not.
	rawBlock = 16
	// A block is chat when it differs by more than rawChanged on average; no other block
	// may differ by more than rawNoise.
	rawChanged = 12
	rawNoise   = 8
)

// testsrc2Args are ffmpeg's arguments for rawSeconds of the testsrc2 pattern at the test's
// size and rate, written to stdout in pixFmt (rawvideo) or as MJPEG (pixFmt "mjpeg").
func testsrc2Args(pixFmt string, seconds int) []string {
	args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", rawW, rawH, rawFPS), "-t", strconv.Itoa(seconds)}
	if pixFmt == "mjpeg" {
		return append(args, "-f", "mjpeg", "-q:v", "2", "-")
	}
	return append(args, "-f", "rawvideo", "-pix_fmt", pixFmt, "-")
}

// newRawRig prepares a node streaming `ffmpeg -re <testsrc2Args>` as format. The program
// plays once: the source then fails, and is reopened only after the test has switched the
// stream off (the reconnect delay is long), so the recording holds one run of it.
func newRawRig(t *testing.T, id, format, pixFmt string) *rig {
	t.Helper()
	peers.Require(t, "ffmpeg", "ffprobe")
	r := newRig(t, id, "")
	// -re paces the pattern like a camera: one picture every 1/15 s.
	line := "ffmpeg -re " + strings.Join(testsrc2Args(pixFmt, rawSeconds), " ")
	for k, v := range map[string]string{
		"CAMNODE_SOURCE": "exec:" + line, "CAMNODE_SOURCE_FORMAT": format,
		"CAMNODE_WIDTH": strconv.Itoa(rawW), "CAMNODE_HEIGHT": strconv.Itoa(rawH), "CAMNODE_FPS": strconv.Itoa(rawFPS),
		"CAMNODE_GOP": "1s", "CAMNODE_DANMAKU": "sei", "CAMNODE_BITRATE": "3000k",
		"CAMNODE_RECONNECT_MIN": "5m", "CAMNODE_RECONNECT_MAX": "10m",
	} {
		r.env[k] = v
	}
	return r
}

// recordOneRun waits for the program to end (source_failed), for every frame to be sent,
// switches the stream off and returns the recording, checked: H.264 at the size, decoding
// without an error, from a keyframe, DTS increasing, and every one of the rawFrames the
// program wrote (within one), as telemetry counted them too.
func (r *rig) recordOneRun(t *testing.T, node *proc) (string, peers.Video) {
	t.Helper()
	failed := r.await(t, 0, "event", eventIs("source_failed"), "source_failed when the program ends")
	if !strings.Contains(failed.Payload, "ffmpeg") || strings.Contains(failed.Payload, "testsrc2") {
		t.Fatalf("source_failed %s: want the program's name and none of its arguments", failed.Payload)
	}
	var tel telemetryMsg
	deadline := time.Now().Add(60 * time.Second)
	for tel.FramesSent < rawFrames-1 {
		if time.Now().After(deadline) {
			t.Fatalf("telemetry: %d frames sent of %d", tel.FramesSent, rawFrames)
		}
		tel = parseTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry").Payload)
	}
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	tel = parseTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 20*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	v := peers.ProbeVideo(t, recs[0])
	if v.Codec != "h264" || v.Width != rawW || v.Height != rawH || v.DecodeErrors != "" {
		t.Fatalf("recording: %s %dx%d, decode errors %q; want h264 %dx%d", v.Codec, v.Width, v.Height, v.DecodeErrors, rawW, rawH)
	}
	if len(v.Packets) == 0 || !v.Packets[0].Keyframe {
		t.Fatalf("recording: first of %d packets is not a keyframe", len(v.Packets))
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Fatalf("recording: DTS not increasing at packet %d", i)
	}
	if v.Frames < rawFrames-1 || v.Frames > rawFrames+1 || tel.FramesSent < rawFrames-1 || tel.FramesSent > rawFrames+1 {
		t.Fatalf("recording: %d frames decoded, telemetry %d sent; the program wrote %d", v.Frames, tel.FramesSent, rawFrames)
	}
	if strings.Contains(node.Log(), r.key) {
		t.Fatal("stream key in the log")
	}
	return recs[0], v
}

// lumaFrames runs ffmpeg with args (its output on stdout, gray rawvideo of the test's
// size) and returns its frames.
func lumaFrames(t *testing.T, args ...string) [][]byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		f := make([]byte, rawW*rawH)
		if _, err := io.ReadFull(out, f); err != nil {
			break
		}
		frames = append(frames, f)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return frames
}

// recordedLuma decodes every frame of a recording to luma.
func recordedLuma(t *testing.T, path string) [][]byte {
	return lumaFrames(t, "-nostdin", "-v", "error", "-i", path, "-map", "0:v", "-fps_mode", "passthrough",
		"-f", "rawvideo", "-pix_fmt", "gray", "-")
}

// referenceLuma is the luma of the pattern the program sent, through ffmpeg's filter vf
// (e.g. "hflip,vflip"; empty for none).
func referenceLuma(t *testing.T, vf string) [][]byte {
	args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", rawW, rawH, rawFPS), "-t", strconv.Itoa(rawSeconds)}
	if vf != "" {
		args = append(args, "-vf", vf)
	}
	return lumaFrames(t, append(args, "-f", "rawvideo", "-pix_fmt", "gray", "-")...)
}

// blockDiffs is the mean absolute luma difference of a and b in each rawBlock square,
// row by row of squares.
func blockDiffs(a, b []byte) [][]float64 {
	out := make([][]float64, rawH/rawBlock)
	for by := range out {
		out[by] = make([]float64, rawW/rawBlock)
		for bx := range out[by] {
			sum := 0
			for y := by * rawBlock; y < (by+1)*rawBlock; y++ {
				for x := bx * rawBlock; x < (bx+1)*rawBlock; x++ {
					sum += abs(int(a[y*rawW+x]) - int(b[y*rawW+x]))
				}
			}
			out[by][bx] = float64(sum) / (rawBlock * rawBlock)
		}
	}
	return out
}

// aligned pairs recorded frames with reference frames: the recording starts at the
// program's first picture, or one later (a picture lost before the first keyframe). It
// returns the offset into ref whose first frames match best, and how well (the largest
// block difference over the first frames).
func aligned(rec, ref [][]byte) (int, float64) {
	best, bestErr := 0, -1.0
	for off := 0; off <= 1; off++ {
		worst := 0.0
		for i := 0; i < 5 && i < len(rec) && i+off < len(ref); i++ {
			for _, row := range blockDiffs(rec[i], ref[i+off]) {
				for _, d := range row {
					worst = max(worst, d)
				}
			}
		}
		if bestErr < 0 || worst < bestErr {
			best, bestErr = off, worst
		}
	}
	return best, bestErr
}

// The story of issue 12: yuv420 pictures from a program, with chat burned in, streamed to
// nginx: the recording holds every picture sent, at the size, and each equals the source
// picture except in the blocks where the chat (a top comment: the first lane, centred)
// is drawn, which it does show.
func TestRawExecBurnIn(t *testing.T) {
	r := newRawRig(t, "rawburn", "yuv420", "yuv420p")
	r.env["CAMNODE_DANMAKU"] = "burn,sei"
	node := r.goLive(t)
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":"RAW 弹幕 666","mode":"top","color":"#ff3333"}`)
	rec, _ := r.recordOneRun(t, node)
	if e := eventsNamed(r, "burn_unavailable"); len(e) != 0 {
		t.Fatalf("burn_unavailable with a raw source: %v", e)
	}

	got, ref := recordedLuma(t, rec), referenceLuma(t, "")
	off, _ := aligned(got, ref)
	// The top comment's lane: from the top edge down a line of text (5% of the height)
	// and its outline; centred, a dozen characters wide at most.
	laneRows := (rawH/20*2 + 8 + rawBlock - 1) / rawBlock
	chatFrames := 0
	for i := range got {
		if i+off >= len(ref) {
			break
		}
		changed := 0
		for by, row := range blockDiffs(got[i], ref[i+off]) {
			for bx, d := range row {
				switch {
				case d > rawChanged:
					if by >= laneRows {
						t.Fatalf("frame %d: block (%d,%d) differs by %.1f, below the first lane (rows of blocks 0-%d)", i, bx, by, d, laneRows-1)
					}
					if c := bx*rawBlock + rawBlock/2; abs(c-rawW/2) > rawW*3/8 {
						t.Fatalf("frame %d: block (%d,%d) differs by %.1f, far from the centre where the top comment is", i, bx, by, d)
					}
					changed++
				case d > rawNoise && by >= laneRows:
					t.Fatalf("frame %d: block (%d,%d) differs from the source by %.1f: more than coding noise", i, bx, by, d)
				}
			}
		}
		if changed > 0 {
			chatFrames++
		}
	}
	// The comment shows for 4 s; the stream runs 4 s from about when it was sent.
	if chatFrames < rawFPS {
		t.Fatalf("chat drawn in %d frames: want at least a second of them", chatFrames)
	}
	t.Logf("%d frames recorded (offset %d), chat in %d", len(got), off, chatFrames)
}

// The same stream from MJPEG and YUYV pictures: every picture, at the size, each the
// source picture within coding noise.
func TestRawExecMJPEGAndYUYV(t *testing.T) {
	for _, tc := range []struct{ format, pixFmt string }{{"mjpeg", "mjpeg"}, {"yuyv", "yuyv422"}} {
		t.Run(tc.format, func(t *testing.T) {
			r := newRawRig(t, "raw"+tc.format, tc.format, tc.pixFmt)
			node := r.goLive(t)
			rec, _ := r.recordOneRun(t, node)
			got, ref := recordedLuma(t, rec), referenceLuma(t, "")
			off, worst := aligned(got, ref)
			// MJPEG at q 2 adds its own noise to the encoder's.
			if limit := float64(rawNoise); worst > limit {
				t.Fatalf("%s: recorded pictures differ from the source by up to %.1f per block (offset %d)", tc.format, worst, off)
			}
		})
	}
}

// CAMNODE_ROTATE=180 on a raw source: every recorded picture is the source picture
// turned upside down — and not the picture as sent.
func TestRawExecRotate180(t *testing.T) {
	r := newRawRig(t, "rawturn", "yuv420", "yuv420p")
	r.env["CAMNODE_ROTATE"] = "180"
	node := r.goLive(t)
	rec, _ := r.recordOneRun(t, node)
	got := recordedLuma(t, rec)
	turned, straight := referenceLuma(t, "hflip,vflip"), referenceLuma(t, "")
	off, worst := aligned(got, turned)
	for i := range got {
		if i+off >= len(turned) {
			break
		}
		for by, row := range blockDiffs(got[i], turned[i+off]) {
			for bx, d := range row {
				if d > rawNoise {
					t.Fatalf("frame %d: block (%d,%d) differs from the source turned by 180 by %.1f", i, bx, by, d)
				}
			}
		}
	}
	if _, unturned := aligned(got, straight); unturned < 4*rawNoise {
		t.Fatalf("the recording matches the unturned source as well (%.1f): the test cannot tell", unturned)
	}
	t.Logf("turned by 180: worst block difference %.1f over the first frames (offset %d)", worst, off)
}

// A program whose output ends inside a picture: source_failed says how big a picture
// should be, and the pictures before it were streamed.
func TestRawExecTruncatedPicture(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	r := newRig(t, "rawcut", "")
	frame := rawW * rawH * 3 / 2
	// head writes three whole yuv420 pictures of zeros and a third of a fourth.
	r.env["CAMNODE_SOURCE"] = "exec:head -c " + strconv.Itoa(3*frame+frame/3) + " /dev/zero"
	r.env["CAMNODE_SOURCE_FORMAT"] = "yuv420"
	r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"], r.env["CAMNODE_FPS"] = strconv.Itoa(rawW), strconv.Itoa(rawH), "15"
	r.env["CAMNODE_RECONNECT_MIN"], r.env["CAMNODE_RECONNECT_MAX"] = "5m", "10m"
	node := r.goLive(t)
	e := r.await(t, 0, "event", eventIs("source_failed"), "source_failed").Payload
	for _, want := range []string{"head", "picture 4", fmt.Sprintf("%d of %d bytes", frame/3, frame), "yuv420 320x240"} {
		if !strings.Contains(e, want) {
			t.Fatalf("source_failed %s: want %q in it", e, want)
		}
	}
	var tel telemetryMsg
	deadline := time.Now().Add(60 * time.Second)
	for tel.FramesSent < 3 && time.Now().Before(deadline) {
		tel = parseTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry").Payload)
	}
	if tel.FramesSent != 3 {
		t.Fatalf("telemetry: %d frames sent, want the 3 whole pictures", tel.FramesSent)
	}
	if strings.Contains(node.Log(), r.key) {
		t.Fatal("stream key in the log")
	}
}

// Raw pictures, or burn-in into the test pattern, on a machine without libx264: exit 2
// at start, naming the setting and the package to install, before anything connects. A
// CAMNODE_ENCODER that names a device that is no encoder is a bad setting too.
func TestRawWithoutX264FailsAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"encoder that is no encoder", map[string]string{"CAMNODE_SOURCE": "exec:ffmpeg -f lavfi -i testsrc2 -f rawvideo -pix_fmt yuv420p -",
			"CAMNODE_SOURCE_FORMAT": "yuv420", "CAMNODE_ENCODER": "v4l2m2m:/dev/null"},
			"camnode: bad setting CAMNODE_ENCODER: CAMNODE_SOURCE_FORMAT=yuv420 needs an encoder, and /dev/null is none"},
		{"raw exec source", map[string]string{"CAMNODE_SOURCE": "exec:ffmpeg -f lavfi -i testsrc2 -f rawvideo -pix_fmt yuv420p -",
			"CAMNODE_SOURCE_FORMAT": "yuv420"},
			"camnode: bad setting CAMNODE_SOURCE: exec:ffmpeg with CAMNODE_SOURCE_FORMAT=yuv420 needs an H.264 encoder"},
		{"burn into testsrc", map[string]string{"CAMNODE_SOURCE": "testsrc", "CAMNODE_DANMAKU": "burn,sei"},
			"camnode: bad setting CAMNODE_DANMAKU: testsrc with CAMNODE_DANMAKU=burn needs an H.264 encoder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["CAMNODE_NODE_ID"] = "nox264"
			tc.env[x264.LibraryEnv] = "libx264-not-installed.so.164"
			p := startCamnode(t, tc.env)
			if code := p.wait(t, 60*time.Second); code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, p.Log())
			}
			want := []string{tc.want}
			if !strings.Contains(tc.want, "ENCODER") {
				want = append(want, "apt install "+x264.Package)
			}
			for _, w := range want {
				if !strings.Contains(p.Log(), w) {
					t.Errorf("output lacks %q:\n%s", w, p.Log())
				}
			}
		})
	}
}
