package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The V4L2 ioctls hardwareEncoders uses, from linux/videodev2.h.
const (
	vidiocQuerycap    = 0x80685600 // _IOR('V', 0, struct v4l2_capability)
	vidiocEnumFmt     = 0xc0405602 // _IOWR('V', 2, struct v4l2_fmtdesc)
	capDeviceCaps     = 0x80000000
	capM2M            = 0x00008000
	capM2MMplane      = 0x00004000
	bufCapture        = 1
	bufCaptureMplane  = 9
	fmtFlagCompressed = 0x0001
)

// v4l2Capability is struct v4l2_capability (104 bytes).
type v4l2Capability struct {
	Driver               [16]byte
	Card                 [32]byte
	BusInfo              [32]byte
	Version, Caps, DCaps uint32
	Reserved             [3]uint32
}

// v4l2Fmtdesc is struct v4l2_fmtdesc (64 bytes).
type v4l2Fmtdesc struct {
	Index, Type, Flags uint32
	Description        [32]byte
	PixelFormat        uint32
	MbusCode           uint32
	Reserved           [3]uint32
}

// hardwareEncoders lists the V4L2 memory-to-memory devices that encode: their capture
// queue (what comes out) offers a compressed format. The Raspberry Pi 4's bcm2835-codec
// encoder is usually /dev/video11 and offers H264 there. Each entry is
// "<path> (<card>): <formats>".
func hardwareEncoders() []string {
	paths, _ := filepath.Glob("/dev/video*")
	var out []string
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var c v4l2Capability
		if ioctl(fd, vidiocQuerycap, unsafe.Pointer(&c)) != nil {
			unix.Close(fd)
			continue
		}
		caps := c.Caps
		if caps&capDeviceCaps != 0 {
			caps = c.DCaps
		}
		typ := uint32(0)
		switch {
		case caps&capM2MMplane != 0:
			typ = bufCaptureMplane
		case caps&capM2M != 0:
			typ = bufCapture
		}
		var coded []string
		for i := uint32(0); typ != 0 && i < 64; i++ {
			d := v4l2Fmtdesc{Index: i, Type: typ}
			if ioctl(fd, vidiocEnumFmt, unsafe.Pointer(&d)) != nil {
				break
			}
			if d.Flags&fmtFlagCompressed != 0 {
				f := d.PixelFormat
				coded = append(coded, string([]byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}))
			}
		}
		unix.Close(fd)
		if len(coded) > 0 {
			card := c.Card[:]
			if i := bytes.IndexByte(card, 0); i >= 0 {
				card = card[:i]
			}
			out = append(out, fmt.Sprintf("%s (%s): %s", p, card, strings.Join(coded, ", ")))
		}
	}
	return out
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
