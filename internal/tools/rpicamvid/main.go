// Command rpicamvid stands in for Raspberry Pi's rpicam-vid in tests, on a machine with
// no Pi camera. Built as "rpicam-vid" (or "libcamera-vid") into a directory put first on
// PATH, it takes exactly the options the real one takes (the list below is rpicam-apps'
// core/options.cpp and core/video_options.hpp) and refuses any other as the real one
// does, and writes what the real one writes to -o -: H.264 made by ffmpeg (libx264) with
// the headers inline before every IDR picture, or --codec yuv420 pictures with their luma
// rows padded to 64 bytes, in real time at --framerate.
//
// The environment steers it:
//
//	RPICAM_STANDIN_ARGS=file     append the arguments of every run to file, one run a line
//	RPICAM_STANDIN_NO_CAMERA=1   no camera: --list-cameras says so, a capture fails as the
//	                             real one does ("ERROR: *** no cameras available ***", exit 255)
//	RPICAM_STANDIN_FRAMES=N      end after N pictures even with -t 0 (a test's recording of
//	                             known length)
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// option is one option of rpicam-vid: its long name, its one-letter name, and whether it
// takes no value (boost's implicit_value: a flag, or a value given only with =).
type option struct {
	long, short string
	flag        bool
}

var options = []option{
	// core/options.cpp
	{"help", "h", true}, {"version", "", true}, {"list-cameras", "", true}, {"camera", "", false},
	{"verbose", "v", true}, {"config", "c", true}, {"info-text", "", false}, {"width", "", false},
	{"height", "", false}, {"timeout", "t", false}, {"output", "o", false}, {"post-process-file", "", false},
	{"post-process-libs", "", false}, {"nopreview", "n", true}, {"preview", "p", false},
	{"fullscreen", "f", true}, {"qt-preview", "", true}, {"preview-libs", "", false},
	{"preview-backend", "", false}, {"hflip", "", true}, {"vflip", "", true}, {"rotation", "", false},
	{"roi", "", false}, {"shutter", "", false}, {"analoggain", "", false}, {"gain", "", false},
	{"metering", "", false}, {"exposure", "", false}, {"ev", "", false}, {"awb", "", false},
	{"awbgains", "", false}, {"ccm", "", false}, {"flush", "", true}, {"wrap", "", false},
	{"brightness", "", false}, {"contrast", "", false}, {"saturation", "", false}, {"sharpness", "", false},
	{"framerate", "", false}, {"denoise", "", false}, {"viewfinder-width", "", false},
	{"viewfinder-height", "", false}, {"tuning-file", "", false}, {"lores-width", "", false},
	{"lores-height", "", false}, {"lores-par", "", true}, {"mode", "", false}, {"viewfinder-mode", "", false},
	{"buffer-count", "", false}, {"viewfinder-buffer-count", "", false}, {"no-raw", "", true},
	{"autofocus-mode", "", false}, {"autofocus-range", "", false}, {"autofocus-speed", "", false},
	{"autofocus-window", "", false}, {"lens-position", "", false}, {"hdr", "", true},
	{"metadata", "", false}, {"metadata-format", "", false}, {"flicker-period", "", false},
	// core/video_options.hpp
	{"bitrate", "b", false}, {"profile", "", false}, {"level", "", false}, {"intra", "g", false},
	{"inline", "", true}, {"codec", "", false}, {"encoder-libs", "", false}, {"save-pts", "", false},
	{"quality", "q", false}, {"listen", "l", true}, {"keypress", "k", true}, {"signal", "s", true},
	{"initial", "i", false}, {"split", "", true}, {"segment", "", false}, {"circular", "", true},
	{"frames", "", false}, {"libav-video-codec", "", false}, {"libav-video-codec-opts", "", false},
	{"libav-format", "", false}, {"libav-audio", "", true}, {"audio-codec", "", false},
	{"audio-source", "", false}, {"audio-device", "", false}, {"audio-channels", "", false},
	{"audio-bitrate", "", false}, {"audio-samplerate", "", false}, {"av-sync", "", false},
	{"low-latency", "", true}, {"sync", "", false},
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ERROR: *** "+format+" ***\n", args...)
	os.Exit(255) // main returns -1
}

func lookup(name string) (option, bool) {
	for _, o := range options {
		if o.long == name || (o.short != "" && o.short == name) {
			return o, true
		}
	}
	return option{}, false
}

// parse reads argv as boost::program_options does for these options.
func parse(args []string) map[string]string {
	got := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var name, value string
		hasValue := false
		switch {
		case strings.HasPrefix(a, "--"):
			name, value, hasValue = strings.Cut(a[2:], "=")
		case strings.HasPrefix(a, "-") && len(a) >= 2:
			name = a[1:2]
			if len(a) > 2 {
				value, hasValue = a[2:], true
			}
		default:
			fail("unrecognised option '%s'", a) // rpicam-vid takes no positional arguments
		}
		o, ok := lookup(name)
		if !ok {
			fail("unrecognised option '%s'", a)
		}
		if !hasValue && !o.flag {
			if i+1 >= len(args) {
				fail("the required argument for option '--%s' is missing", o.long)
			}
			i++
			value = args[i]
		}
		if !hasValue && o.flag {
			value = "1"
		}
		got[o.long] = value
	}
	return got
}

func number(opts map[string]string, name string, def float64) float64 {
	v, ok := opts[name]
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		fail("the argument ('%s') for option '--%s' is invalid", v, name)
	}
	return f
}

func main() {
	opts := parse(os.Args[1:])
	if f := os.Getenv("RPICAM_STANDIN_ARGS"); f != "" {
		if w, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(w, strings.Join(os.Args[1:], " "))
			w.Close()
		}
	}
	noCamera := os.Getenv("RPICAM_STANDIN_NO_CAMERA") == "1"
	if _, ok := opts["list-cameras"]; ok {
		if noCamera {
			fmt.Println("No cameras available!")
			return
		}
		fmt.Print(`Available cameras
-----------------
0 : imx708 [4608x2592 10-bit RGGB] (/base/soc/i2c0mux/i2c@1/imx708@1a)
    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]
                             2304x1296 [56.03 fps - (0, 0)/4608x2592 crop]
                             4608x2592 [14.35 fps - (0, 0)/4608x2592 crop]

`)
		return
	}
	if rot := number(opts, "rotation", 0); rot != 0 && rot != 180 {
		fail("invalid rotation value")
	}
	fmt.Fprintln(os.Stderr, "[0:00:00.000000000] [1234]  INFO Camera camera_manager.cpp:327 libcamera v0.3.0+65-6ddd79b5")
	if noCamera {
		fail("no cameras available")
	}
	if cam := number(opts, "camera", 0); cam != 0 {
		fail("selected camera is not available")
	}
	if opts["output"] != "-" {
		fail("stand-in: write to -o -")
	}
	w, h := int(number(opts, "width", 640)), int(number(opts, "height", 480))
	fps := number(opts, "framerate", 30)
	frames := int(number(opts, "frames", 0))
	timeout := strings.TrimSuffix(opts["timeout"], "ms")
	ms, _ := strconv.Atoi(timeout)
	if opts["timeout"] == "" {
		ms = 5000 // the real default, "5sec"
	}
	if n, err := strconv.Atoi(os.Getenv("RPICAM_STANDIN_FRAMES")); err == nil && n > 0 {
		frames = n
	}
	if frames == 0 && ms > 0 {
		frames = int(float64(ms) / 1000 * fps)
	}
	switch codec := opts["codec"]; codec {
	case "", "h264":
		h264(opts, w, h, fps, frames)
	case "yuv420":
		yuv420(w, h, fps, frames)
	default:
		fail("stand-in: codec %s is not made here", codec)
	}
}

// h264 has ffmpeg encode a test pattern as the Pi's encoder would: the GOP of --intra, the
// bitrate, the profile, real time. libx264 in ffmpeg's raw H.264 output repeats SPS and PPS
// before every IDR picture, which is what --inline asks of the real one.
func h264(opts map[string]string, w, h int, fps float64, frames int) {
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%s", w, h, strconv.FormatFloat(fps, 'f', -1, 64)),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"}
	if g := opts["intra"]; g != "" {
		args = append(args, "-g", g, "-keyint_min", g, "-sc_threshold", "0")
	}
	if b := opts["bitrate"]; b != "" {
		args = append(args, "-b:v", b, "-maxrate", b, "-bufsize", b)
	}
	if p := opts["profile"]; p != "" {
		args = append(args, "-profile:v", p)
	}
	if l := opts["level"]; l != "" {
		args = append(args, "-level", l)
	}
	if frames > 0 {
		args = append(args, "-frames:v", strconv.Itoa(frames))
	}
	args = append(args, "-f", "h264", "-")
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fail("stand-in: ffmpeg: %v", err)
	}
}

// yuv420 writes I420 pictures as the Pi's ISP lays them out: luma rows padded to a
// multiple of 64 bytes, chroma rows to half that; a bar moves across each picture.
func yuv420(w, h int, fps float64, frames int) {
	stride := (w + 63) &^ 63
	cstride, ch := stride/2, (h+1)/2
	pic := make([]byte, stride*h+2*cstride*ch)
	tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer tick.Stop()
	for n := 0; frames == 0 || n < frames; n++ {
		for y := range h {
			row := pic[y*stride : y*stride+stride]
			for x := range row {
				row[x] = byte(16 + (x+y)%200)
				if x >= w {
					row[x] = 0 // padding: never shown
				} else if (x/16)%(w/16) == n%(w/16) {
					row[x] = 235
				}
			}
		}
		for i := stride * h; i < len(pic); i++ {
			pic[i] = 128
		}
		if _, err := os.Stdout.Write(pic); err != nil {
			os.Exit(0) // the reader went away, as on OFF
		}
		<-tick.C
	}
}
