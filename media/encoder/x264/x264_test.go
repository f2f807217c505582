//go:build cgo && !nox264

package x264_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source/testsrc"
)

var wall = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// encode codes n frames of the test pattern (NV12 when nv12), forcing an IDR at the
// frames in force, and returns the Annex-B stream and the access units' flags and times.
func encode(t *testing.T, opts encoder.Options, n int, nv12 bool, force ...int) (stream []byte, keys []int, times []time.Duration, last *media.Frame) {
	t.Helper()
	enc, err := x264.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	p, err := testsrc.NewPattern(opts.Width, opts.Height, 30)
	if err != nil {
		t.Fatal(err)
	}
	f := p.NewFrame()
	if nv12 {
		w, h := opts.Width, opts.Height
		f = &media.Frame{Format: media.PixelNV12, Width: w, Height: h,
			Planes: [3][]byte{make([]byte, w*h), make([]byte, w*h/2)}, Strides: [3]int{w, w}}
	}
	for i := range n {
		f.Time = time.Duration(i) * time.Second / 30
		p.Draw(f, int64(i), wall)
		err := enc.Encode(f, slices.Contains(force, i), func(au *media.AccessUnit) error {
			if au.Keyframe {
				keys = append(keys, len(times))
			}
			if au.Keyframe != h264.IsKeyframe(au.NALUs) {
				t.Errorf("unit %d: Keyframe %v, IDR slice %v", len(times), au.Keyframe, h264.IsKeyframe(au.NALUs))
			}
			var sps, pps bool
			for _, nalu := range au.NALUs {
				if len(nalu) == 0 || nalu[0] == 0 && len(nalu) > 2 && nalu[1] == 0 && nalu[2] <= 1 {
					t.Fatalf("unit %d: NAL unit still has a start code or is empty: % x", len(times), nalu[:min(4, len(nalu))])
				}
				sps = sps || h264.NALType(nalu) == h264.TypeSPS
				pps = pps || h264.NALType(nalu) == h264.TypePPS
			}
			if au.Keyframe && !(sps && pps) || !au.Keyframe && sps {
				t.Errorf("unit %d: keyframe %v with SPS %v PPS %v: want SPS and PPS on every keyframe only", len(times), au.Keyframe, sps, pps)
			}
			if au.CompositionOffset != 0 {
				t.Errorf("unit %d: composition offset %v without B-frames", len(times), au.CompositionOffset)
			}
			times = append(times, au.Time)
			stream = h264.AppendAnnexB(stream, au.NALUs)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return stream, keys, times, f
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEncodeGOPAndForcedKeyframe: 90 frames with a GOP of 30 and an IDR forced at 45;
// ffmpeg decodes every frame and sees the keyframes where they were asked for.
func TestEncodeGOPAndForcedKeyframe(t *testing.T) {
	opts := encoder.Options{Width: 320, Height: 240, FPS: 30, Bitrate: 400_000, GOP: 30}
	stream, keys, times, _ := encode(t, opts, 90, false, 45)
	if want := []int{0, 30, 45, 75}; !slices.Equal(keys, want) {
		t.Errorf("keyframes at %v, want %v (the GOP counts again from a forced one)", keys, want)
	}
	for i, at := range times {
		if want := time.Duration(i) * time.Second / 30; at != want {
			t.Fatalf("unit %d at %v, want the frame's time %v", i, at, want)
		}
	}
	v := peers.ProbeVideo(t, writeTemp(t, "gop.h264", stream))
	if v.Codec != "h264" || v.Profile != "High" || v.Width != 320 || v.Height != 240 || v.Frames != 90 || v.DecodeErrors != "" {
		t.Fatalf("ffmpeg reads %s %s %dx%d, %d frames, errors %q", v.Codec, v.Profile, v.Width, v.Height, v.Frames, v.DecodeErrors)
	}
	var probed []int
	for i, p := range v.Packets {
		if p.Keyframe {
			probed = append(probed, i)
		}
	}
	if want := []int{0, 30, 45, 75}; !slices.Equal(probed, want) {
		t.Errorf("ffprobe sees keyframes at %v, want %v", probed, want)
	}
}

// TestPixelsSurvive decodes the last frame with ffmpeg and compares it with what went in,
// for I420 and NV12 input: a swapped or misread plane shows as a large difference.
func TestPixelsSurvive(t *testing.T) {
	peers.Require(t, "ffmpeg")
	for _, nv12 := range []bool{false, true} {
		opts := encoder.Options{Width: 320, Height: 240, FPS: 30, Bitrate: 4_000_000, GOP: 30}
		stream, _, _, last := encode(t, opts, 12, nv12)
		path := writeTemp(t, "px.h264", stream)
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-vf", "select=eq(n\\,11)",
			"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
		if err != nil || len(out) != 320*240*3/2 {
			t.Fatalf("ffmpeg decode: %v, %d bytes", err, len(out))
		}
		in := make([]byte, 0, len(out))
		in = append(in, last.Planes[0]...)
		if nv12 {
			for c := range 2 {
				for i := c; i < len(last.Planes[1]); i += 2 {
					in = append(in, last.Planes[1][i])
				}
			}
		} else {
			in = append(append(in, last.Planes[1]...), last.Planes[2]...)
		}
		for plane, r := range [][2]int{{0, 320 * 240}, {320 * 240, 320 * 240 * 5 / 4}, {320 * 240 * 5 / 4, len(out)}} {
			var sum int
			for i := r[0]; i < r[1]; i++ {
				sum += abs(int(out[i]) - int(in[i]))
			}
			if mad := float64(sum) / float64(r[1]-r[0]); mad > 2.5 {
				t.Errorf("nv12=%v plane %d: mean difference %.2f after decoding, want <= 2.5", nv12, plane, mad)
			}
		}
	}
}

// TestBitrateCapped feeds noise, which wants far more than the target: the VBV keeps the
// stream near the bitrate asked for.
func TestBitrateCapped(t *testing.T) {
	const target = 500_000
	enc, err := x264.New(encoder.Options{Width: 320, Height: 240, FPS: 30, Bitrate: target, GOP: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 320*240*3/2)
	f := &media.Frame{Format: media.PixelI420, Width: 320, Height: 240,
		Planes:  [3][]byte{buf[:76800], buf[76800:96000], buf[96000:]},
		Strides: [3]int{320, 160, 160}}
	total := 0
	for i := range 90 {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		f.Time = time.Duration(i) * time.Second / 30
		enc.Encode(f, false, func(au *media.AccessUnit) error {
			for _, n := range au.NALUs {
				total += len(n)
			}
			return nil
		})
	}
	if got := total * 8 / 3; got < target/2 || got > target*13/10 {
		t.Errorf("noise at %d bit/s target came out at %d bit/s", target, got)
	}
}

func TestProfileAndRate(t *testing.T) {
	for _, c := range []struct {
		profile string
		idc     byte
		fps     float64
	}{{"baseline", 66, 25}, {"main", 77, 29.97}, {"", 100, 60}} {
		enc, err := x264.New(encoder.Options{Width: 64, Height: 48, FPS: c.fps, Profile: c.profile})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := testsrc.NewPattern(64, 48, 30)
		f := p.NewFrame()
		p.Draw(f, 0, wall)
		err = enc.Encode(f, false, func(au *media.AccessUnit) error {
			sps, err := h264.ParseSPS(au.NALUs[slices.IndexFunc(au.NALUs, func(n []byte) bool { return h264.NALType(n) == h264.TypeSPS })])
			if err != nil {
				return err
			}
			if sps.ProfileIDC != c.idc || sps.Width != 64 || sps.Height != 48 || abs(int(sps.FrameRate()*1000)-int(c.fps*1000)) > 1 {
				t.Errorf("profile %q: SPS profile %d %dx%d %v fps, want %d 64x48 %v fps", c.profile, sps.ProfileIDC, sps.Width, sps.Height, sps.FrameRate(), c.idc, c.fps)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		enc.Close()
		enc.Close()
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		opts encoder.Options
		want string
	}{
		{encoder.Options{Width: 64, Height: 48, Preset: "warp"}, `preset "warp"`},
		{encoder.Options{Width: 64, Height: 48, Tune: "loud"}, `tune "loud"`},
		{encoder.Options{Width: 64, Height: 48, Profile: "high10x"}, `profile "high10x"`},
		{encoder.Options{Width: 63, Height: 48}, "63x48"},
		{encoder.Options{Width: 64, Height: 48, Bitrate: 10}, "bitrate 10"},
	} {
		if _, err := x264.New(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %s", c.opts, err, c.want)
		}
	}

	enc, err := x264.New(encoder.Options{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := testsrc.NewPattern(64, 48, 30)
	f := p.NewFrame()
	never := func(*media.AccessUnit) error { t.Error("emit called"); return nil }
	short := *f
	short.Planes[2] = short.Planes[2][:10]
	wrong := *f
	wrong.Width = 32
	for _, c := range []struct {
		f    *media.Frame
		want string
	}{{&short, "plane 2"}, {&wrong, "32x48"}} {
		if err := enc.Encode(c.f, false, never); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one naming %s", err, c.want)
		}
	}
	errStop := bytes.ErrTooLarge
	if err := enc.Encode(f, false, func(*media.AccessUnit) error { return errStop }); err != errStop {
		t.Errorf("emit's error came back as %v", err)
	}
	enc.Close()
	if err := enc.Encode(f, false, never); err == nil {
		t.Error("Encode after Close succeeded")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkEncode720p is x264 alone on the 1280x720 pattern, veryfast zerolatency.
func BenchmarkEncode720p(b *testing.B) {
	enc, err := x264.New(encoder.Options{Width: 1280, Height: 720, FPS: 30})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	p, _ := testsrc.NewPattern(1280, 720, 30)
	f := p.NewFrame()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Draw(f, int64(i), wall)
		enc.Encode(f, false, func(*media.AccessUnit) error { return nil })
	}
}

// BenchmarkEncode720pPreset is 720p30 raw pictures through x264 at the presets a Pi
// uses, live tuning: besides the wall time per frame it reports the process's CPU time
// per frame (user + system, every x264 thread), which is what a Pi's cores pay.
func BenchmarkEncode720pPreset(b *testing.B) {
	for _, preset := range []string{"veryfast", "superfast", "ultrafast"} {
		b.Run(preset, func(b *testing.B) {
			enc, err := x264.New(encoder.Options{Width: 1280, Height: 720, FPS: 30, Preset: preset})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			p, _ := testsrc.NewPattern(1280, 720, 30)
			frames := make([]*media.Frame, 30) // one second of the moving pattern, drawn beforehand
			for i := range frames {
				frames[i] = p.NewFrame()
				p.Draw(frames[i], int64(i), wall)
			}
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				enc.Encode(frames[n%len(frames)], false, func(*media.AccessUnit) error { return nil })
				n++
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(n), "cpu-ms/frame")
		})
	}
}

// cpuTime is the user and system time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOpenCloseReleases opens, uses and closes 20 encoders: afterwards the process has as
// many open files and threads as before (each encoder has an encoding thread, libx264's
// threads and a done pipe; Close ends and closes them all).
func TestOpenCloseReleases(t *testing.T) {
	count := func() (fds, threads int) {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(status)) {
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				threads, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		return len(ents), threads
	}
	p, _ := testsrc.NewPattern(320, 240, 30)
	f := p.NewFrame()
	cycle := func() {
		enc, err := x264.New(encoder.Options{Width: 320, Height: 240, FPS: 30})
		if err != nil {
			t.Fatal(err)
		}
		units := 0
		for i := range 5 {
			p.Draw(f, int64(i), wall)
			if err := enc.Encode(f, false, func(*media.AccessUnit) error { units++; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if units != 5 {
			t.Errorf("5 frames gave %d access units", units)
		}
		enc.Close()
		enc.Close()
	}
	cycle() // the library and the runtime's own threads settle
	fds0, threads0 := count()
	for range 20 {
		cycle()
	}
	fds, threads := count()
	if fds != fds0 {
		t.Errorf("open files: %d before 20 encoders, %d after", fds0, fds)
	}
	// Go's threads stay once started (the runtime parks them); libx264's and the
	// encoding threads end. A few Go threads may still be added by the runtime.
	if threads > threads0+2 {
		t.Errorf("threads: %d before 20 encoders, %d after", threads0, threads)
	}
}
