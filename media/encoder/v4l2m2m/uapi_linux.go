package v4l2m2m

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The V4L2 user API (linux/videodev2.h) as far as a stateful memory-to-memory codec needs
// it. The structs mirror the C layout on every Linux architecture Go supports: unions
// that hold a pointer are a uintptr, the packed ones are byte arrays, and unix.Timeval
// is the time layout of the C library's struct timeval. The ioctl numbers are derived
// from the sizes, as _IOWR does, so a layout mistake shows as ENOTTY, never as a
// misread struct; uapi_test.go pins both against the C header.

const (
	bufTypeCapture       = 1
	bufTypeOutput        = 2
	bufTypeCaptureMPlane = 9
	bufTypeOutputMPlane  = 10

	memoryMMap = 1
	fieldNone  = 1

	capVideoM2MMPlane = 0x00004000
	capVideoM2M       = 0x00008000
	capStreaming      = 0x04000000
	capDeviceCaps     = 0x80000000

	fmtFlagCompressed = 0x0001

	bufFlagKeyframe      = 0x00000008
	bufFlagError         = 0x00000040
	bufFlagTimestampCopy = 0x00004000
	bufFlagLast          = 0x00100000

	encCmdStop = 1
	decCmdStop = 1

	eventEOS          = 2
	eventSourceChange = 5

	ctrlFlagDisabled = 0x0001
	ctrlFlagNextCtrl = 0x80000000
)

// Control IDs (linux/v4l2-controls.h).
const (
	cidMinBuffersForCapture = 0x00980927
	cidMinBuffersForOutput  = 0x00980928
	cidBFrames              = 0x009909ca
	cidGOPSize              = 0x009909cb
	cidBitrateMode          = 0x009909ce
	cidBitrate              = 0x009909cf
	cidHeaderMode           = 0x009909d8
	cidRepeatSeqHeader      = 0x009909e2
	cidForceKeyFrame        = 0x009909e5
	cidH264IPeriod          = 0x00990a66
	cidH264Level            = 0x00990a67
	cidH264Profile          = 0x00990a6b

	bitrateModeVBR = 0
	bitrateModeCBR = 1
)

type capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

type fmtDesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	PixelFormat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

// format is struct v4l2_format: the type, then a 200-byte union that holds pointers
// (struct v4l2_window), hence pointer-aligned.
type format struct {
	Type uint32
	Fmt  struct {
		_   [0]uintptr
		Raw [200]byte
	}
}

// pixFormat is struct v4l2_pix_format, the single-planar member of the union.
type pixFormat struct {
	Width, Height, PixelFormat, Field, BytesPerLine, SizeImage, Colorspace, Priv uint32
	Flags, YCbCrEnc, Quantization, XferFunc                                      uint32
}

// Offsets in the packed struct v4l2_pix_format_mplane: width, height, pixelformat,
// field, colorspace (5 x u32), then plane_fmt[8] of {sizeimage u32, bytesperline u32,
// reserved 6 x u16} (20 bytes each), then num_planes u8.
const (
	mpWidth        = 0
	mpHeight       = 4
	mpPixelFormat  = 8
	mpField        = 12
	mpSizeImage0   = 20
	mpBytesPerLine = 24
	mpNumPlanes    = 180
)

type requestBuffers struct {
	Count        uint32
	Type         uint32
	Memory       uint32
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

type timecode struct {
	Type, Flags                     uint32
	Frames, Seconds, Minutes, Hours uint8
	UserBits                        [4]uint8
}

type buffer struct {
	Index     uint32
	Type      uint32
	BytesUsed uint32
	Flags     uint32
	Field     uint32
	Timestamp unix.Timeval
	Timecode  timecode
	Sequence  uint32
	Memory    uint32
	M         uintptr // offset (MMAP, single-planar) or *plane (multi-planar)
	Length    uint32  // bytes (single-planar) or planes (multi-planar)
	Reserved2 uint32
	RequestFD int32
}

type plane struct {
	BytesUsed  uint32
	Length     uint32
	M          uintptr // mem_offset for MMAP
	DataOffset uint32
	Reserved   [11]uint32
}

type encoderCmd struct {
	Cmd   uint32
	Flags uint32
	Data  [8]uint32
}

type decoderCmd struct {
	Cmd   uint32
	Flags uint32
	Raw   struct {
		_    [0]uint64
		Data [16]uint32
	}
}

type streamParm struct {
	Type uint32
	Parm [200]byte // output: capability, outputmode, timeperframe{num, den}, …
}

type queryCtrl struct {
	ID           uint32
	Type         uint32
	Name         [32]byte
	Minimum      int32
	Maximum      int32
	Step         int32
	DefaultValue int32
	Flags        uint32
	Reserved     [2]uint32
}

// extControl is the packed struct v4l2_ext_control: id, size, reserved2, then an
// 8-byte union at offset 12 (value or value64).
type extControl struct {
	ID       uint32
	Size     uint32
	Reserved uint32
	Value    [8]byte
}

type extControls struct {
	Which     uint32
	Count     uint32
	ErrorIdx  uint32
	RequestFD int32
	Reserved  uint32
	Controls  *extControl
}

type eventSubscription struct {
	Type, ID, Flags uint32
	Reserved        [5]uint32
}

type event struct {
	Type uint32
	U    struct {
		_    [0]uint64
		Data [64]byte
	}
	Pending   uint32
	Sequence  uint32
	Timestamp unix.Timespec
	ID        uint32
	Reserved  [8]uint32
}

// ioctl request numbers, _IOC(dir, 'V', nr, size) of the generic layout (x86, ARM, RISC-V).
func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'V'<<8 | nr }

const (
	iocWrite = 1
	iocRead  = 2
	iocRW    = 3
)

var (
	vidiocQueryCap       = ioc(iocRead, 0, unsafe.Sizeof(capability{}))
	vidiocEnumFmt        = ioc(iocRW, 2, unsafe.Sizeof(fmtDesc{}))
	vidiocGFmt           = ioc(iocRW, 4, unsafe.Sizeof(format{}))
	vidiocSFmt           = ioc(iocRW, 5, unsafe.Sizeof(format{}))
	vidiocReqBufs        = ioc(iocRW, 8, unsafe.Sizeof(requestBuffers{}))
	vidiocQueryBuf       = ioc(iocRW, 9, unsafe.Sizeof(buffer{}))
	vidiocQBuf           = ioc(iocRW, 15, unsafe.Sizeof(buffer{}))
	vidiocDQBuf          = ioc(iocRW, 17, unsafe.Sizeof(buffer{}))
	vidiocStreamOn       = ioc(iocWrite, 18, 4)
	vidiocStreamOff      = ioc(iocWrite, 19, 4)
	vidiocSParm          = ioc(iocRW, 22, unsafe.Sizeof(streamParm{}))
	vidiocQueryCtrl      = ioc(iocRW, 36, unsafe.Sizeof(queryCtrl{}))
	vidiocSExtCtrls      = ioc(iocRW, 72, unsafe.Sizeof(extControls{}))
	vidiocEncoderCmd     = ioc(iocRW, 77, unsafe.Sizeof(encoderCmd{}))
	vidiocDQEvent        = ioc(iocRead, 89, unsafe.Sizeof(event{}))
	vidiocSubscribeEvent = ioc(iocWrite, 90, unsafe.Sizeof(eventSubscription{}))
	vidiocDecoderCmd     = ioc(iocRW, 96, unsafe.Sizeof(decoderCmd{}))
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return e
		}
	}
}

// cString is a NUL-terminated C string in a fixed array.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// errNotM2M says a device is not a memory-to-memory device.
var errNotM2M = errors.New("not a V4L2 memory-to-memory device")

// device is an open V4L2 memory-to-memory node and which of the two buffer APIs it uses.
type device struct {
	fd     int
	path   string
	mplane bool
	cap    capability
	// plane is the one struct v4l2_plane a multi-planar buffer points at. It lives on
	// the heap with the device: the buffer holds its address as a number, which a
	// moving stack would not update.
	plane *plane
}

func openDevice(path string) (*device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &device{fd: fd, path: path, plane: new(plane)}
	if err := ioctl(fd, vidiocQueryCap, unsafe.Pointer(&d.cap)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: VIDIOC_QUERYCAP: %w (%w)", path, err, errNotM2M)
	}
	caps := d.cap.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = d.cap.DeviceCaps
	}
	switch {
	case caps&capVideoM2MMPlane != 0:
		d.mplane = true
	case caps&capVideoM2M != 0:
	default:
		unix.Close(fd)
		return nil, fmt.Errorf("%s (%s): %w", path, cString(d.cap.Card[:]), errNotM2M)
	}
	if caps&capStreaming == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%s (%s): no streaming I/O", path, cString(d.cap.Card[:]))
	}
	return d, nil
}

func (d *device) close() error { return unix.Close(d.fd) }

// outputType and captureType are the buffer types of the raw (OUTPUT) and coded
// (CAPTURE) queues of an encoder; a decoder uses them the other way round.
func (d *device) outputType() uint32 {
	if d.mplane {
		return bufTypeOutputMPlane
	}
	return bufTypeOutput
}

func (d *device) captureType() uint32 {
	if d.mplane {
		return bufTypeCaptureMPlane
	}
	return bufTypeCapture
}

// formatDesc is one entry of VIDIOC_ENUM_FMT.
type formatDesc struct {
	FourCC      uint32
	Description string
	Compressed  bool
}

func (d *device) formats(typ uint32) ([]formatDesc, error) {
	var out []formatDesc
	for i := uint32(0); i < 256; i++ {
		f := fmtDesc{Index: i, Type: typ}
		if err := ioctl(d.fd, vidiocEnumFmt, unsafe.Pointer(&f)); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return out, nil
			}
			return out, fmt.Errorf("VIDIOC_ENUM_FMT: %w", err)
		}
		out = append(out, formatDesc{f.PixelFormat, cString(f.Description[:]), f.Flags&fmtFlagCompressed != 0})
	}
	return out, nil
}

// planeFormat is what a queue's format says about its one plane.
type planeFormat struct {
	Width, Height, PixelFormat, BytesPerLine, SizeImage uint32
}

// setFormat sets (or with set false, reads) the format of queue typ: one plane of
// pixelformat at width x height, bytesperline and sizeimage as suggestions (0: the
// driver's choice). It returns what the driver settled on.
func (d *device) setFormat(typ uint32, set bool, p planeFormat) (planeFormat, error) {
	f := format{Type: typ}
	raw := f.Fmt.Raw[:]
	if d.mplane {
		put32(raw[mpWidth:], p.Width)
		put32(raw[mpHeight:], p.Height)
		put32(raw[mpPixelFormat:], p.PixelFormat)
		put32(raw[mpField:], fieldNone)
		put32(raw[mpSizeImage0:], p.SizeImage)
		put32(raw[mpBytesPerLine:], p.BytesPerLine)
		raw[mpNumPlanes] = 1
	} else {
		pix := (*pixFormat)(unsafe.Pointer(&f.Fmt.Raw[0]))
		*pix = pixFormat{Width: p.Width, Height: p.Height, PixelFormat: p.PixelFormat, Field: fieldNone,
			BytesPerLine: p.BytesPerLine, SizeImage: p.SizeImage}
	}
	req, name := vidiocSFmt, "VIDIOC_S_FMT"
	if !set {
		req, name = vidiocGFmt, "VIDIOC_G_FMT"
	}
	if err := ioctl(d.fd, req, unsafe.Pointer(&f)); err != nil {
		return planeFormat{}, fmt.Errorf("%s(%s %s %dx%d): %w", name, typeName(typ), fourCCName(p.PixelFormat), p.Width, p.Height, err)
	}
	if d.mplane {
		if raw[mpNumPlanes] != 1 {
			return planeFormat{}, fmt.Errorf("%s %s: the driver wants %d planes, camnode hands over one", typeName(typ), fourCCName(get32(raw[mpPixelFormat:])), raw[mpNumPlanes])
		}
		return planeFormat{get32(raw[mpWidth:]), get32(raw[mpHeight:]), get32(raw[mpPixelFormat:]),
			get32(raw[mpBytesPerLine:]), get32(raw[mpSizeImage0:])}, nil
	}
	pix := (*pixFormat)(unsafe.Pointer(&f.Fmt.Raw[0]))
	return planeFormat{pix.Width, pix.Height, pix.PixelFormat, pix.BytesPerLine, pix.SizeImage}, nil
}

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func get32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func typeName(typ uint32) string {
	switch typ {
	case bufTypeOutput, bufTypeOutputMPlane:
		return "OUTPUT"
	case bufTypeCapture, bufTypeCaptureMPlane:
		return "CAPTURE"
	}
	return fmt.Sprint("type ", typ)
}

// setFrameRate sets the OUTPUT queue's frame interval (the encoder's rate control
// uses it); drivers without VIDIOC_S_PARM are left alone.
func (d *device) setFrameRate(num, den uint32) error {
	p := streamParm{Type: d.outputType()}
	put32(p.Parm[8:], den) // timeperframe is the inverse of the rate
	put32(p.Parm[12:], num)
	err := ioctl(d.fd, vidiocSParm, unsafe.Pointer(&p))
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("VIDIOC_S_PARM(%d/%d fps): %w", num, den, err)
	}
	return nil
}

// control describes a control the driver has (VIDIOC_QUERYCTRL); ok is false when it
// has not, or has it disabled.
func (d *device) control(id uint32) (q queryCtrl, ok bool) {
	q.ID = id
	if ioctl(d.fd, vidiocQueryCtrl, unsafe.Pointer(&q)) != nil || q.ID != id || q.Flags&ctrlFlagDisabled != 0 {
		return q, false
	}
	return q, true
}

// setControl sets one control through VIDIOC_S_EXT_CTRLS, which takes controls of
// every class.
func (d *device) setControl(id uint32, value int32) error {
	c := extControl{ID: id}
	put32(c.Value[:], uint32(value))
	cs := extControls{Which: id & 0x0fff0000, Count: 1, Controls: &c}
	if err := ioctl(d.fd, vidiocSExtCtrls, unsafe.Pointer(&cs)); err != nil {
		return fmt.Errorf("VIDIOC_S_EXT_CTRLS(%#x = %d): %w", id, value, err)
	}
	return nil
}

func (d *device) requestBuffers(typ, count uint32) (uint32, error) {
	r := requestBuffers{Count: count, Type: typ, Memory: memoryMMap}
	if err := ioctl(d.fd, vidiocReqBufs, unsafe.Pointer(&r)); err != nil {
		return 0, fmt.Errorf("VIDIOC_REQBUFS(%s, %d): %w", typeName(typ), count, err)
	}
	return r.Count, nil
}

func (d *device) stream(typ uint32, on bool) error {
	t := int32(typ)
	req, name := vidiocStreamOn, "VIDIOC_STREAMON"
	if !on {
		req, name = vidiocStreamOff, "VIDIOC_STREAMOFF"
	}
	if err := ioctl(d.fd, req, unsafe.Pointer(&t)); err != nil {
		return fmt.Errorf("%s(%s): %w", name, typeName(typ), err)
	}
	return nil
}

// mapped is one MMAP buffer of a queue, mapped into this process.
type mapped struct {
	mem    []byte
	queued bool // owned by the driver
}

// mapBuffers asks for count buffers on queue typ and maps them.
func (d *device) mapBuffers(typ, count uint32) ([]mapped, error) {
	n, err := d.requestBuffers(typ, count)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("VIDIOC_REQBUFS(%s, %d): the driver gave no buffers", typeName(typ), count)
	}
	bufs := make([]mapped, 0, n)
	for i := uint32(0); i < n; i++ {
		b := d.newBuffer(typ, i)
		pl := d.plane
		if err := ioctl(d.fd, vidiocQueryBuf, unsafe.Pointer(&b)); err != nil {
			unmap(bufs)
			return nil, fmt.Errorf("VIDIOC_QUERYBUF(%s %d): %w", typeName(typ), i, err)
		}
		off, length := uint32(b.M), b.Length
		if d.mplane {
			off, length = uint32(pl.M), pl.Length
		}
		mem, err := unix.Mmap(d.fd, int64(off), int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			unmap(bufs)
			return nil, fmt.Errorf("mmap %s buffer %d (%d bytes): %w", typeName(typ), i, length, err)
		}
		bufs = append(bufs, mapped{mem: mem})
	}
	return bufs, nil
}

func unmap(bufs []mapped) {
	for _, b := range bufs {
		unix.Munmap(b.mem)
	}
}

// newBuffer is a struct v4l2_buffer for index i of queue typ; with the multi-planar API
// it points at d.plane, cleared.
func (d *device) newBuffer(typ, i uint32) buffer {
	b := buffer{Index: i, Type: typ, Memory: memoryMMap}
	if d.mplane {
		*d.plane = plane{}
		b.M = uintptr(unsafe.Pointer(d.plane))
		b.Length = 1
	}
	return b
}

// queue hands buffer i of queue typ to the driver with bytesUsed bytes of payload.
func (d *device) queue(typ, i, bytesUsed uint32, ts unix.Timeval, flags uint32) error {
	b := d.newBuffer(typ, i)
	b.Timestamp, b.Flags = ts, flags
	if d.mplane {
		d.plane.BytesUsed = bytesUsed
	} else {
		b.BytesUsed = bytesUsed
	}
	if err := ioctl(d.fd, vidiocQBuf, unsafe.Pointer(&b)); err != nil {
		return fmt.Errorf("VIDIOC_QBUF(%s %d): %w", typeName(typ), i, err)
	}
	return nil
}

// dequeued is a buffer the driver gave back.
type dequeued struct {
	Index, Offset, BytesUsed, Flags uint32
	Timestamp                       unix.Timeval
}

// dequeue takes a finished buffer from queue typ without blocking: unix.EAGAIN when
// none is ready, unix.EPIPE after the last buffer of a drain.
func (d *device) dequeue(typ uint32) (dequeued, error) {
	b := d.newBuffer(typ, 0)
	if err := ioctl(d.fd, vidiocDQBuf, unsafe.Pointer(&b)); err != nil {
		return dequeued{}, err
	}
	off, used := uint32(0), b.BytesUsed
	if d.mplane {
		off = min(d.plane.DataOffset, d.plane.BytesUsed)
		used = d.plane.BytesUsed - off
	}
	return dequeued{b.Index, off, used, b.Flags, b.Timestamp}, nil
}

func (d *device) encoderCommand(cmd uint32) error {
	c := encoderCmd{Cmd: cmd}
	return ioctl(d.fd, vidiocEncoderCmd, unsafe.Pointer(&c))
}

func (d *device) decoderCommand(cmd uint32) error {
	c := decoderCmd{Cmd: cmd}
	return ioctl(d.fd, vidiocDecoderCmd, unsafe.Pointer(&c))
}

func (d *device) subscribe(typ uint32) error {
	s := eventSubscription{Type: typ}
	if err := ioctl(d.fd, vidiocSubscribeEvent, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("VIDIOC_SUBSCRIBE_EVENT(%d): %w", typ, err)
	}
	return nil
}

// nextEvent takes one pending event: its type, or unix.ENOENT when none is pending.
func (d *device) nextEvent() (uint32, error) {
	var e event
	if err := ioctl(d.fd, vidiocDQEvent, unsafe.Pointer(&e)); err != nil {
		return 0, err
	}
	return e.Type, nil
}

// wait polls the device for events (unix.POLLIN: a CAPTURE buffer is done, POLLOUT: an
// OUTPUT buffer, POLLPRI: an event) for at most timeoutMS; it returns the events seen
// (0 on timeout).
func (d *device) wait(events int16, timeoutMS int) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: events}}
	for {
		n, err := unix.Poll(fds, timeoutMS)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("poll %s: %w", d.path, err)
		}
		if n == 0 {
			return 0, nil
		}
		if fds[0].Revents&(unix.POLLNVAL) != 0 {
			return 0, fmt.Errorf("poll %s: invalid descriptor", d.path)
		}
		return fds[0].Revents, nil
	}
}
