package pipeline

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/stream"
)

// makeClip encodes an H.264 clip with ffmpeg: 160x120 at fps, a keyframe every 2 s.
func makeClip(t *testing.T, seconds, fps int) string {
	t.Helper()
	peers.Require(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate="+strconv.Itoa(fps),
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(2*fps), "-keyint_min", strconv.Itoa(2*fps), "-sc_threshold", "0", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

// The default track, silence, made by the pictures themselves (no goroutine of its own),
// through the pipeline into nginx-rtmp, from a file played in real time and from one played
// as fast as the ingest takes it: the recording holds every picture and AAC silence that
// starts with the video (within 30 ms) and lasts as long (within 0.1 s), with every tag in
// timestamp order and the audio interleaved with the video.
func TestSilenceFollowsThePicturesIntoNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	for _, tc := range []struct {
		name    string
		query   string
		seconds int
	}{
		{"paced", "?loop=0", 4},
		{"unpaced", "?loop=0&pace=0", 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clip := makeClip(t, tc.seconds, 30)
			silence := audio.Silent(48000, 1)
			announced, err := silence.Config()
			if err != nil {
				t.Fatal(err)
			}
			var st statuses
			p := New(Options{
				Source: "file://" + clip + tc.query, Capture: sourceFPS(30),
				Targets: []string{ng.URL(tc.name)},
				Publish: stream.Options{FrameRate: 30, Audio: announced},
				Audio:   silence, OnStatus: st.add,
			})
			p.Start(context.Background())
			waitFor(t, "the end of the clip", func() bool { return len(st.of(SourceEnded)) == 1 })
			p.Stop()
			s := p.Stats()
			frames := tc.seconds * 30
			if s.Frames != uint64(frames) || s.Total.FramesSent != uint64(frames) || s.Total.AudioFramesDropped > 2 {
				t.Fatalf("stats %+v, want %d frames sent", s.Total, frames)
			}
			recs := ng.WaitPublishEnded(t, tc.name, 1, time.Minute)
			tracks := peers.ProbeTracks(t, recs[0])
			if len(tracks) != 2 || tracks[0].Codec != "h264" || tracks[1].Codec != "aac" || tracks[1].SampleRate != 48000 {
				t.Fatalf("tracks %+v, want h264 and aac at 48 kHz", tracks)
			}
			vp, ap := tracks[0].Packets, tracks[1].Packets
			if len(vp) != frames {
				t.Fatalf("%d video packets recorded, want %d", len(vp), frames)
			}
			if l := peers.DecodeAudio(t, recs[0]); l.Samples < (len(ap)-1)*1024 || l.PeakDB > -200 {
				t.Errorf("audio decoded to %d samples (from %d packets), peak %v dB: want every sample, digital silence", l.Samples, len(ap), l.PeakDB)
			}
			videoDur := vp[len(vp)-1].DTS - vp[0].DTS + time.Second/30
			audioDur := ap[len(ap)-1].PTS - ap[0].PTS + 1024*time.Second/48000
			start := ap[0].PTS - vp[0].DTS
			t.Logf("%d video packets lasting %v, %d audio packets lasting %v; audio starts %v after the video",
				len(vp), videoDur, len(ap), audioDur, start)
			if d := audioDur - videoDur; d < -100*time.Millisecond || d > 100*time.Millisecond || start < 0 || start > 30*time.Millisecond {
				t.Errorf("audio lasts %v for %v of video and starts %v after it; want within 0.1 s and 30 ms", audioDur, videoDur, start)
			}
			checkInterleaved(t, recs[0])
		})
	}
}

// checkInterleaved reads the FLV as nginx wrote it: tags in timestamp order, no audio
// before the first picture, and none more than a picture interval (30 fps) past the
// picture before it: the two tracks go out together.
func checkInterleaved(t *testing.T, path string) {
	t.Helper()
	_, tags, err := flv.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var last, lastVideo uint32
	seenVideo, audio := false, 0
	for i, tag := range tags {
		if tag.Timestamp < last {
			t.Fatalf("%s: tag %d at %d ms after a tag at %d ms", path, i, tag.Timestamp, last)
		}
		last = tag.Timestamp
		switch tag.Type {
		case flv.TagVideo:
			seenVideo, lastVideo = true, tag.Timestamp
		case flv.TagAudio:
			if a, err := flv.ParseAudioTag(tag.Body); err != nil || a.PacketType == flv.AACSequenceHeader {
				continue
			}
			audio++
			if !seenVideo {
				t.Fatalf("%s: audio tag %d before any video", path, i)
			}
			if tag.Timestamp > lastVideo+34 {
				t.Fatalf("%s: audio at %d ms follows the video at %d ms: more than a picture ahead", path, tag.Timestamp, lastVideo)
			}
		}
	}
	if audio == 0 {
		t.Fatalf("%s: no audio tag", path)
	}
}
