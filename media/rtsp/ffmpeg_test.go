package rtsp_test

import (
	"math"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// checkCapture asserts what a player sees of the stream: H.264 at the size and AAC at 48
// kHz, every frame decoded without an error from a keyframe on, video timestamps the
// capture clock's (one frame period apart, or whole periods where the pattern skipped),
// and audio in step with the video from the first frame.
func checkCapture(t *testing.T, f *feeder, path string, frames, width, height int) {
	t.Helper()
	p := probeFrames(t, path)
	var video, aac bool
	for _, s := range p.Streams {
		switch {
		case s.Type == "video" && s.Codec == "h264" && s.Width == width && s.Height == height:
			video = true
		case s.Type == "audio" && s.Codec == "aac" && s.SampleRate == 48000:
			aac = true
		}
	}
	if !video || !aac {
		t.Fatalf("streams %+v, want h264 %dx%d and aac at 48000 Hz", p.Streams, width, height)
	}
	if len(p.Video) != frames {
		t.Errorf("decoded %d video frames, want %d", len(p.Video), frames)
	}
	if len(p.Video) == 0 || !p.Video[0].Keyframe || p.Video[0].Type != "I" {
		t.Fatalf("the first video frame is not a keyframe: %+v", p.Video[:min(1, len(p.Video))])
	}
	// Every picture of the span arrives, with its capture time: the spacing of the
	// captured pictures is that of a run of the units written. (ffmpeg's RTSP demuxer
	// leaves the first picture's time unset, ffprobe shows pts N/A for it however the
	// stream is sent, and its muxer makes one up: the spacing is compared from the second
	// picture on.)
	if !spacedAsWritten(p.Video[1:], f.written()) {
		t.Fatalf("the captured pictures are not a run of the pictures written (a frame lost, or times not the capture clock's): %v ...", p.Video[:min(8, len(p.Video))])
	}
	const period = 1.0 / 30
	if len(p.Audio) < 10 {
		t.Fatalf("decoded %d audio frames, want the audio of %d video frames", len(p.Audio), frames)
	}
	for i := 1; i < len(p.Audio); i++ {
		if d := p.Audio[i].PTS - p.Audio[i-1].PTS; math.Abs(d-1024.0/48000) > 0.002 {
			t.Fatalf("audio frame %d is %.4f s after the one before, want 1024/48000", i, d)
		}
	}
	// The silence is anchored at the first picture and comes before each picture: a
	// reader's audio starts with the first frame after its first keyframe was sent, less
	// than two frames (43 ms) after the keyframe's time. The keyframe's own time is unset
	// (above) and taken one period before the second picture's, which is one period off
	// where a loaded machine's live pattern skipped a picture between them.
	key := p.Video[1].PTS - period
	if d := p.Audio[0].PTS - key; d < -period-0.002 || d > 0.045 {
		t.Errorf("the audio starts %.4f s after the first keyframe, want 0 to 0.043 s (the A/V offset of the source; the keyframe's time known to one period)", d)
	}
}

// TestFFmpegReadsOverTCPAndUDP: ffmpeg, given the URL, reads both tracks over each
// transport and they decode from the first frame.
func TestFFmpegReadsOverTCPAndUDP(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	srv := startServer(t, rtsp.Options{})
	f := startFeeder(t, srv, testsrc.Options{})
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			path, err := capture(t, srv.URL(), transport, 90)
			if err != nil {
				t.Fatal(err)
			}
			checkCapture(t, f, path, 90, 640, 360)
		})
	}
	st := srv.Stats()
	if st.Joined != 2 || st.FramesSent < 180 || st.Keyframes < 2 || st.BytesSent == 0 || st.AudioFramesSent == 0 || !st.Live {
		t.Errorf("stats %+v, want 2 readers joined and their frames counted", st)
	}
}

// TestLateJoinerDecodesFromItsFirstFrame: readers that join at any point of a long GOP
// get nothing before the next keyframe, so their first frame decodes.
func TestLateJoinerDecodesFromItsFirstFrame(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	srv := startServer(t, rtsp.Options{})
	f := startFeeder(t, srv, testsrc.Options{GOP: 75})
	for i, transport := range []string{"tcp", "udp"} {
		// Mid-GOP: 100 and 170 frames in (keyframes at 0, 75, 150, 225).
		waitFor(t, "the stream to run", 60*time.Second, func() bool { return f.frames.Load() >= int64(100+70*i) })
		path, err := capture(t, srv.URL(), transport, 30)
		if err != nil {
			t.Fatal(err)
		}
		checkCapture(t, f, path, 30, 640, 360)
	}
	if st := srv.Stats(); st.FramesDropped == 0 {
		t.Errorf("stats %+v: no frame waited for a keyframe", st)
	}
}

// spacedAsWritten tells whether the captured frames' time steps are those of a run of
// consecutive written units (within the 1 ms of Matroska's times).
func spacedAsWritten(captured []probedFrame, written []time.Duration) bool {
	if len(captured) < 2 {
		return false
	}
	for k := 0; k+len(captured) <= len(written); k++ {
		match := true
		for i := 1; i < len(captured) && match; i++ {
			want := (written[k+i] - written[k]).Seconds()
			match = math.Abs(captured[i].PTS-captured[0].PTS-want) <= 0.0015
		}
		if match {
			return true
		}
	}
	return false
}
