package v4l2

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeCamera is a scripted camera for the logic the real drivers of the VM suite
// (scripts/ci/vm.sh) cannot be made to show on demand: encoder controls, header-only
// buffers, sequence wrap-around, a panicking driver layer.
type fakeCamera struct {
	p       string
	caps    deviceCaps
	fmts    []FormatInfo
	sizes   map[uint32][]FrameSize
	rates   map[string][]float64 // "FOURCC WxH" -> discrete rates
	grant   func(fourcc uint32, w, h int) Format
	rate    float64 // what setRate grants; 0 leaves the rate asked
	script  []step  // what next returns, in order; then errNoFrame forever
	onStart func()

	mu       sync.Mutex
	ctrls    map[uint32]*Control
	sets     []string // "id=value" of every setControl
	pos      int
	started  bool
	closed   bool
	queued   map[uint32]bool // buffers owned by the driver
	requeues int
}

// step is one answer of next: a buffer, an error, or a panic.
type step struct {
	b     buffer
	err   error
	panic string
}

func newFake(formats ...string) *fakeCamera {
	c := &fakeCamera{p: "/dev/video0", caps: deviceCaps{driver: "fake", card: "Fake Cam", bus: "usb-1", version: "v6.1.0",
		caps: capVideoCapture | capStreaming}, sizes: map[uint32][]FrameSize{}, rates: map[string][]float64{},
		ctrls: map[uint32]*Control{}}
	for _, f := range formats {
		code := mustFourCC(f)
		c.fmts = append(c.fmts, FormatInfo{FourCC: f, Description: f + " format", code: code,
			Supported: code == fccH264 || isRawSupported(code), Compressed: code == fccH264 || code == fccMJPEG})
	}
	return c
}

func (c *fakeCamera) install(t *testing.T) {
	t.Helper()
	old := openCamera
	openCamera = func(path string) (camera, error) {
		if path != c.p {
			return nil, fmt.Errorf("v4l2: open %s: no such file or directory", path)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed, c.started, c.queued = false, false, map[uint32]bool{}
		return c, nil
	}
	t.Cleanup(func() { openCamera = old })
}

func (c *fakeCamera) addControl(ctl Control, value int64) {
	ctl.Value = &value
	ctl.Class = ctrlClassName(ctl.ID)
	ctl.Type = ctrlTypeName(ctl.typ)
	c.ctrls[ctl.ID] = &ctl
}

func (c *fakeCamera) path() string     { return c.p }
func (c *fakeCamera) info() deviceCaps { return c.caps }
func (c *fakeCamera) formats() ([]FormatInfo, error) {
	return append([]FormatInfo(nil), c.fmts...), nil
}
func (c *fakeCamera) frameSizes(fourcc uint32) ([]FrameSize, error) {
	return append([]FrameSize(nil), c.sizes[fourcc]...), nil
}
func (c *fakeCamera) frameRates(fourcc uint32, w, h int) ([]float64, float64, float64, error) {
	return c.rates[fmt.Sprintf("%s %dx%d", fourccString(fourcc), w, h)], 0, 0, nil
}
func (c *fakeCamera) current() (Format, error) {
	return Format{FourCC: c.fmts[0].FourCC, Width: 640, Height: 480}, nil
}
func (c *fakeCamera) setFormat(fourcc uint32, w, h int) (Format, error) {
	if c.grant != nil {
		return c.grant(fourcc, w, h), nil
	}
	return Format{FourCC: fourccString(fourcc), Width: w, Height: h, BytesPerLine: 2 * w}, nil
}
func (c *fakeCamera) setRate(fps float64) (float64, error) {
	if c.rate > 0 {
		return c.rate, nil
	}
	return fps, nil
}
func (c *fakeCamera) controls() ([]Control, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Control
	for _, ctl := range c.ctrls {
		out = append(out, *ctl)
	}
	return out, nil
}
func (c *fakeCamera) control(id uint32) (Control, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctl, ok := c.ctrls[id]; ok {
		return *ctl, nil
	}
	return Control{}, errNoControl
}
func (c *fakeCamera) setControl(id uint32, value int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctl, ok := c.ctrls[id]
	if !ok {
		return errNoControl
	}
	if c.closed {
		return fmt.Errorf("setControl on a closed camera")
	}
	v := int64(value)
	ctl.Value = &v
	c.sets = append(c.sets, fmt.Sprintf("%#x=%d", id, value))
	return nil
}
func (c *fakeCamera) start(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	for i := 0; i < n; i++ {
		c.queued[uint32(i)] = true
	}
	if c.onStart != nil {
		c.onStart()
	}
	return nil
}
func (c *fakeCamera) next(timeout time.Duration) (buffer, error) {
	c.mu.Lock()
	if !c.started || c.closed {
		c.mu.Unlock()
		return buffer{}, fmt.Errorf("next on a camera not streaming")
	}
	if c.pos >= len(c.script) {
		c.mu.Unlock()
		time.Sleep(min(timeout, 5*time.Millisecond))
		return buffer{}, errNoFrame
	}
	s := c.script[c.pos]
	c.pos++
	if s.err == nil && s.panic == "" {
		if !c.queued[s.b.index] {
			c.mu.Unlock()
			return buffer{}, fmt.Errorf("buffer %d dequeued twice", s.b.index)
		}
		c.queued[s.b.index] = false
	}
	c.mu.Unlock()
	if s.panic != "" {
		panic(s.panic)
	}
	return s.b, s.err
}
func (c *fakeCamera) requeue(index uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued[index] = true
	c.requeues++
	return nil
}
func (c *fakeCamera) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *fakeCamera) setsSoFar() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.sets...)
}

// frames scripts buffers with the given payloads, one frame interval apart from t0 on
// the monotonic clock, with consecutive sequence numbers from seq0, cycling through 4
// buffer indexes.
func frames(seq0 uint32, t0, interval time.Duration, payloads ...[]byte) []step {
	var s []step
	for i, p := range payloads {
		s = append(s, step{b: buffer{index: uint32(i % 4), data: p, sequence: seq0 + uint32(i),
			time: t0 + time.Duration(i)*interval, monotonic: true}})
	}
	return s
}
