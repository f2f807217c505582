package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/source/rpicam"
	"github.com/camnode/camnode/media/source/v4l2"
)

// versionReport writes what this binary can do on this machine, one line each: V4L2
// cameras (built in or not), the x264 encoder (libx264 found, or what to install), MJPEG
// decoding (libjpeg-turbo or image/jpeg) and the hardware H.264 encoders (V4L2
// memory-to-memory devices whose capture queue offers a coded format).
func versionReport(w io.Writer) {
	fmt.Fprintf(w, "camnode %s %s/%s\n", versionString(), runtime.GOOS, runtime.GOARCH)
	if v4l2.Built {
		fmt.Fprintln(w, "  v4l2 cameras:   built in")
	} else {
		fmt.Fprintln(w, "  v4l2 cameras:   not built in (needs Linux and cgo)")
	}
	switch err := x264.Available(); {
	case err == nil:
		fmt.Fprintf(w, "  x264 encoder:   %s\n", x264.Version())
	default:
		fmt.Fprintf(w, "  x264 encoder:   missing: %v\n", err)
	}
	if err := picture.TurboJPEGAvailable(); err == nil {
		fmt.Fprintln(w, "  MJPEG decoding: libjpeg-turbo (libturbojpeg.so.0)")
	} else {
		fmt.Fprintf(w, "  MJPEG decoding: image/jpeg (%v)\n", err)
	}
	if prog, err := rpicam.Program(); err == nil {
		fmt.Fprintf(w, "  Pi camera app:  %s (CAMNODE_SOURCE=rpicam)\n", prog)
	} else {
		fmt.Fprintln(w, "  Pi camera app:  none (rpicam-vid or libcamera-vid: rpicam-apps, rpicam-apps-lite on Pi OS Lite)")
	}
	encs := hardwareEncoders()
	if len(encs) == 0 {
		fmt.Fprintln(w, "  hw encoders:    none found (no V4L2 memory-to-memory encoder under /dev/video*)")
	}
	for _, e := range encs {
		fmt.Fprintf(w, "  hw encoder:     %s\n", e)
	}
}
