// Command burn measures the burn-in path in real time: the live test pattern, danmaku drawn into it, x264.
//
//	go run ./bench/burn -size 1280x720 -fps 30 -for 60s -rate 10
//
// It prints the CPU share of one core the whole process used (x264's threads included),
// whether it kept real time (frames the pattern had to skip because the pipeline fell
// behind), and the mean and worst time of the overlay and of the encoder per frame.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/source/testsrc"
)

var texts = []string{"666", "哈哈哈哈哈", "前方高能", "awsl", "这是什么神仙操作", "hello world", "2333333",
	"主播好厉害", "第一次来直播间", "GG", "弹幕护体", "yyds!", "泪目了", "up主加油 💪", "nice shot", "来了来了"}

func main() {
	size := flag.String("size", "1280x720", "picture size")
	fps := flag.Float64("fps", 30, "frame rate")
	dur := flag.Duration("for", 60*time.Second, "how long to run")
	rate := flag.Float64("rate", 10, "chat messages per second (Bilibili-busy: 10)")
	preset := flag.String("preset", "veryfast", "x264 preset")
	bitrate := flag.Int("bitrate", 2_500_000, "bit/s")
	font := flag.String("font", "", "CJK font file (default: the system's)")
	flag.Parse()
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		fail("size %q: %v", *size, err)
	}

	src, err := testsrc.NewFrameSource(testsrc.Options{Width: w, Height: h, FPS: *fps})
	if err != nil {
		fail("%v", err)
	}
	enc, err := x264.New(encoder.Options{Width: w, Height: h, FPS: *fps, Bitrate: *bitrate, Preset: *preset})
	if err != nil {
		fail("%v", err)
	}
	defer enc.Close()
	r, err := render.New(render.Options{FontPath: *font})
	if err != nil {
		fail("%v", err)
	}
	defer r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	if *rate > 0 {
		go func() {
			rng := rand.New(rand.NewPCG(1, 1))
			tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					modes := []string{"scroll", "scroll", "scroll", "scroll", "scroll", "scroll", "top", "bottom", "reverse"}
					r.Add(render.Comment{Text: texts[rng.IntN(len(texts))], Color: rng.Uint32() | 0x404040, Mode: modes[rng.IntN(len(modes))]})
				}
			}
		}()
	}

	var frames, bytes, onScreen int
	var overlay, encode, overlayMax, encodeMax time.Duration
	cpu0, wall0 := cpuTime(), time.Now()
	err = src.RunFrames(ctx, func(f *media.Frame) error {
		t0 := time.Now()
		if err := r.Draw(f); err != nil {
			return err
		}
		t1 := time.Now()
		err := enc.Encode(f, false, func(au *media.AccessUnit) error {
			for _, n := range au.NALUs {
				bytes += len(n)
			}
			return nil
		})
		t2 := time.Now()
		overlay += t1.Sub(t0)
		encode += t2.Sub(t1)
		overlayMax, encodeMax = max(overlayMax, t1.Sub(t0)), max(encodeMax, t2.Sub(t1))
		frames++
		onScreen += r.Stats().OnScreen
		return err
	})
	if err != nil {
		fail("%v", err)
	}
	wall := time.Since(wall0)
	cpu := cpuTime() - cpu0
	st := r.Stats()
	n := max(1, frames)
	realtime := "yes"
	if src.Skipped() > 0 {
		realtime = fmt.Sprintf("NO (%d frames skipped)", src.Skipped())
	}
	fmt.Printf("burn %dx%d@%g %s %d kbit/s, %v, %.1f chat/s (%s)\n", w, h, *fps, *preset, *bitrate/1000, wall.Round(time.Second), *rate, strings.SplitN(r.Font(), " (", 2)[0])
	fmt.Printf("  frames %d, real time: %s, cpu %.0f%% of one core\n", frames, realtime, 100*cpu.Seconds()/wall.Seconds())
	fmt.Printf("  overlay mean %v max %v; x264 mean %v max %v\n", (overlay / time.Duration(n)).Round(time.Microsecond),
		overlayMax.Round(time.Microsecond), (encode / time.Duration(n)).Round(time.Microsecond), encodeMax.Round(time.Microsecond))
	fmt.Printf("  comments on screen mean %.1f; shown %d, dropped %d; output %.0f kbit/s\n", float64(onScreen)/float64(n),
		st.Shown, st.Dropped, float64(bytes)*8/wall.Seconds()/1000)
}

// cpuTime is the user and system CPU time of the process so far, every thread counted.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "burn: "+format+"\n", args...)
	os.Exit(1)
}
