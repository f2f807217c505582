package stream

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/source/file"
)

// makeClip encodes a small H.264 clip with ffmpeg: 160x120, 30 fps, a keyframe every 2 s.
func makeClip(t *testing.T, seconds int) string {
	t.Helper()
	peers.Require(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

// avStream publishes a looped clip with an audio track. The video is held at a time limit
// that the test moves, so the test decides how much stream time each recording holds.
type avStream struct {
	p      *Publisher
	limit  atomic.Int64 // video at or after this time waits
	moved  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startAV runs the clip (paced or not) into p, and the audio source beside it.
func startAV(t *testing.T, p *Publisher, clip string, paced bool, src media.AudioSource, clock *audio.VideoClock) *avStream {
	t.Helper()
	return startAVFPS(t, p, clip, paced, src, clock, 30)
}

// startAVAt is startAV of an unpaced clip at fps.
func startAVAt(t *testing.T, p *Publisher, clip string, src media.AudioSource, clock *audio.VideoClock, fps int) *avStream {
	t.Helper()
	return startAVFPS(t, p, clip, false, src, clock, fps)
}

func startAVFPS(t *testing.T, p *Publisher, clip string, paced bool, src media.AudioSource, clock *audio.VideoClock, fps int) *avStream {
	t.Helper()
	v, err := file.Open(clip, file.Options{Unpaced: !paced})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &avStream{p: p, moved: make(chan struct{}, 1), cancel: cancel}
	s.limit.Store(math.MaxInt64)
	s.wg.Add(3)
	go func() { defer s.wg.Done(); p.Run(ctx) }()
	// An unpaced video waits for the audio's first frame: it would otherwise be seconds
	// ahead before the audio's goroutine anchors its first frame on the video's clock.
	// It also never runs further ahead of the audio than a tenth of the writer's
	// holdback: the audio's goroutine may be descheduled for any length of time (qemu, a
	// loaded machine), while a camera's video cannot outrun its microphone by seconds.
	audioStarted := make(chan struct{})
	var audioAt atomic.Int64 // the time of the last audio frame delivered
	audioMoved := make(chan struct{}, 1)
	go func() {
		defer s.wg.Done()
		first := true
		src.RunAudio(ctx, func(f *media.AudioFrame) error {
			if first {
				first = false
				close(audioStarted)
			}
			err := p.WriteAudio(ctx, f)
			audioAt.Store(int64(f.Time))
			select {
			case audioMoved <- struct{}{}:
			default:
			}
			return err
		})
	}()
	go func() {
		defer s.wg.Done()
		if !paced {
			select {
			case <-audioStarted:
			case <-ctx.Done():
				return
			}
		}
		feed := media.Feed(ctx, p)
		v.Run(ctx, func(au *media.AccessUnit) error {
			for !paced && au.Time-time.Duration(audioAt.Load()) > holdback/10 {
				select {
				case <-audioMoved:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			for au.Time >= time.Duration(s.limit.Load()) {
				select {
				case <-s.moved:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := feed(au); err != nil {
				return err
			}
			if clock != nil {
				clock.Advance(au.Time + time.Second/time.Duration(fps))
			}
			return nil
		})
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *avStream) setLimit(d time.Duration) {
	s.limit.Store(int64(d))
	select {
	case s.moved <- struct{}{}:
	default:
	}
}

func (s *avStream) stop() { s.cancel(); s.wg.Wait() }

// waitStats waits, with a generous deadline, until the publisher's counters satisfy ok.
func waitStats(t *testing.T, p *Publisher, what string, ok func(media.OutputStats) bool) {
	t.Helper()
	waitStatsFor(t, p, 3*time.Minute, what, ok)
}

func waitStatsFor(t *testing.T, p *Publisher, timeout time.Duration, what string, ok func(media.OutputStats) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, p.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordingAV is what a recording holds, read by ffprobe and ffmpeg, and checked for what
// every recording with audio must show.
type recordingAV struct {
	video, audio peers.Track
	levels       peers.AudioLevels
	videoDur     time.Duration
	audioDur     time.Duration
}

func checkRecordingAV(t *testing.T, path string) recordingAV {
	t.Helper()
	name := filepath.Base(path)
	tracks := peers.ProbeTracks(t, path)
	if len(tracks) != 2 || tracks[0].Type != "video" || tracks[0].Codec != "h264" || tracks[1].Type != "audio" || tracks[1].Codec != "aac" {
		t.Fatalf("%s: tracks %+v, want h264 video and aac audio", name, tracks)
	}
	r := recordingAV{video: tracks[0], audio: tracks[1]}
	if v := peers.ProbeVideo(t, path); v.DecodeErrors != "" || v.Frames != len(r.video.Packets) {
		t.Fatalf("%s: video decoded %d of %d frames: %s", name, v.Frames, len(r.video.Packets), v.DecodeErrors)
	}
	r.levels = peers.DecodeAudio(t, path)
	vp, ap := r.video.Packets, r.audio.Packets
	if len(vp) < 2 || len(ap) < 2 {
		t.Fatalf("%s: %d video and %d audio packets", name, len(vp), len(ap))
	}
	if want := len(ap) * 1024; r.levels.Samples < want-1024 || r.levels.Samples > want {
		t.Errorf("%s: %d audio samples decoded from %d packets", name, r.levels.Samples, len(ap))
	}
	for i := 1; i < len(ap); i++ {
		if ap[i].PTS <= ap[i-1].PTS {
			t.Fatalf("%s: audio packet %d at %v after %v", name, i, ap[i].PTS, ap[i-1].PTS)
		}
	}
	if i := (peers.Video{Packets: vp}).MonotonicDTS(); i >= 0 {
		t.Fatalf("%s: video DTS not increasing at packet %d", name, i)
	}
	r.videoDur = vp[len(vp)-1].DTS - vp[0].DTS + time.Second/30
	r.audioDur = ap[len(ap)-1].PTS - ap[0].PTS + 1024*time.Second/time.Duration(r.audio.SampleRate)
	checkTagOrder(t, path)
	return r
}

// checkTagOrder reads the FLV as nginx wrote it: nginx keeps no metadata, so it starts with the AVC sequence header, the AAC sequence header and a keyframe; no audio
// before the first video; tags in timestamp order, audio and video interleaved.
func checkTagOrder(t *testing.T, path string) {
	t.Helper()
	_, tags, err := flv.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var last uint32
	for i, tag := range tags {
		kind := "M"
		switch tag.Type {
		case flv.TagVideo:
			v, _ := flv.ParseVideoTag(tag.Body)
			kind = map[bool]string{true: "K", false: "P"}[v.Keyframe()]
			if v.PacketType == flv.AVCSequenceHeader {
				kind = "S"
			}
		case flv.TagAudio:
			a, err := flv.ParseAudioTag(tag.Body)
			if err != nil || a.SoundFormat != flv.CodecAAC {
				t.Fatalf("%s: audio tag %d: %+v %v", path, i, a, err)
			}
			kind = map[bool]string{true: "A", false: "a"}[a.PacketType == flv.AACSequenceHeader]
		}
		if len(order) < 8 {
			order = append(order, kind)
		}
		if tag.Timestamp < last {
			t.Fatalf("%s: tag %d (%s) at %d ms after a tag at %d ms", path, i, kind, tag.Timestamp, last)
		}
		last = tag.Timestamp
	}
	// nginx writes the AAC sequence header it keeps and then the one it received (it
	// does the same with ffmpeg's streams): one or more A.
	if got := strings.Join(order, ""); !regexp.MustCompile(`^M*SA+K`).MatchString(got) {
		t.Fatalf("%s starts %s, want the AVC and AAC sequence headers and a keyframe (SAK)", path, got)
	}
}

// The default track, silence, into nginx-rtmp: 60 s of stream time (unpaced, so the test
// is quick), an ingest restart, 60 s more. Each recording has h264 and aac, both decode
// without an error, the audio is digital silence and lasts as long as the video (within
// 0.1 s), and the tags are interleaved in timestamp order.
func TestPublisherSilentAudioIntoNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := makeClip(t, 4)
	clock := &audio.VideoClock{}
	silence := audio.Silent(48000, 1)
	// Unpaced, a lead saves nothing, and it would let the audio run past the video where
	// the test holds the video.
	silence.Clock, silence.Lead = clock, -1
	cfg, err := silence.Config()
	if err != nil {
		t.Fatal(err)
	}
	var statuses statusLog
	p := New(Options{URL: ng.URL("av"), Lossless: true, FrameRate: 30, Audio: cfg,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, OnStatus: statuses.add})
	s := startAV(t, p, clip, false, silence, clock)

	const segment = 60 * time.Second
	frames := uint64(segment * 30 / time.Second)
	s.setLimit(segment)
	waitStats(t, p, "first 60 s sent", func(st media.OutputStats) bool { return st.FramesSent == frames && st.Queued <= 3 })
	ng.Stop() // SIGQUIT: nginx finishes the recording
	ng.Start(t)
	s.setLimit(2 * segment)
	waitStats(t, p, "second 60 s sent", func(st media.OutputStats) bool { return st.FramesSent == 2*frames && st.Queued <= 3 })
	s.stop()
	// nginx's graceful stop waits for open sessions and is then killed without an access
	// log line: the restarted instance logs the second session only.
	recs := ng.WaitPublishEnded(t, "av", 1, time.Minute)
	if len(recs) != 2 {
		t.Fatalf("recordings %v, want 2", recs)
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	// Audio is dropped only at the reconnect: what was queued before the keyframe.
	if st.Reconnects != 1 || st.FramesDropped != 0 || st.AudioFramesDropped > 30 || st.AudioFramesSent+st.AudioFramesDropped+3 < st.AudioFramesIn {
		t.Errorf("reconnects %d, frames dropped %d, audio frames in/sent/dropped %d/%d/%d; want 1 reconnect, no video and little audio dropped",
			st.Reconnects, st.FramesDropped, st.AudioFramesIn, st.AudioFramesSent, st.AudioFramesDropped)
	}
	for _, rec := range recs {
		r := checkRecordingAV(t, rec)
		if r.audio.SampleRate != 48000 || r.audio.Channels != 1 {
			t.Errorf("%s: audio %d Hz %d ch", rec, r.audio.SampleRate, r.audio.Channels)
		}
		if !math.IsInf(r.levels.PeakDB, -1) {
			t.Errorf("%s: audio peak %v dB, want digital silence", rec, r.levels.PeakDB)
		}
		if d := r.audioDur - r.videoDur; d < -100*time.Millisecond || d > 100*time.Millisecond || len(r.video.Packets) != int(frames) {
			t.Errorf("%s: %d video frames lasting %v, audio %v: want 1800 frames and audio within 0.1 s", rec, len(r.video.Packets), r.videoDur, r.audioDur)
		}
		t.Logf("%s: video %v (%d frames), audio %v (%d frames): difference %v", filepath.Base(rec), r.videoDur, len(r.video.Packets),
			r.audioDur, len(r.audio.Packets), r.audioDur-r.videoDur)
	}
}

// A program's tone, in real time (-re: a generator that runs faster fills the pipe, seconds
// of audio that still play after it dies), into nginx-rtmp: the recording holds the 1 kHz
// tone.
// Killing the program leaves the video uninterrupted (no gap over 2 frame intervals), an
// audio_failed status, and silence where the tone was, on the same timeline.
func TestPublisherExecAudioIntoNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	clip := makeClip(t, 4)
	pidFile := filepath.Join(t.TempDir(), "pid")
	src, err := audio.Exec(`sh -c "echo $$ >` + pidFile + `; exec ffmpeg -nostdin -v error -re -f lavfi -i sine=frequency=1000:sample_rate=48000 -c:a aac -f adts -"`)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Now() // the video's time zero: the paced file source starts now
	src.Clock = audio.WallClock(epoch)
	src.RestartMin = time.Hour // no restart: silence until the end
	var failures atomic.Int32
	src.OnStatus = func(s audio.Status) {
		if s.Failed {
			failures.Add(1)
		}
	}
	// The format is declared, as CAMNODE_AUDIO's settings do: onMetaData announces the
	// track from the first tag (nginx passes on only the first onMetaData it gets).
	src.SampleRate, src.Channels = 48000, 1
	cfg, err := src.Config()
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{URL: ng.URL("tone"), FrameRate: 30, ReconnectMin: 50 * time.Millisecond, Audio: cfg})
	s := startAV(t, p, clip, true, src, nil)

	const framesPer3s = 3 * 48000 / 1024
	waitStats(t, p, "3 s of the tone sent", func(st media.OutputStats) bool { return st.AudioFramesSent > framesPer3s })
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil {
		t.Fatalf("pid file %q", pid)
	}
	killedAt := time.Since(epoch)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sentAtKill := p.Stats().AudioFramesSent
	waitStats(t, p, "3 s of silence sent", func(st media.OutputStats) bool { return st.AudioFramesSent > sentAtKill+framesPer3s })
	s.stop()
	if failures.Load() != 1 {
		t.Errorf("%d audio failures reported, want 1", failures.Load())
	}
	recs := ng.WaitPublishEnded(t, "tone", 1, time.Minute)
	r := checkRecordingAV(t, recs[0])

	vp, ap := r.video.Packets, r.audio.Packets
	for i := 1; i < len(vp); i++ {
		if gap := vp[i].DTS - vp[i-1].DTS; gap > 2*time.Second/30+time.Millisecond {
			t.Errorf("video gap of %v at %v", gap, vp[i-1].DTS)
		}
	}
	var maxGap time.Duration
	for i := 1; i < len(ap); i++ {
		maxGap = max(maxGap, ap[i].PTS-ap[i-1].PTS)
	}
	// Frames may be left out only when the program lagged by more than MaxLag when it died.
	if maxGap > 250*time.Millisecond+22*time.Millisecond {
		t.Errorf("audio gap of %v", maxGap)
	}
	if end := vp[len(vp)-1].DTS - ap[len(ap)-1].PTS; end > 600*time.Millisecond {
		t.Errorf("the audio ends %v before the video", end)
	}
	// The recording's time 0 is the stream's first keyframe, the file's first frame.
	toneFrom, toneTo := ap[0].PTS+300*time.Millisecond, killedAt-300*time.Millisecond
	hz, rms := peers.Tone(peers.AudioPCM(t, recs[0], toneFrom, toneTo-toneFrom), 48000)
	if hz < 990 || hz > 1010 || rms < -30 {
		t.Errorf("tone from %v to %v: %.1f Hz at %.1f dB, want 1000 Hz above -30 dB", toneFrom, toneTo, hz, rms)
	}
	silenceFrom := killedAt + 600*time.Millisecond
	silenceTo := ap[len(ap)-1].PTS - 100*time.Millisecond
	_, silentRMS := peers.Tone(peers.AudioPCM(t, recs[0], silenceFrom, silenceTo-silenceFrom), 48000)
	if !math.IsInf(silentRMS, -1) {
		t.Errorf("after the kill, from %v to %v: %.1f dB, want digital silence", silenceFrom, silenceTo, silentRMS)
	}
	t.Logf("tone %.1f Hz at %.1f dB until the kill at %v; silence after; largest audio gap %v; %d video, %d audio packets",
		hz, rms, killedAt, maxGap, len(vp), len(ap))
}

// Five hours of stream time (unpaced, a 64x64 clip at 10 fps so that the recording stays
// small) with the default silent track into nginx-rtmp: measured from the recording's
// packet timestamps, the audio stays within 30 ms of the video from start to end. Audio
// frame n is at anchor + n*1024/48000 on the video's clock, so it cannot drift; the test
// holds that against the millisecond timestamps FLV carries and what nginx records.
func TestPublisherAVOffsetOverFiveHours(t *testing.T) {
	if testing.Short() {
		t.Skip("five hours of stream time: about a minute of CPU")
	}
	streamTime := 5 * time.Hour
	if h, err := time.ParseDuration(os.Getenv("AV_STREAM_TIME")); err == nil {
		streamTime = h
	}
	ng := peers.StartNginx(t)
	peers.Require(t, "ffmpeg")
	clip := filepath.Join(t.TempDir(), "clip.h264")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", "20", "-keyint_min", "20", "-sc_threshold", "0", "-b:v", "20k", "-f", "h264", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	clock := &audio.VideoClock{}
	silence := audio.Silent(48000, 1)
	silence.Clock, silence.Lead = clock, -1
	cfg, _ := silence.Config()
	p := New(Options{URL: ng.URL("hours"), Lossless: true, FrameRate: 10, Audio: cfg})
	s := startAVAt(t, p, clip, silence, clock, 10)
	frames := uint64(streamTime / (100 * time.Millisecond))
	s.setLimit(streamTime)
	waitStatsFor(t, p, 30*time.Minute, "five hours sent", func(st media.OutputStats) bool { return st.FramesSent == frames && st.Queued <= 3 })
	s.stop()
	recs := ng.WaitPublishEnded(t, "hours", 1, 5*time.Minute)
	tracks := peers.ProbeTracks(t, recs[0])
	if len(tracks) != 2 || tracks[1].Codec != "aac" {
		t.Fatalf("tracks %+v", tracks)
	}
	vp, ap := tracks[0].Packets, tracks[1].Packets
	if uint64(len(vp)) != frames {
		t.Fatalf("%d video packets recorded, want %d", len(vp), frames)
	}
	// Where each track is on the stream's timeline: video frame j at v0 + j/10 s, audio
	// frame i at a0 + i*1024/48000 s (both rounded to the millisecond by FLV). The offset
	// is how far a packet's timestamp is from where its track's own count puts it, taking
	// the video's first frame as the common origin.
	v0, a0 := vp[0].DTS, ap[0].PTS
	var worstVideo, worstAudio time.Duration
	for j, pk := range vp {
		worstVideo = max(worstVideo, absDur(pk.DTS-v0-time.Duration(j)*100*time.Millisecond))
	}
	for i, pk := range ap {
		worstAudio = max(worstAudio, absDur(pk.PTS-a0-time.Duration(i)*1024*time.Second/48000))
	}
	start := a0 - v0
	end := (ap[len(ap)-1].PTS + 1024*time.Second/48000) - (vp[len(vp)-1].DTS + 100*time.Millisecond)
	t.Logf("%v of stream time: %d video, %d audio packets; audio starts %v after the video, ends %v from it; "+
		"worst drift from the sample count: video %v, audio %v", streamTime, len(vp), len(ap), start, end, worstVideo, worstAudio)
	// Start and end: within 30 ms (the audio's first frame, delivered before the first
	// video, is left out: 21 ms). Drift: nothing beyond FLV's millisecond rounding.
	if absDur(start) > 30*time.Millisecond || absDur(end) > 30*time.Millisecond || worstAudio+worstVideo > 2*time.Millisecond {
		t.Errorf("A/V offset over %v: start %v, end %v, drift video %v audio %v; want within 30 ms and no drift", streamTime, start, end, worstVideo, worstAudio)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
