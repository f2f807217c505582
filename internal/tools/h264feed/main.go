//go:build linux && cgo

// Command h264feed plays an Annex-B H.264 clip into a v4l2loopback device, one access
// unit per write() at a fixed rate, so that the device is an H.264 camera for the VM
// checks of scripts/ci/vm.sh. It loops over the clip (or -loops times) and can stall
// once, as a camera that hangs for a moment does.
//
//	h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 [-pause-after 150 -pause 3s] clip.h264
package main

/*
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/videodev2.h>

// set_output sets the loopback's OUTPUT format to H.264 at w x h and its frame interval
// to 1/fps; it returns the driver's sizeimage, or -errno.
static int set_output(int fd, unsigned w, unsigned h, unsigned fps) {
	struct v4l2_format f;
	struct v4l2_streamparm p;
	memset(&f, 0, sizeof f);
	f.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	f.fmt.pix.width = w;
	f.fmt.pix.height = h;
	f.fmt.pix.pixelformat = V4L2_PIX_FMT_H264;
	f.fmt.pix.field = V4L2_FIELD_NONE;
	f.fmt.pix.colorspace = V4L2_COLORSPACE_REC709;
	if (ioctl(fd, VIDIOC_S_FMT, &f) < 0) return -errno;
	memset(&p, 0, sizeof p);
	p.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	p.parm.output.timeperframe.numerator = 1;
	p.parm.output.timeperframe.denominator = fps;
	if (ioctl(fd, VIDIOC_S_PARM, &p) < 0) return -errno;
	return (int)f.fmt.pix.sizeimage;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/camnode/camnode/media/h264"
)

func main() {
	dev := flag.String("dev", "/dev/video10", "the v4l2loopback device")
	fps := flag.Int("fps", 30, "access units per second")
	w := flag.Uint("w", 640, "picture width the format announces")
	h := flag.Uint("h", 480, "picture height the format announces")
	loops := flag.Int("loops", 0, "passes over the clip (0: forever)")
	pauseAfter := flag.Int("pause-after", 0, "stall once after this many access units (0: never)")
	pause := flag.Duration("pause", 3*time.Second, "how long the stall lasts")
	flag.Parse()
	if flag.NArg() != 1 || *fps < 1 {
		fmt.Fprintln(os.Stderr, "usage: h264feed [-dev /dev/video10] [-fps 30] [-w 640 -h 480] [-loops N] [-pause-after N -pause 3s] clip.h264")
		os.Exit(2)
	}
	if err := run(*dev, *fps, *w, *h, *loops, *pauseAfter, *pause, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "h264feed:", err)
		os.Exit(1)
	}
}

// accessUnits cuts the clip with the splitter the sources use, back into Annex-B bytes.
func accessUnits(clip []byte) ([][]byte, error) {
	var aus [][]byte
	keep := func(nalus [][]byte) error {
		aus = append(aus, h264.AppendAnnexB(nil, nalus))
		return nil
	}
	var s h264.Splitter
	if err := s.Push(clip, keep); err != nil {
		return nil, err
	}
	if err := s.Flush(keep); err != nil {
		return nil, err
	}
	return aus, nil
}

func run(dev string, fps int, w, h uint, loops, pauseAfter int, pause time.Duration, path string) error {
	clip, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	aus, err := accessUnits(clip)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(aus) == 0 {
		return fmt.Errorf("%s: no access units", path)
	}
	fd, err := syscall.Open(dev, syscall.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer syscall.Close(fd)
	size := C.set_output(C.int(fd), C.uint(w), C.uint(h), C.uint(fps))
	if size < 0 {
		return fmt.Errorf("%s: VIDIOC_S_FMT/S_PARM(OUTPUT, H264 %dx%d@%d): %w", dev, w, h, fps, syscall.Errno(-size))
	}
	fmt.Printf("h264feed: %s H264 %dx%d@%d, %d access units, sizeimage %d\n", dev, w, h, fps, len(aus), int(size))
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	n := 0
	for pass := 0; loops == 0 || pass < loops; pass++ {
		for _, au := range aus {
			if _, err := syscall.Write(fd, au); err != nil {
				return fmt.Errorf("write %s: %w", dev, err)
			}
			n++
			if n == pauseAfter {
				fmt.Printf("h264feed: stalling %v after %d access units\n", pause, n)
				time.Sleep(pause)
			}
			<-tick.C
		}
	}
	fmt.Printf("h264feed: wrote %d access units\n", n)
	return nil
}
