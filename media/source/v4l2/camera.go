package v4l2

import (
	"errors"
	"time"
)

// camera is one open V4L2 capture device. device_linux.go implements it on go4vl; the
// capture loops and the probe only see this interface. Methods are called from one
// goroutine, except setControl, which may run beside next.
type camera interface {
	path() string
	info() deviceCaps
	// formats lists the capture formats, in the driver's order.
	formats() ([]FormatInfo, error)
	// frameSizes and frameRates enumerate what a format offers (VIDIOC_ENUM_FRAMESIZES,
	// VIDIOC_ENUM_FRAMEINTERVALS); nil when the driver does not enumerate.
	frameSizes(fourcc uint32) ([]FrameSize, error)
	frameRates(fourcc uint32, width, height int) (discrete []float64, min, max float64, err error)
	current() (Format, error)
	// setFormat asks for a format and returns what the driver granted.
	setFormat(fourcc uint32, width, height int) (Format, error)
	// setRate asks for a frame rate and returns the granted one; 0 when the driver has
	// no frame rate control.
	setRate(fps float64) (float64, error)
	controls() ([]Control, error)
	// control describes one control; errNoControl when the device lacks it.
	control(id uint32) (Control, error)
	setControl(id uint32, value int32) error
	// start allocates n buffers (the driver may grant another count), queues them and
	// starts streaming.
	start(n int) error
	// next waits up to timeout for a filled buffer: errNoFrame when none came. The
	// buffer's data is valid until requeue.
	next(timeout time.Duration) (buffer, error)
	requeue(index uint32) error
	// close stops streaming and frees buffers and the file descriptor; it always does
	// all of that, and reports the first failure.
	close() error
}

// deviceCaps is what VIDIOC_QUERYCAP says about a device node.
type deviceCaps struct {
	driver, card, bus, version string
	caps                       uint32 // the node's device_caps (V4L2_CAP_*)
}

// buffer is one dequeued driver buffer.
type buffer struct {
	index    uint32
	data     []byte // bytesused bytes of the mapped buffer
	sequence uint32
	// time is the driver's timestamp; monotonic tells it is on CLOCK_MONOTONIC, as the
	// V4L2 spec wants for capture (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC).
	time      time.Duration
	monotonic bool
	bad       bool // V4L2_BUF_FLAG_ERROR: the data may be corrupt
	keyframe  bool // V4L2_BUF_FLAG_KEYFRAME
	// full tells the driver said the whole buffer is data (bytesused = length): normal
	// for raw pictures, but compressed data never fills its buffer exactly.
	full bool
}

var (
	errNoFrame   = errors.New("no frame yet")
	errNoControl = errors.New("no such control")
)

// V4L2_CAP_* bits (linux/videodev2.h), checked against the header in device_linux.go.
const (
	capVideoCapture      = 0x00000001
	capVideoOutput       = 0x00000002
	capVideoCaptureMPlan = 0x00001000
	capVideoM2MMPlane    = 0x00004000
	capVideoM2M          = 0x00008000
	capMetaCapture       = 0x00800000
	capReadWrite         = 0x01000000
	capStreaming         = 0x04000000
)

var capNames = []struct {
	bit  uint32
	name string
}{
	{capVideoCapture, "video capture"},
	{capVideoCaptureMPlan, "video capture (multi-planar)"},
	{capVideoOutput, "video output"},
	{capVideoM2M, "memory-to-memory"},
	{capVideoM2MMPlane, "memory-to-memory (multi-planar)"},
	{capMetaCapture, "metadata capture"},
	{capReadWrite, "read/write"},
	{capStreaming, "streaming"},
}

// Control IDs, types and menu values (linux/v4l2-controls.h, linux/videodev2.h), checked
// against the header in device_linux.go.
const (
	ctrlClassMask  = 0x0fff0000
	ctrlClassUser  = 0x00980000
	ctrlClassCodec = 0x00990000
	ctrlClassCam   = 0x009a0000

	cidCodecBase        = 0x00990900
	cidGOPSize          = cidCodecBase + 203
	cidBitrateMode      = cidCodecBase + 206
	cidBitrate          = cidCodecBase + 207
	cidHeaderMode       = cidCodecBase + 216
	cidRepeatSeqHeader  = cidCodecBase + 226
	cidForceKeyFrame    = cidCodecBase + 229
	cidH264IPeriod      = cidCodecBase + 358
	cidH264Level        = cidCodecBase + 359
	cidH264Profile      = cidCodecBase + 363
	headerJoinedWith1st = 1 // V4L2_MPEG_VIDEO_HEADER_MODE_JOINED_WITH_1ST_FRAME

	ctrlTypeInteger     = 1
	ctrlTypeBoolean     = 2
	ctrlTypeMenu        = 3
	ctrlTypeButton      = 4
	ctrlTypeInteger64   = 5
	ctrlTypeClass       = 6
	ctrlTypeString      = 7
	ctrlTypeBitmask     = 8
	ctrlTypeIntegerMenu = 9
)

// H.264 profile menu values (V4L2_MPEG_VIDEO_H264_PROFILE_*).
const (
	profileBaseline            = 0
	profileConstrainedBaseline = 1
	profileMain                = 2
	profileHigh                = 4
)

// h264Levels is H.264 table A-1 for the levels V4L2 names, in V4L2's menu order
// (V4L2_MPEG_VIDEO_H264_LEVEL_1_0 = 0 ... 5_1 = 15): the most macroblocks per second, per
// frame and the highest bitrate (kbit/s, Main profile; High allows 1.25 times that).
var h264Levels = [...]struct {
	name         string
	mbps, fs, br int
}{
	{"1", 1485, 99, 64}, {"1b", 1485, 99, 128}, {"1.1", 3000, 396, 192}, {"1.2", 6000, 396, 384},
	{"1.3", 11880, 396, 768}, {"2", 11880, 396, 2000}, {"2.1", 19800, 792, 4000},
	{"2.2", 20250, 1620, 4000}, {"3", 40500, 1620, 10000}, {"3.1", 108000, 3600, 14000},
	{"3.2", 216000, 5120, 20000}, {"4", 245760, 8192, 20000}, {"4.1", 245760, 8192, 50000},
	{"4.2", 522240, 8704, 50000}, {"5", 589824, 22080, 135000}, {"5.1", 983040, 36864, 240000},
}

// DeviceInfo is what `camnode probe` shows about one device node.
type DeviceInfo struct {
	Path    string `json:"path"`
	Driver  string `json:"driver"`
	Card    string `json:"card"`
	Bus     string `json:"bus"`
	Version string `json:"driver_version"`
	// Capabilities are the node's own (device_caps), e.g. "video capture", "streaming".
	Capabilities []string `json:"capabilities"`
	// Usable says whether camnode can capture from the node, and how; Reason says why
	// not when it cannot.
	Usable   bool         `json:"usable"`
	Mode     string       `json:"mode,omitempty"` // "h264" (passthrough) or "raw" (needs an encoder)
	Reason   string       `json:"reason,omitempty"`
	Current  *Format      `json:"current,omitempty"`
	Formats  []FormatInfo `json:"formats"`
	Controls []Control    `json:"controls"`
}

// FormatInfo is one capture format with the sizes and rates the driver enumerates.
type FormatInfo struct {
	FourCC      string      `json:"fourcc"`
	Description string      `json:"description"`
	Compressed  bool        `json:"compressed"`
	Emulated    bool        `json:"emulated,omitempty"` // converted in software by libv4l, not the camera
	Supported   bool        `json:"supported"`          // camnode can capture it
	Sizes       []FrameSize `json:"sizes"`
	code        uint32
}

// FrameSize is a discrete size (Width x Height), or a range (Max* and Step* set) for
// drivers that scale freely, with the frame rates offered at that size (at the largest
// size of a range).
type FrameSize struct {
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	MaxWidth   int       `json:"max_width,omitempty"`
	MaxHeight  int       `json:"max_height,omitempty"`
	StepWidth  int       `json:"step_width,omitempty"`
	StepHeight int       `json:"step_height,omitempty"`
	FPS        []float64 `json:"fps,omitempty"`
	MinFPS     float64   `json:"min_fps,omitempty"` // a continuous or stepwise rate range
	MaxFPS     float64   `json:"max_fps,omitempty"`
}

// Control is one device control as VIDIOC_QUERYCTRL and VIDIOC_G_EXT_CTRLS report it.
type Control struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	Class   string     `json:"class"`
	Type    string     `json:"type"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
	Step    int64      `json:"step"`
	Default int64      `json:"default"`
	Value   *int64     `json:"value,omitempty"` // nil for buttons and unreadable controls
	Menu    []MenuItem `json:"menu,omitempty"`
	typ     uint32
}

// MenuItem is one choice of a menu control.
type MenuItem struct {
	Value int64  `json:"value"`
	Name  string `json:"name"`
}

func (c Control) has(value int64) bool {
	for _, m := range c.Menu {
		if m.Value == value {
			return true
		}
	}
	return false
}

func (c Control) menuName(value int64) string {
	for _, m := range c.Menu {
		if m.Value == value {
			return m.Name
		}
	}
	return ""
}

func ctrlClassName(id uint32) string {
	switch id & ctrlClassMask {
	case ctrlClassUser:
		return "user"
	case ctrlClassCodec:
		return "codec"
	case ctrlClassCam:
		return "camera"
	case 0x009d0000:
		return "jpeg"
	case 0x009e0000:
		return "image source"
	case 0x009f0000:
		return "image processing"
	case 0x00a40000:
		return "stateless codec"
	default:
		return "other"
	}
}

func ctrlTypeName(t uint32) string {
	switch t {
	case ctrlTypeInteger:
		return "int"
	case ctrlTypeBoolean:
		return "bool"
	case ctrlTypeMenu:
		return "menu"
	case ctrlTypeButton:
		return "button"
	case ctrlTypeInteger64:
		return "int64"
	case ctrlTypeString:
		return "string"
	case ctrlTypeBitmask:
		return "bitmask"
	case ctrlTypeIntegerMenu:
		return "intmenu"
	default:
		return "compound"
	}
}

// openCamera opens a device node; tests replace it with a scripted camera.
var openCamera = openDevice
