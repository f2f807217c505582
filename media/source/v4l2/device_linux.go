//go:build linux && cgo

package v4l2

/*
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/videodev2.h>

// camnode_s_ctrl sets one control with VIDIOC_S_EXT_CTRLS, which takes controls of every
// class. (go4vl v0.3.0's SetExtControlValue hands a struct v4l2_ext_control to
// VIDIOC_S_CTRL, whose driver then reads the size field, 0, as the value.) 0 or -errno.
static int camnode_s_ctrl(int fd, __u32 id, __s32 value) {
	struct v4l2_ext_control c;
	struct v4l2_ext_controls cs;
	memset(&c, 0, sizeof c);
	memset(&cs, 0, sizeof cs);
	c.id = id;
	c.value = value;
	cs.which = V4L2_CTRL_ID2WHICH(id);
	cs.count = 1;
	cs.controls = &c;
	return ioctl(fd, VIDIOC_S_EXT_CTRLS, &cs) < 0 ? -errno : 0;
}

// camnode_g_ctrl reads one integer, boolean, menu or 64-bit control. 0 or -errno.
static int camnode_g_ctrl(int fd, __u32 id, int is64, long long *value) {
	struct v4l2_ext_control c;
	struct v4l2_ext_controls cs;
	memset(&c, 0, sizeof c);
	memset(&cs, 0, sizeof cs);
	c.id = id;
	cs.which = V4L2_CTRL_ID2WHICH(id);
	cs.count = 1;
	cs.controls = &c;
	if (ioctl(fd, VIDIOC_G_EXT_CTRLS, &cs) < 0) return -errno;
	*value = is64 ? c.value64 : c.value;
	return 0;
}

// camnode_querycap is VIDIOC_QUERYCAP for its errno alone: 0 while the node answers,
// -ENODEV once its driver unregistered it (unplugged). go4vl folds ENODEV and EIO into
// one error; this tells them apart. 0 or -errno.
static int camnode_querycap(int fd) {
	struct v4l2_capability c;
	return ioctl(fd, VIDIOC_QUERYCAP, &c) < 0 ? -errno : 0;
}

// camnode_frame_interval is VIDIOC_ENUM_FRAMEINTERVALS. go4vl v0.3.0 reads the stepwise
// range one struct v4l2_fract too far into the union, so this reads it here: min and max
// are frame intervals as num/den. Returns the V4L2_FRMIVAL_TYPE_* or -errno.
static int camnode_frame_interval(int fd, __u32 index, __u32 fourcc, __u32 w, __u32 h,
		__u32 *min_num, __u32 *min_den, __u32 *max_num, __u32 *max_den) {
	struct v4l2_frmivalenum f;
	memset(&f, 0, sizeof f);
	f.index = index;
	f.pixel_format = fourcc;
	f.width = w;
	f.height = h;
	if (ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &f) < 0) return -errno;
	if (f.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
		*min_num = *max_num = f.discrete.numerator;
		*min_den = *max_den = f.discrete.denominator;
	} else {
		*min_num = f.stepwise.min.numerator;
		*min_den = f.stepwise.min.denominator;
		*max_num = f.stepwise.max.numerator;
		*max_den = f.stepwise.max.denominator;
	}
	return (int)f.type;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	vl "github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"
)

// The constants of camera.go must equal the kernel header's: for a pair that differs, the
// array length is not 0 (or is negative) and the build fails.
var (
	_ [capVideoCapture - C.V4L2_CAP_VIDEO_CAPTURE]struct{}                                       = [0]struct{}{}
	_ [capVideoOutput - C.V4L2_CAP_VIDEO_OUTPUT]struct{}                                         = [0]struct{}{}
	_ [capVideoCaptureMPlan - C.V4L2_CAP_VIDEO_CAPTURE_MPLANE]struct{}                           = [0]struct{}{}
	_ [capVideoM2MMPlane - C.V4L2_CAP_VIDEO_M2M_MPLANE]struct{}                                  = [0]struct{}{}
	_ [capVideoM2M - C.V4L2_CAP_VIDEO_M2M]struct{}                                               = [0]struct{}{}
	_ [capMetaCapture - C.V4L2_CAP_META_CAPTURE]struct{}                                         = [0]struct{}{}
	_ [capReadWrite - C.V4L2_CAP_READWRITE]struct{}                                              = [0]struct{}{}
	_ [capStreaming - C.V4L2_CAP_STREAMING]struct{}                                              = [0]struct{}{}
	_ [ctrlClassUser - C.V4L2_CTRL_CLASS_USER]struct{}                                           = [0]struct{}{}
	_ [ctrlClassCodec - C.V4L2_CTRL_CLASS_CODEC]struct{}                                         = [0]struct{}{}
	_ [ctrlClassCam - C.V4L2_CTRL_CLASS_CAMERA]struct{}                                          = [0]struct{}{}
	_ [cidCodecBase - C.V4L2_CID_CODEC_BASE]struct{}                                             = [0]struct{}{}
	_ [cidGOPSize - C.V4L2_CID_MPEG_VIDEO_GOP_SIZE]struct{}                                      = [0]struct{}{}
	_ [cidBitrateMode - C.V4L2_CID_MPEG_VIDEO_BITRATE_MODE]struct{}                              = [0]struct{}{}
	_ [cidBitrate - C.V4L2_CID_MPEG_VIDEO_BITRATE]struct{}                                       = [0]struct{}{}
	_ [cidHeaderMode - C.V4L2_CID_MPEG_VIDEO_HEADER_MODE]struct{}                                = [0]struct{}{}
	_ [cidRepeatSeqHeader - C.V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER]struct{}                     = [0]struct{}{}
	_ [cidForceKeyFrame - C.V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME]struct{}                         = [0]struct{}{}
	_ [cidH264IPeriod - C.V4L2_CID_MPEG_VIDEO_H264_I_PERIOD]struct{}                             = [0]struct{}{}
	_ [cidH264Level - C.V4L2_CID_MPEG_VIDEO_H264_LEVEL]struct{}                                  = [0]struct{}{}
	_ [cidH264Profile - C.V4L2_CID_MPEG_VIDEO_H264_PROFILE]struct{}                              = [0]struct{}{}
	_ [cidHFlip - C.V4L2_CID_HFLIP]struct{}                                                      = [0]struct{}{}
	_ [C.V4L2_CID_HFLIP - cidHFlip]struct{}                                                      = [0]struct{}{}
	_ [cidVFlip - C.V4L2_CID_VFLIP]struct{}                                                      = [0]struct{}{}
	_ [C.V4L2_CID_VFLIP - cidVFlip]struct{}                                                      = [0]struct{}{}
	_ [cidRotate - C.V4L2_CID_ROTATE]struct{}                                                    = [0]struct{}{}
	_ [C.V4L2_CID_ROTATE - cidRotate]struct{}                                                    = [0]struct{}{}
	_ [headerJoinedWith1st - C.V4L2_MPEG_VIDEO_HEADER_MODE_JOINED_WITH_1ST_FRAME]struct{}        = [0]struct{}{}
	_ [ctrlTypeInteger - C.V4L2_CTRL_TYPE_INTEGER]struct{}                                       = [0]struct{}{}
	_ [ctrlTypeBoolean - C.V4L2_CTRL_TYPE_BOOLEAN]struct{}                                       = [0]struct{}{}
	_ [ctrlTypeMenu - C.V4L2_CTRL_TYPE_MENU]struct{}                                             = [0]struct{}{}
	_ [ctrlTypeButton - C.V4L2_CTRL_TYPE_BUTTON]struct{}                                         = [0]struct{}{}
	_ [ctrlTypeInteger64 - C.V4L2_CTRL_TYPE_INTEGER64]struct{}                                   = [0]struct{}{}
	_ [ctrlTypeClass - C.V4L2_CTRL_TYPE_CTRL_CLASS]struct{}                                      = [0]struct{}{}
	_ [ctrlTypeString - C.V4L2_CTRL_TYPE_STRING]struct{}                                         = [0]struct{}{}
	_ [ctrlTypeBitmask - C.V4L2_CTRL_TYPE_BITMASK]struct{}                                       = [0]struct{}{}
	_ [ctrlTypeIntegerMenu - C.V4L2_CTRL_TYPE_INTEGER_MENU]struct{}                              = [0]struct{}{}
	_ [profileBaseline - C.V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE]struct{}                        = [0]struct{}{}
	_ [profileConstrainedBaseline - C.V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE]struct{} = [0]struct{}{}
	_ [profileMain - C.V4L2_MPEG_VIDEO_H264_PROFILE_MAIN]struct{}                                = [0]struct{}{}
	_ [profileHigh - C.V4L2_MPEG_VIDEO_H264_PROFILE_HIGH]struct{}                                = [0]struct{}{}
	_ [len(h264Levels) - 1 - C.V4L2_MPEG_VIDEO_H264_LEVEL_5_1]struct{}                           = [0]struct{}{}
)

// Built tells whether this camnode can capture from V4L2 cameras.
const Built = true

// device is a camera on go4vl's v4l2 package: its ioctl wrappers and struct layouts do the
// work, except where noted. go4vl's device.Device is not used: its capture goroutine
// copies every frame into a pool, drops frames (with an error) when the consumer is a
// frame late, can close an already-nil channel after Stop times out, and opens the
// device without O_CLOEXEC. Here the caller's goroutine polls, dequeues, hands out the
// mapped buffer itself and requeues it: no copy, no goroutine, no lost error.
type device struct {
	p     string
	fd    uintptr
	caps  deviceCaps
	bufs  [][]byte // mapped driver buffers, by index
	count uint32   // buffers granted by VIDIOC_REQBUFS
	on    bool     // streaming
	// hangup is set when poll reported POLLHUP: the driver unregistered the node.
	hangup bool
}

var _ camera = (*device)(nil)

// openDevice opens a V4L2 capture node without blocking reads. The descriptor is
// close-on-exec: a child process (an exec: source, ffmpeg) must not keep the camera open.
func openDevice(path string) (camera, error) {
	fd, err := vl.OpenDevice(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("v4l2: open %s: %w", path, unwrapPathError(err))
	}
	d := &device{p: path, fd: fd}
	c, err := vl.GetCapability(fd)
	if err != nil {
		if errors.Is(err, vl.ErrorUnsupported) || errors.Is(err, vl.ErrorBadArgument) {
			err = fmt.Errorf("v4l2: %s is not a V4L2 device (VIDIOC_QUERYCAP: %v)", path, err)
		} else {
			err = d.fail("VIDIOC_QUERYCAP", err)
		}
		vl.CloseDevice(fd)
		return nil, err
	}
	d.caps = deviceCaps{driver: c.Driver, card: c.Card, bus: c.BusInfo,
		version: c.GetVersionInfo().String(), caps: c.GetCapabilities()}
	return d, nil
}

// unwrapPathError keeps "no such file or directory" and drops go4vl's repetition of
// the path.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fail names a failed ioctl. go4vl folds ENODEV, EIO and other terminal errnos into
// ErrorSystem: a hangup seen by poll, a vanished device node or a node that no longer
// answers VIDIOC_QUERYCAP says the camera is gone; otherwise the driver failed (a fatal
// streaming error, typically EIO).
func (d *device) fail(op string, err error) error {
	if errors.Is(err, vl.ErrorSystem) {
		_, serr := os.Stat(d.p)
		if d.hangup || serr != nil || C.camnode_querycap(C.int(d.fd)) == -C.ENODEV {
			return fmt.Errorf("v4l2: %s: camera disconnected (%s: ENODEV)", d.p, op)
		}
		return fmt.Errorf("v4l2: %s: %s: the driver reports a fatal error (EIO or similar)", d.p, op)
	}
	return fmt.Errorf("v4l2: %s: %s: %w", d.p, op, err)
}

func (d *device) path() string     { return d.p }
func (d *device) info() deviceCaps { return d.caps }

func (d *device) formats() ([]FormatInfo, error) {
	descs, err := vl.GetAllFormatDescriptions(d.fd)
	if err != nil && !(len(descs) == 0 && errors.Is(err, vl.ErrorBadArgument)) {
		return nil, d.fail("VIDIOC_ENUM_FMT", err)
	}
	out := make([]FormatInfo, 0, len(descs))
	for _, f := range descs {
		out = append(out, FormatInfo{
			FourCC:      fourccString(f.PixelFormat),
			Description: f.Description,
			Compressed:  f.Flags&vl.FmtDescFlagCompressed != 0,
			Emulated:    f.Flags&vl.FmtDescFlagEmulated != 0,
			Supported:   f.PixelFormat == fccH264 || isRawSupported(f.PixelFormat),
			code:        f.PixelFormat,
		})
	}
	return out, nil
}

func (d *device) frameSizes(fourcc uint32) ([]FrameSize, error) {
	sizes, err := vl.GetFormatFrameSizes(d.fd, fourcc)
	if err != nil {
		if len(sizes) == 0 && (errors.Is(err, vl.ErrorBadArgument) || errors.Is(err, vl.ErrorUnsupported)) {
			return nil, nil // the driver does not enumerate sizes
		}
		return nil, d.fail("VIDIOC_ENUM_FRAMESIZES", err)
	}
	out := make([]FrameSize, 0, len(sizes))
	for _, s := range sizes {
		fs := FrameSize{Width: int(s.Size.MinWidth), Height: int(s.Size.MinHeight)}
		if s.Type != vl.FrameSizeTypeDiscrete {
			fs.MaxWidth, fs.MaxHeight = int(s.Size.MaxWidth), int(s.Size.MaxHeight)
			fs.StepWidth, fs.StepHeight = int(s.Size.StepWidth), int(s.Size.StepHeight)
		}
		out = append(out, fs)
	}
	return out, nil
}

func (d *device) frameRates(fourcc uint32, width, height int) (discrete []float64, lo, hi float64, err error) {
	for i := 0; i < 256; i++ {
		var minNum, minDen, maxNum, maxDen C.__u32
		t := C.camnode_frame_interval(C.int(d.fd), C.__u32(i), C.__u32(fourcc), C.__u32(width), C.__u32(height),
			&minNum, &minDen, &maxNum, &maxDen)
		if t < 0 {
			errno := syscall.Errno(-t)
			if errno == syscall.EINVAL || errno == syscall.ENOTTY {
				return discrete, lo, hi, nil // end of the list, or not enumerated
			}
			return discrete, lo, hi, fmt.Errorf("v4l2: %s: VIDIOC_ENUM_FRAMEINTERVALS: %w", d.p, errno)
		}
		if t == C.V4L2_FRMIVAL_TYPE_DISCRETE {
			if r := rate(uint32(minNum), uint32(minDen)); r > 0 {
				discrete = append(discrete, r)
			}
			continue
		}
		// The shortest interval is the highest rate.
		return discrete, rate(uint32(maxNum), uint32(maxDen)), rate(uint32(minNum), uint32(minDen)), nil
	}
	return discrete, lo, hi, nil
}

func (d *device) current() (Format, error) {
	pf, err := vl.GetPixFormat(d.fd)
	if err != nil {
		return Format{}, d.fail("VIDIOC_G_FMT", err)
	}
	f := pixFormat(pf)
	if p, err := vl.GetStreamParam(d.fd, vl.BufTypeVideoCapture); err == nil {
		f.FPS = rate(p.Capture.TimePerFrame.Numerator, p.Capture.TimePerFrame.Denominator)
	}
	return f, nil
}

func pixFormat(pf vl.PixFormat) Format {
	return Format{FourCC: fourccString(pf.PixelFormat), Width: int(pf.Width), Height: int(pf.Height),
		BytesPerLine: int(pf.BytesPerLine), SizeImage: int(pf.SizeImage)}
}

func (d *device) setFormat(fourcc uint32, width, height int) (Format, error) {
	cur, err := vl.GetPixFormat(d.fd)
	if err != nil {
		return Format{}, d.fail("VIDIOC_G_FMT", err)
	}
	want := vl.PixFormat{PixelFormat: fourcc, Width: cur.Width, Height: cur.Height, Field: vl.FieldAny}
	if width > 0 && height > 0 {
		want.Width, want.Height = uint32(width), uint32(height)
	}
	if err := vl.SetPixFormat(d.fd, want); err != nil {
		return Format{}, d.fail(fmt.Sprintf("VIDIOC_S_FMT %s %dx%d", fourccString(fourcc), want.Width, want.Height), err)
	}
	// S_FMT writes the granted format into its argument, which go4vl drops: read it back.
	got, err := vl.GetPixFormat(d.fd)
	if err != nil {
		return Format{}, d.fail("VIDIOC_G_FMT", err)
	}
	return pixFormat(got), nil
}

func (d *device) setRate(fps float64) (float64, error) {
	p, err := vl.GetStreamParam(d.fd, vl.BufTypeVideoCapture)
	if err != nil {
		if errors.Is(err, vl.ErrorUnsupported) || errors.Is(err, vl.ErrorBadArgument) {
			return 0, nil // no frame rate control
		}
		return 0, d.fail("VIDIOC_G_PARM", err)
	}
	if fps > 0 && p.Capture.Capability&vl.StreamParamTimePerFrame != 0 {
		num, den := interval(fps)
		p.Capture.TimePerFrame = vl.Fract{Numerator: num, Denominator: den}
		if err := vl.SetStreamParam(d.fd, vl.BufTypeVideoCapture, p); err != nil {
			return 0, d.fail(fmt.Sprintf("VIDIOC_S_PARM %s fps", formatFPS(fps)), err)
		}
		if p, err = vl.GetStreamParam(d.fd, vl.BufTypeVideoCapture); err != nil {
			return 0, d.fail("VIDIOC_G_PARM", err)
		}
	}
	return rate(p.Capture.TimePerFrame.Numerator, p.Capture.TimePerFrame.Denominator), nil
}

func (d *device) controls() ([]Control, error) {
	all, err := vl.QueryAllControls(d.fd)
	if err != nil && !(len(all) == 0 && errors.Is(err, vl.ErrorBadArgument)) {
		return nil, d.fail("VIDIOC_QUERYCTRL", err)
	}
	out := make([]Control, 0, len(all))
	for _, c := range all {
		if c.Type == ctrlTypeClass {
			continue // the heading of a control class, not a control
		}
		out = append(out, d.describe(c))
	}
	return out, nil
}

func (d *device) control(id uint32) (Control, error) {
	c, err := vl.QueryControlInfo(d.fd, id)
	if err != nil {
		if errors.Is(err, vl.ErrorBadArgument) {
			return Control{}, errNoControl
		}
		return Control{}, d.fail(fmt.Sprintf("VIDIOC_QUERYCTRL %#x", id), err)
	}
	return d.describe(c), nil
}

func (d *device) describe(c vl.Control) Control {
	out := Control{ID: c.ID, Name: c.Name, Class: ctrlClassName(c.ID), Type: ctrlTypeName(uint32(c.Type)), typ: uint32(c.Type),
		Min: int64(c.Minimum), Max: int64(c.Maximum), Step: int64(c.Step), Default: int64(c.Default)}
	switch c.Type {
	case ctrlTypeInteger, ctrlTypeBoolean, ctrlTypeMenu, ctrlTypeInteger64, ctrlTypeBitmask, ctrlTypeIntegerMenu:
		var v C.longlong
		if C.camnode_g_ctrl(C.int(d.fd), C.__u32(c.ID), boolInt(c.Type == ctrlTypeInteger64), &v) == 0 {
			val := int64(v)
			out.Value = &val
		}
	}
	if c.IsMenu() {
		items, _ := c.GetMenuItems()
		for _, m := range items {
			out.Menu = append(out.Menu, MenuItem{Value: int64(m.Index), Name: m.Name})
		}
	}
	return out
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (d *device) setControl(id uint32, value int32) error {
	if r := C.camnode_s_ctrl(C.int(d.fd), C.__u32(id), C.__s32(value)); r < 0 {
		errno := syscall.Errno(-r)
		if errno == syscall.EINVAL {
			return fmt.Errorf("v4l2: %s: VIDIOC_S_EXT_CTRLS %#x = %d: %w (%v)", d.p, id, value, errNoControl, errno)
		}
		return fmt.Errorf("v4l2: %s: VIDIOC_S_EXT_CTRLS %#x = %d: %w", d.p, id, value, errno)
	}
	return nil
}

// vlStream lets go4vl's buffer calls (VIDIOC_REQBUFS, STREAMON, STREAMOFF) run on this
// device: they take its StreamingDevice interface but use only the descriptor, the
// buffer type, memory type and count.
type vlStream struct{ d *device }

func (s vlStream) Name() string                    { return s.d.p }
func (s vlStream) Fd() uintptr                     { return s.d.fd }
func (s vlStream) Capability() vl.Capability       { return vl.Capability{} }
func (s vlStream) MemIOType() vl.IOType            { return vl.IOTypeMMAP }
func (s vlStream) GetOutput() <-chan []byte        { return nil }
func (s vlStream) SetInput(<-chan []byte)          {}
func (s vlStream) Close() error                    { return nil }
func (s vlStream) Buffers() [][]byte               { return s.d.bufs }
func (s vlStream) BufferType() vl.BufType          { return vl.BufTypeVideoCapture }
func (s vlStream) BufferCount() uint32             { return s.d.count }
func (s vlStream) Start(ctx context.Context) error { return errors.ErrUnsupported }
func (s vlStream) Stop() error                     { return errors.ErrUnsupported }

func (d *device) start(n int) error {
	if d.caps.caps&capStreaming == 0 {
		return fmt.Errorf("v4l2: %s: the driver has no streaming I/O (V4L2_CAP_STREAMING)", d.p)
	}
	d.count = uint32(n)
	req, err := vl.InitBuffers(vlStream{d})
	if err != nil {
		d.count = 0
		return d.fail(fmt.Sprintf("VIDIOC_REQBUFS %d", n), err)
	}
	if req.Count == 0 {
		return fmt.Errorf("v4l2: %s: VIDIOC_REQBUFS granted no buffers", d.p)
	}
	d.count = req.Count
	// go4vl's MapMemoryBuffers leaks the mappings made before a failure: map here, so
	// close always unmaps what was mapped.
	d.bufs = make([][]byte, 0, d.count)
	for i := uint32(0); i < d.count; i++ {
		b, err := vl.GetBuffer(vlStream{d}, i)
		if err != nil {
			return d.fail(fmt.Sprintf("VIDIOC_QUERYBUF %d", i), err)
		}
		m, err := unix.Mmap(int(d.fd), int64(b.Info.Offset), int(b.Length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("v4l2: %s: mmap buffer %d (%d bytes): %w", d.p, i, b.Length, err)
		}
		d.bufs = append(d.bufs, m)
	}
	for i := uint32(0); i < d.count; i++ {
		if _, err := vl.QueueBuffer(d.fd, vl.IOTypeMMAP, vl.BufTypeVideoCapture, i); err != nil {
			return d.fail(fmt.Sprintf("VIDIOC_QBUF %d", i), err)
		}
	}
	if err := vl.StreamOn(vlStream{d}); err != nil {
		return d.fail("VIDIOC_STREAMON", err)
	}
	d.on = true
	return nil
}

func (d *device) next(timeout time.Duration) (buffer, error) {
	pfd := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN | unix.POLLPRI}}
	n, err := unix.Poll(pfd, int(timeout.Milliseconds()))
	if err != nil {
		if err == unix.EINTR {
			return buffer{}, errNoFrame
		}
		return buffer{}, fmt.Errorf("v4l2: %s: poll: %w", d.p, err)
	}
	if n == 0 {
		return buffer{}, errNoFrame
	}
	if pfd[0].Revents&unix.POLLHUP != 0 {
		// The node was unregistered under us (USB unplug, driver unbind): V4L2 answers
		// every later call with ENODEV.
		d.hangup = true
		return buffer{}, fmt.Errorf("v4l2: %s: camera disconnected (poll: hangup)", d.p)
	}
	if pfd[0].Revents&(unix.POLLIN|unix.POLLERR) == 0 {
		return buffer{}, errNoFrame // an event (POLLPRI) only
	}
	b, err := vl.DequeueBuffer(d.fd, vl.IOTypeMMAP, vl.BufTypeVideoCapture)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			return buffer{}, errNoFrame
		}
		return buffer{}, d.fail("VIDIOC_DQBUF", err)
	}
	if b.Index >= uint32(len(d.bufs)) {
		return buffer{}, fmt.Errorf("v4l2: %s: VIDIOC_DQBUF returned buffer %d of %d", d.p, b.Index, len(d.bufs))
	}
	m := d.bufs[b.Index]
	used := min(int(b.BytesUsed), len(m))
	return buffer{
		index:     b.Index,
		data:      m[:used],
		sequence:  b.Sequence,
		time:      time.Duration(int64(b.Timestamp.Sec))*time.Second + time.Duration(int64(b.Timestamp.Usec))*time.Microsecond,
		monotonic: b.Flags&vl.BufFlagTimestampMask == vl.BufFlagTimestampMonotonic,
		bad:       b.Flags&vl.BufFlagError != 0,
		keyframe:  b.Flags&vl.BufFlagKeyFrame != 0,
		full:      int(b.BytesUsed) >= len(m),
	}, nil
}

func (d *device) requeue(index uint32) error {
	if _, err := vl.QueueBuffer(d.fd, vl.IOTypeMMAP, vl.BufTypeVideoCapture, index); err != nil {
		return d.fail(fmt.Sprintf("VIDIOC_QBUF %d", index), err)
	}
	return nil
}

func (d *device) close() error {
	var errs []string
	if d.on {
		d.on = false
		if err := vl.StreamOff(vlStream{d}); err != nil && !d.hangup {
			errs = append(errs, err.Error())
		}
	}
	for _, m := range d.bufs {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, "munmap: "+err.Error())
		}
	}
	if d.bufs != nil {
		d.bufs = nil
		// Free the driver's buffers now rather than at close, so a reopen right after
		// finds the device idle. A driver that was unplugged refuses: nothing to free.
		vl.ResetBuffers(vlStream{d})
	}
	if d.fd != ^uintptr(0) {
		if err := vl.CloseDevice(d.fd); err != nil {
			errs = append(errs, "close: "+err.Error())
		}
		d.fd = ^uintptr(0)
	}
	if len(errs) > 0 {
		return fmt.Errorf("v4l2: %s: close: %s", d.p, strings.Join(errs, "; "))
	}
	return nil
}

// monotonicNow reads CLOCK_MONOTONIC, the clock V4L2 drivers stamp capture buffers with.
func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}
