// Command rawburn compares camnode's raw path with ffmpeg doing the same job: 720p30 raw
// pictures from a program (ffmpeg's testsrc2 as rawvideo, paced with -re), 20 comments
// drawn into them, x264 at the same preset and bitrate, for the same time.
//
//	go run ./bench/rawburn -for 60s
//
// camnode's side is media/pipeline itself: CAMNODE_SOURCE=exec:… with
// CAMNODE_SOURCE_FORMAT=yuv420, the burn-in renderer as its overlay, x264; the stream goes
// to a destination that counts it. ffmpeg's side reads the same pictures from a pipe and
// runs 20 drawtext filters and libx264 with camnode's x264 settings. The pictures' generator is not counted on either
// side. Printed: CPU seconds, CPU share of one core, max RSS, frames, and the ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/media/source"
)

const comments = 20

func main() {
	dur := flag.Duration("for", 60*time.Second, "how long each side runs")
	preset := flag.String("preset", "veryfast", "x264 preset of both sides")
	bitrate := flag.Int("bitrate", 2_500_000, "bit/s")
	font := flag.String("font", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "font file of both sides")
	side := flag.String("side", "", "internal: camnode (run camnode's side in this process)")
	prof := flag.String("cpuprofile", "", "write camnode's side's CPU profile here")
	flag.Parse()
	const w, h, fps = 1280, 720, 30
	gen := fmt.Sprintf("ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=%dx%d:rate=%d -t %d -f rawvideo -pix_fmt yuv420p -",
		w, h, fps, int(dur.Seconds()))
	if *side == "camnode" {
		if *prof != "" {
			f, err := os.Create(*prof)
			if err != nil {
				fail("%v", err)
			}
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		frames, onScreen := runCamnode(gen, w, h, fps, *preset, *bitrate, *font)
		fmt.Printf("%d, comments on screen %.1f on average\n", frames, onScreen)
		return
	}
	// Each side in a process of its own, so that its rusage is its alone.
	self, err := os.Executable()
	if err != nil {
		fail("%v", err)
	}
	cn := exec.Command(self, "-side", "camnode", "-for", dur.String(), "-preset", *preset,
		"-bitrate", fmt.Sprint(*bitrate), "-font", *font, "-cpuprofile", *prof)
	cn.Stderr = os.Stderr
	out, err := cn.Output()
	if err != nil {
		fail("camnode side: %v", err)
	}
	report("camnode", cn.ProcessState, strings.TrimSpace(string(out)), *dur)

	genCmd := exec.Command("sh", "-c", gen)
	ff := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-stats_period", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", w, h), "-r", fmt.Sprint(fps), "-i", "-",
		"-vf", drawtext(*font, h), "-c:v", "libx264", "-preset", *preset, "-tune", "zerolatency",
		"-b:v", fmt.Sprint(*bitrate), "-g", fmt.Sprint(2*fps), "-keyint_min", fmt.Sprint(2*fps), "-bf", "0",
		// camnode's x264 settings (media/encoder/x264): no scene cuts, a one-second VBV.
		"-x264-params", fmt.Sprintf("scenecut=0:vbv-maxrate=%d:vbv-bufsize=%d", *bitrate/1000, *bitrate/1000),
		"-f", "null", "-")
	pipe, err := genCmd.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	ff.Stdin = pipe
	ff.Stderr = os.Stderr
	if err := genCmd.Start(); err != nil {
		fail("%v", err)
	}
	if err := ff.Run(); err != nil {
		fail("ffmpeg side: %v", err)
	}
	genCmd.Wait()
	report("ffmpeg ", ff.ProcessState, "-", *dur)
	c, f := cpu(cn.ProcessState), cpu(ff.ProcessState)
	fmt.Printf("camnode / ffmpeg CPU: %.2f (target <= 0.8)\n", c.Seconds()/f.Seconds())
}

// drawtext is 20 scrolling comments in ten lanes, like the renderer's: 5% of the
// height, white with a black outline, crossing the picture in 8 s.
func drawtext(font string, h int) string {
	size := h / 20
	var fs []string
	for i := range comments {
		fs = append(fs, fmt.Sprintf("drawtext=fontfile=%s:text='comment %02d 666':fontsize=%d:fontcolor=white:borderw=2:bordercolor=black:x=w-mod(t*(w+tw)/8+%d\\,w+tw):y=%d",
			font, i, size, i*97, (i%10)*size*5/4))
	}
	return strings.Join(fs, ",")
}

// runCamnode runs the pipeline on gen's pictures with the renderer kept at 20 comments,
// and returns the frames encoded and the mean number of comments on screen.
func runCamnode(gen string, w, h, fps int, preset string, bitrate int, font string) (uint64, float64) {
	r, err := render.New(render.Options{FontPath: font})
	if err != nil {
		fail("%v", err)
	}
	ov := &overlay{r: r}
	var units atomic.Uint64
	done := make(chan struct{})
	p := pipeline.New(pipeline.Options{
		Source: "exec:" + gen,
		Capture: source.Options{Width: w, Height: h, FPS: float64(fps), Bitrate: bitrate, GOP: 2 * fps,
			Format: "yuv420"},
		Encoder:  "x264",
		Encoding: encoder.Options{Preset: preset},
		Extra:    []pipeline.Destination{counter{&units}},
		Overlay:  ov,
		OnStatus: func(s pipeline.Status) {
			if s.Kind == pipeline.SourceFailed {
				select {
				case <-done:
				default:
					close(done) // the generator ended
				}
			}
		},
	})
	p.Start(context.Background())
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-done:
			p.Stop()
			return units.Load(), float64(ov.onScreen) / float64(max(1, ov.frames))
		case <-tick.C:
			if r.Stats().OnScreen < comments {
				r.Add(render.Comment{Text: fmt.Sprintf("comment %02d 666", i%comments), Color: 0xffffff})
			}
		}
	}
}

type overlay struct {
	r                *render.Renderer
	frames, onScreen int // read once the pipeline has stopped
}

func (o *overlay) Enabled() bool          { return true }
func (o *overlay) Drawing()               {}
func (o *overlay) Unavailable(why string) { fail("burn unavailable: %s", why) }
func (o *overlay) Draw(f *media.Frame) error {
	o.frames++
	o.onScreen += o.r.Stats().OnScreen
	return o.r.Draw(f)
}

type counter struct{ n *atomic.Uint64 }

func (c counter) WriteAccessUnit(context.Context, *media.AccessUnit) error { c.n.Add(1); return nil }
func (c counter) WriteData(context.Context, time.Duration, []byte)         {}
func (c counter) WriteAudio(context.Context, *media.AudioFrame) error      { return nil }

func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

func report(name string, ps *os.ProcessState, frames string, dur time.Duration) {
	ru := ps.SysUsage().(*syscall.Rusage)
	fmt.Printf("%s: cpu %.1f s (%.0f%% of one core over %v), max RSS %.0f MiB, frames %s\n", name, cpu(ps).Seconds(),
		100*cpu(ps).Seconds()/dur.Seconds(), dur, float64(ru.Maxrss)/1024, frames)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rawburn: "+format+"\n", args...)
	os.Exit(1)
}
