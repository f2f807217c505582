//go:build linux

package v4l2m2m

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestUAPILayout pins the struct sizes and ioctl numbers against linux/videodev2.h as
// gcc sees it on amd64 and arm64 (the same there): a wrong layout would make every
// ioctl fail with ENOTTY, or worse, be misread.
func TestUAPILayout(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("sizes pinned for 64-bit; %s derives its own from the Go structs", runtime.GOARCH)
	}
	sizes := []struct {
		name      string
		got, want uintptr
	}{
		{"v4l2_buffer", unsafe.Sizeof(buffer{}), 88},
		{"v4l2_plane", unsafe.Sizeof(plane{}), 64},
		{"v4l2_format", unsafe.Sizeof(format{}), 208},
		{"v4l2_ext_control", unsafe.Sizeof(extControl{}), 20},
		{"v4l2_ext_controls", unsafe.Sizeof(extControls{}), 32},
		{"v4l2_event", unsafe.Sizeof(event{}), 136},
		{"v4l2_event.pending", unsafe.Offsetof(event{}.Pending), 72},
		{"v4l2_decoder_cmd", unsafe.Sizeof(decoderCmd{}), 72},
		{"v4l2_encoder_cmd", unsafe.Sizeof(encoderCmd{}), 40},
		{"v4l2_queryctrl", unsafe.Sizeof(queryCtrl{}), 68},
		{"v4l2_streamparm", unsafe.Sizeof(streamParm{}), 204},
		{"v4l2_buffer.m", unsafe.Offsetof(buffer{}.M), 64},
		{"v4l2_buffer.timestamp", unsafe.Offsetof(buffer{}.Timestamp), 24},
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("%s: %d bytes, want %d", s.name, s.got, s.want)
		}
	}
	ioctls := []struct {
		name      string
		got, want uintptr
	}{
		{"VIDIOC_QUERYCAP", vidiocQueryCap, 0x80685600},
		{"VIDIOC_ENUM_FMT", vidiocEnumFmt, 0xc0405602},
		{"VIDIOC_G_FMT", vidiocGFmt, 0xc0d05604},
		{"VIDIOC_S_FMT", vidiocSFmt, 0xc0d05605},
		{"VIDIOC_REQBUFS", vidiocReqBufs, 0xc0145608},
		{"VIDIOC_QUERYBUF", vidiocQueryBuf, 0xc0585609},
		{"VIDIOC_QBUF", vidiocQBuf, 0xc058560f},
		{"VIDIOC_DQBUF", vidiocDQBuf, 0xc0585611},
		{"VIDIOC_STREAMON", vidiocStreamOn, 0x40045612},
		{"VIDIOC_STREAMOFF", vidiocStreamOff, 0x40045613},
		{"VIDIOC_S_PARM", vidiocSParm, 0xc0cc5616},
		{"VIDIOC_QUERYCTRL", vidiocQueryCtrl, 0xc0445624},
		{"VIDIOC_S_EXT_CTRLS", vidiocSExtCtrls, 0xc0205648},
		{"VIDIOC_ENCODER_CMD", vidiocEncoderCmd, 0xc028564d},
		{"VIDIOC_DECODER_CMD", vidiocDecoderCmd, 0xc0485660},
		{"VIDIOC_SUBSCRIBE_EVENT", vidiocSubscribeEvent, 0x4020565a},
		{"VIDIOC_DQEVENT", vidiocDQEvent, 0x80885659},
	}
	for _, c := range ioctls {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestUAPILayout32 pins the 32-bit ARM layout (a Pi running 32-bit Raspberry Pi OS):
// the sizes gcc gives with arm-linux-gnueabihf and a 32-bit time_t.
func TestUAPILayout32(t *testing.T) {
	if runtime.GOARCH != "arm" {
		t.Skip("only on GOARCH=arm")
	}
	for _, s := range []struct {
		name      string
		got, want uintptr
	}{
		{"v4l2_buffer", unsafe.Sizeof(buffer{}), 68},
		{"v4l2_plane", unsafe.Sizeof(plane{}), 60},
		{"v4l2_format", unsafe.Sizeof(format{}), 204},
		{"v4l2_ext_controls", unsafe.Sizeof(extControls{}), 24},
	} {
		if s.got != s.want {
			t.Errorf("%s: %d bytes, want %d", s.name, s.got, s.want)
		}
	}
}
