// Command rawburn compares camnode's raw path with ffmpeg doing the same job: 720p30 raw
// pictures from a program (ffmpeg's testsrc2 as rawvideo, paced with -re), 20 comments
// drawn into them, x264 at the same preset, tune and rate control, for the same time.
//
//	go run ./bench/rawburn -for 60s
//
// camnode's side is media/pipeline itself: CAMNODE_SOURCE=exec:… with
// CAMNODE_SOURCE_FORMAT=yuv420, the burn-in renderer as its overlay, x264; the stream goes
// to a destination that counts it. ffmpeg's side reads the same pictures from a pipe and
// runs 20 drawtext filters and libx264 with camnode's x264 settings, writing H.264 to a
// pipe that the benchmark counts. Both sides run at the same time (-together, the
// default), so that the load others put on the machine weighs on both alike; each in a
// process of its own. The pictures' generators are not counted on either side: ffmpeg's
// is a process of its own, and camnode's side reports its own CPU time (RUSAGE_SELF),
// which leaves out the generator it started and reaped.
//
// Printed: CPU seconds, CPU share of one core, max RSS, frames and bitrate of each side,
// the ratio, and the x264 settings string of both streams (from the SEI x264 writes)
// with the settings in which they differ.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/media/source"
)

const comments = 20

func main() {
	dur := flag.Duration("for", 60*time.Second, "how long each side runs")
	preset := flag.String("preset", "veryfast", "x264 preset of both sides")
	bitrate := flag.Int("bitrate", 2_500_000, "bit/s")
	font := flag.String("font", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "font file of both sides")
	together := flag.Bool("together", true, "run both sides at the same time (false: camnode's, then ffmpeg's)")
	ffDefaults := flag.Bool("ffmpeg-defaults", false, "ffmpeg's libx264 with only the preset and bitrate set (its own defaults otherwise: lookahead, B-frames, frame threads), instead of camnode's settings")
	side := flag.String("side", "", "internal: camnode (run camnode's side in this process)")
	prof := flag.String("cpuprofile", "", "write camnode's side's CPU profile here")
	memProf := flag.String("memprofile", "", "write camnode's side's allocation profile here")
	flag.Parse()
	const w, h, fps = 1280, 720, 30
	gen := fmt.Sprintf("ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=%dx%d:rate=%d -t %d -f rawvideo -pix_fmt yuv420p -",
		w, h, fps, int(dur.Seconds()))
	if *side == "camnode" {
		if *memProf != "" {
			runtime.MemProfileRate = 4096
		}
		camnodeSide(gen, w, h, fps, *preset, *bitrate, *font, *prof)
		if *memProf != "" {
			f, err := os.Create(*memProf)
			if err != nil {
				fail("%v", err)
			}
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		return
	}

	self, err := os.Executable()
	if err != nil {
		fail("%v", err)
	}
	var cn, ff result
	runCN := func() {
		cn = runChild(exec.Command(self, "-side", "camnode", "-for", dur.String(), "-preset", *preset,
			"-bitrate", fmt.Sprint(*bitrate), "-font", *font, "-cpuprofile", *prof, "-memprofile", *memProf))
	}
	runFF := func() { ff = ffmpegSide(gen, w, h, fps, *preset, *bitrate, *font, *ffDefaults) }
	if *together {
		var wg sync.WaitGroup
		wg.Go(runCN)
		wg.Go(runFF)
		wg.Wait()
	} else {
		runCN()
		runFF()
	}
	how := "one after the other"
	if *together {
		how = "at the same time"
	}
	fmt.Printf("720p%d raw pictures + %d comments burnt in + x264 %s, %v each, the two sides run %s:\n", fps, comments, *preset, *dur, how)
	cn.print("camnode", *dur)
	ff.print("ffmpeg ", *dur)
	fmt.Printf("camnode / ffmpeg CPU: %.2f (target <= 0.8), RSS: %.2f\n", cn.cpu.Seconds()/ff.cpu.Seconds(), float64(cn.rssKiB)/float64(ff.rssKiB))
	fmt.Printf("x264 settings, camnode: %s\n", cn.x264)
	if diff := settingsDiff(cn.x264, ff.x264); diff == "" {
		fmt.Println("x264 settings, ffmpeg:  the same")
	} else {
		fmt.Printf("x264 settings, ffmpeg:  %s\ndiffering (camnode -> ffmpeg): %s\n", ff.x264, diff)
	}
}

// result is what one side did and cost.
type result struct {
	cpu      time.Duration
	rssKiB   int64
	frames   int
	bytes    int64
	onScreen float64 // camnode: mean comments on screen per frame
	x264     string  // the settings string of the stream's x264 SEI
}

func (r result) print(name string, dur time.Duration) {
	extra := ""
	if r.onScreen > 0 {
		extra = fmt.Sprintf(", %.1f comments on screen on average", r.onScreen)
	}
	fmt.Printf("%s: cpu %.1f s (%.0f%% of one core), max RSS %.0f MiB, %d frames, %.0f kbit/s%s\n", name, r.cpu.Seconds(),
		100*r.cpu.Seconds()/dur.Seconds(), float64(r.rssKiB)/1024, r.frames, float64(r.bytes)*8/1000/dur.Seconds(), extra)
}

// runChild runs camnode's side and reads the result it prints as its last lines.
func runChild(cmd *exec.Cmd) result {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail("camnode side: %v", err)
	}
	var r result
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "x264: "); ok {
			r.x264 = v
			continue
		}
		var cpuNS int64
		if _, err := fmt.Sscanf(line, "result cpu_ns=%d rss_kib=%d frames=%d bytes=%d on_screen=%g",
			&cpuNS, &r.rssKiB, &r.frames, &r.bytes, &r.onScreen); err == nil {
			r.cpu = time.Duration(cpuNS)
		}
	}
	if r.frames == 0 || r.x264 == "" {
		fail("camnode side printed no result: %q", out)
	}
	return r
}

// camnodeSide runs the pipeline on gen's pictures with the renderer kept at 20 comments
// and prints its own CPU time and RSS (the generator it reaped left out), the access
// units and bytes the stream had, and the x264 settings string.
func camnodeSide(gen string, w, h, fps int, preset string, bitrate int, font, prof string) {
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			fail("%v", err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	r, err := render.New(render.Options{FontPath: font})
	if err != nil {
		fail("%v", err)
	}
	ov := &overlay{r: r}
	dst := &counter{}
	done := make(chan struct{})
	p := pipeline.New(pipeline.Options{
		Source: "exec:" + gen,
		Capture: source.Options{Width: w, Height: h, FPS: float64(fps), Bitrate: bitrate, GOP: 2 * fps,
			Format: "yuv420"},
		Encoder:  "x264",
		Encoding: encoder.Options{Preset: preset},
		Local:    []media.Output{dst},
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
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			dst.mu.Lock()
			defer dst.mu.Unlock()
			fmt.Printf("x264: %s\n", dst.x264)
			fmt.Printf("result cpu_ns=%d rss_kib=%d frames=%d bytes=%d on_screen=%g\n", cpu.Nanoseconds(), ru.Maxrss,
				dst.units, dst.bytes, float64(ov.onScreen)/float64(max(1, ov.frames)))
			return
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

func (o *overlay) Enabled() (bool, bool)  { return true, true }
func (o *overlay) Drawing()               {}
func (o *overlay) Unavailable(why string) { fail("burn unavailable: %s", why) }
func (o *overlay) Draw(f *media.Frame) error {
	o.frames++
	o.onScreen += o.r.Stats().OnScreen
	return o.r.Draw(f)
}

// counter is the camnode side's destination: it counts the access units and their bytes
// (as AVCC: a 4-byte length before each NAL unit) and keeps the x264 settings string.
type counter struct {
	media.NopOutput
	mu    sync.Mutex
	units int
	bytes int64
	x264  string
}

func (c *counter) WriteVideo(_ context.Context, au *media.AccessUnit, _ *h264.ParameterSets) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.units++
	for _, n := range au.NALUs {
		c.bytes += int64(4 + len(n))
		if c.x264 == "" && h264.NALType(n) == h264.TypeSEI {
			c.x264 = x264Settings(n)
		}
	}
	return nil
}

// ffmpegSide runs gen into ffmpeg (20 drawtext, libx264 with camnode's settings, or with
// ffmpeg's own defaults but for the preset and bitrate), reads the H.264 it writes, and
// returns ffmpeg's own rusage.
func ffmpegSide(gen string, w, h, fps int, preset string, bitrate int, font string, defaults bool) result {
	genCmd := exec.Command("sh", "-c", gen)
	x264 := []string{"-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
		"-b:v", fmt.Sprint(bitrate), "-g", fmt.Sprint(2 * fps), "-keyint_min", fmt.Sprint(2 * fps), "-bf", "0",
		// camnode's x264 settings (media/encoder/x264): no scene cuts, a one-second VBV, BT.709
		// limited range; the SEI strings of both streams are compared after the run.
		"-x264-params", fmt.Sprintf("scenecut=0:vbv-maxrate=%d:vbv-bufsize=%d:fullrange=off:colorprim=bt709:transfer=bt709:colormatrix=bt709",
			bitrate/1000, bitrate/1000)}
	if defaults {
		x264 = []string{"-c:v", "libx264", "-preset", preset, "-b:v", fmt.Sprint(bitrate)}
	}
	args := []string{"-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", w, h), "-r", fmt.Sprint(fps), "-i", "-", "-vf", drawtext(font, h)}
	args = append(append(args, x264...), "-f", "h264", "-")
	ff := exec.Command("ffmpeg", args...)
	pipe, err := genCmd.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	ff.Stdin = pipe
	ff.Stderr = os.Stderr
	out, err := ff.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	if err := genCmd.Start(); err != nil {
		fail("%v", err)
	}
	if err := ff.Start(); err != nil {
		fail("ffmpeg side: %v", err)
	}
	var r result
	r.frames, r.bytes, r.x264 = countAnnexB(out)
	if err := ff.Wait(); err != nil {
		fail("ffmpeg side: %v", err)
	}
	genCmd.Wait()
	r.cpu = ff.ProcessState.UserTime() + ff.ProcessState.SystemTime()
	r.rssKiB = int64(ff.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // int32 on 32-bit ARM
	return r
}

// countAnnexB reads an Annex-B H.264 stream to its end and returns the pictures in it
// (slices that start a picture: first_mb_in_slice 0, whose ue(v) code is a single 1 bit),
// its size and the x264 settings string of its first SEI that has one.
func countAnnexB(r io.Reader) (pictures int, size int64, settings string) {
	br := bufio.NewReaderSize(r, 1<<20)
	// The NAL header byte and the byte after it follow a 00 00 01 start code.
	var zeros int
	var sei []byte // the SEI being collected, until the next start code
	inSEI := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fail("ffmpeg side: reading its output: %v", err)
			}
			return
		}
		size++
		if inSEI {
			sei = append(sei, b)
		}
		if b == 1 && zeros >= 2 {
			if inSEI && settings == "" {
				settings = x264Settings(sei)
			}
			inSEI = false
			head, err1 := br.ReadByte()
			first, err2 := br.ReadByte()
			if err1 != nil || err2 != nil {
				return
			}
			size += 2
			switch head & 0x1f {
			case 1, 5:
				if first&0x80 != 0 {
					pictures++
				}
			case h264.TypeSEI:
				if settings == "" {
					inSEI, sei = true, append(sei[:0], head, first)
				}
			}
			zeros = 0
			if first == 0 {
				zeros = 1
			}
			continue
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
}

// x264Settings is the settings part of x264's SEI ("cabac=1 ref=1 …"), or "".
func x264Settings(sei []byte) string {
	_, s, ok := bytes.Cut(sei, []byte("options: "))
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, string(s)))
}

// settingsDiff lists the x264 settings that differ between a and b ("threads=2 -> 3").
func settingsDiff(a, b string) string {
	parse := func(s string) (keys []string, m map[string]string) {
		m = map[string]string{}
		for _, kv := range strings.Fields(s) {
			k, v, _ := strings.Cut(kv, "=")
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
			m[k] = v
		}
		return keys, m
	}
	ka, ma := parse(a)
	kb, mb := parse(b)
	var diff []string
	for _, k := range ka {
		if mb[k] != ma[k] {
			diff = append(diff, fmt.Sprintf("%s=%s -> %s", k, ma[k], mb[k]))
		}
	}
	for _, k := range kb {
		if _, ok := ma[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s=(none) -> %s", k, mb[k]))
		}
	}
	return strings.Join(diff, ", ")
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

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rawburn: "+format+"\n", args...)
	os.Exit(1)
}
