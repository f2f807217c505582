package audio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
)

// Frame times come from the sample count: after 5 hours they are still exact.
func TestFrameTimeDoesNotDrift(t *testing.T) {
	tests := []struct {
		n    int64
		rate int
		want time.Duration
	}{
		{0, 48000, 0},
		{1, 48000, 21333333 * time.Nanosecond},
		{3, 48000, 64 * time.Millisecond},
		{5 * 3600 * 48000 / 1024, 48000, 5 * time.Hour}, // 843750 frames
		// After 100 hours at 44100 Hz, to the nanosecond (rounded down).
		{15503906, 44100, 359999994195011},
	}
	for _, tt := range tests {
		if got := frameTime(tt.n, tt.rate); got != tt.want {
			t.Errorf("frameTime(%d, %d) = %v, want %v", tt.n, tt.rate, got, tt.want)
		}
	}
}

// collect runs src until it delivered n frames, and returns copies of them with the clock's
// time at each delivery.
func collect(t *testing.T, src media.AudioSource, clock Clock, n int) (frames []media.AudioFrame, at []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := src.RunAudio(ctx, func(f *media.AudioFrame) error {
		c := *f
		c.Data = append([]byte(nil), f.Data...)
		frames = append(frames, c)
		at = append(at, clock.Now())
		if len(frames) == n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, at
}

// Silence follows the video's clock: frame n is stamped anchor + n*1024/rate and delivered
// no more than Lead ahead of the video.
func TestSilentFollowsTheVideoClock(t *testing.T) {
	var clock VideoClock
	clock.Advance(500 * time.Millisecond) // the video started before the audio
	src := Silent(48000, 2)
	src.Clock = &clock
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // the video: 30 fps, as fast as it goes
		defer wg.Done()
		for i := 16; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			clock.Advance(time.Duration(i) * time.Second / 30)
			time.Sleep(time.Millisecond)
		}
	}()
	frames, at := collect(t, src, &clock, 200)
	close(stop)
	wg.Wait()
	if frames[0].Time < 500*time.Millisecond {
		t.Fatalf("first frame at %v, before the video's clock when the audio started", frames[0].Time)
	}
	for i, f := range frames {
		want := frames[0].Time + frameTime(int64(i), 48000)
		if f.Time != want {
			t.Fatalf("frame %d at %v, want %v", i, f.Time, want)
		}
		if at[i] < f.Time-DefaultLead {
			t.Fatalf("frame %d (%v) delivered when the video was at %v, more than %v before", i, f.Time, at[i], DefaultLead)
		}
		if string(f.Data) != string(silentStereo) || f.Config.SampleRate != 48000 || f.Config.Channels != 2 {
			t.Fatalf("frame %d: % x %+v", i, f.Data, f.Config)
		}
	}
}

// On the wall clock no frame comes more than Lead before its time; without a lead, none
// before its time.
func TestSilentPacedByTheWallClock(t *testing.T) {
	for _, lead := range []time.Duration{-1, 0, 50 * time.Millisecond} {
		clock := WallClock(time.Now())
		src := Silent(44100, 1)
		src.Clock, src.Lead = clock, lead
		want := max(lead, 0)
		if lead == 0 {
			want = DefaultLead
		}
		frames, at := collect(t, src, clock, 20)
		for i, f := range frames {
			if at[i] < f.Time-want {
				t.Fatalf("lead %v: frame %d (%v) delivered at %v", lead, i, f.Time, at[i])
			}
		}
	}
}

// The video drives VideoTrack: frame n is at anchor + n*1024/rate from the first picture's
// time, whatever the pictures' pace (steady, a burst, a stall of seconds), and after each
// picture the audio reaches its time by less than one frame, with no frame skipped.
func TestVideoTrackFollowsThePictures(t *testing.T) {
	track, err := Silent(48000, 2).VideoTrack()
	if err != nil {
		t.Fatal(err)
	}
	const anchor = 700 * time.Millisecond // the first keyframe's time on the video's clock
	var pictures []time.Duration
	for i := range 90 { // 3 s at 30 fps
		pictures = append(pictures, anchor+time.Duration(i)*time.Second/30)
	}
	pictures = append(pictures, anchor+8*time.Second, anchor+8*time.Second+time.Millisecond) // a 5 s stall
	var frames []media.AudioFrame
	for _, pt := range pictures {
		err := track.Advance(pt, func(f *media.AudioFrame) error {
			frames = append(frames, *f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last := frames[len(frames)-1].Time
		if last < pt || last >= pt+frameTime(1, 48000) {
			t.Fatalf("after the picture at %v the audio reaches %v, want [%v, %v)", pt, last, pt, pt+frameTime(1, 48000))
		}
	}
	for i, f := range frames {
		if want := anchor + frameTime(int64(i), 48000); f.Time != want {
			t.Fatalf("frame %d at %v, want %v", i, f.Time, want)
		}
		if string(f.Data) != string(silentStereo) || f.Config.SampleRate != 48000 || f.Config.Channels != 2 {
			t.Fatalf("frame %d: % x %+v", i, f.Data, f.Config)
		}
	}
	// deliver's error ends Advance; the frame it refused is not offered again.
	refuse := errors.New("refused")
	if err := track.Advance(anchor+9*time.Second, func(*media.AudioFrame) error { return refuse }); err != refuse {
		t.Fatalf("Advance = %v, want deliver's error", err)
	}
	if _, err := Silent(8001, 1).VideoTrack(); err == nil {
		t.Fatal("VideoTrack of 8001 Hz made")
	}
}

func TestSilentRejectsBadFormat(t *testing.T) {
	err := Silent(8001, 1).RunAudio(context.Background(), func(*media.AudioFrame) error { return nil })
	if err == nil {
		t.Fatal("Silent(8001, 1) ran")
	}
}

// The constant frames are what ffmpeg decodes as digital silence, at every usual rate and
// for both channel counts: the full number of samples, no errors, and a peak of -inf dB.
func TestSilentFramesDecodeToSilence(t *testing.T) {
	peers.Require(t, "ffmpeg")
	for _, rate := range []int{48000, 44100} {
		for ch := 1; ch <= 2; ch++ {
			h, _ := LC(rate, ch)
			var adts []byte
			const frames = 100
			for range frames {
				adts = AppendADTSHeader(adts, h, len(silentFrame(ch)))
				adts = append(adts, silentFrame(ch)...)
			}
			path := filepath.Join(t.TempDir(), "silence.aac")
			if err := os.WriteFile(path, adts, 0o644); err != nil {
				t.Fatal(err)
			}
			st := astats(t, path)
			// The decoder drops the first frame's samples as priming (1024).
			if st.samples < (frames-1)*1024 || st.samples > frames*1024 || st.peak != "-inf" {
				t.Errorf("%d Hz %d ch: %d samples, peak %s dB; want ~%d samples of silence", rate, ch, st.samples, st.peak, frames*1024)
			}
		}
	}
}

type audioStats struct {
	samples int    // per channel
	peak    string // dB, "-inf" for digital silence
	rms     float64
}

// astats decodes an audio file with ffmpeg (-xerror: any decoding error fails) and reads
// its overall statistics.
func astats(t *testing.T, path string) audioStats {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "info", "-xerror", "-i", path,
		"-af", "astats=measure_perchannel=none:measure_overall=Number_of_samples+Peak_level+RMS_level", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, out)
	}
	var st audioStats
	if m := regexp.MustCompile(`Number of samples: (\d+)`).FindSubmatch(out); m != nil {
		st.samples, _ = strconv.Atoi(string(m[1]))
	}
	if m := regexp.MustCompile(`Peak level dB: (\S+)`).FindSubmatch(out); m != nil {
		st.peak = string(m[1])
	}
	if m := regexp.MustCompile(`RMS level dB: (\S+)`).FindSubmatch(out); m != nil {
		fmt.Sscan(string(m[1]), &st.rms)
	}
	return st
}
