package v4l2m2m

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/h264"
	"golang.org/x/sys/unix"
)

// Built says whether this camnode can drive a V4L2 memory-to-memory encoder.
const Built = true

// Encoder is an open memory-to-memory encoder with both queues streaming. Use it from
// one goroutine.
type Encoder struct {
	dev      *device
	o        encoder.Options
	p        Params
	out, cap []mapped
	raw      planeFormat // the OUTPUT queue's format as the driver settled it
	lumaRows int         // rows of the luma plane in an OUTPUT buffer (the driver may align the height)
	forceKey bool        // the driver has V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME
	missing  []string
	header   [][]byte // the last SPS/PPS that came without a picture (H.264)
	nalus    [][]byte
	// stamps maps the microsecond timestamps the driver copies from OUTPUT to CAPTURE
	// buffers back to the frames' own times (a timeval cannot carry nanoseconds).
	stamps []stamp
	frames int64
	closed bool
}

var _ encoder.Encoder = (*Encoder)(nil)

type stamp struct {
	tv   unix.Timeval
	time time.Duration
}

// frameTime is the time of the queued frame the driver's timestamp tv came from.
func (e *Encoder) frameTime(tv unix.Timeval) time.Duration {
	for i := len(e.stamps) - 1; i >= 0; i-- {
		if e.stamps[i].tv == tv {
			return e.stamps[i].time
		}
	}
	return time.Duration(tv.Nano())
}

// Open opens the encoder at p.Device, sets it up for o (size, rate, bitrate, GOP,
// profile, level; the controls the driver lacks are listed by Unsupported) and starts
// both queues.
func Open(o encoder.Options, p Params) (*Encoder, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return nil, err
	}
	if p.Device == "" {
		p.Device = DefaultDevice
	}
	if p.Coded == 0 {
		p.Coded = CodedH264
	}
	if p.Raw == 0 {
		p.Raw = media.PixelI420
	}
	if p.OutputBuffers == 0 {
		p.OutputBuffers = defaultBuffers
	}
	if p.CaptureBuffers == 0 {
		p.CaptureBuffers = defaultBuffers
	}
	if p.Timeout <= 0 {
		p.Timeout = defaultTimeout
	}
	var rawFCC uint32
	switch p.Raw {
	case media.PixelI420:
		rawFCC = fccI420
	case media.PixelNV12:
		rawFCC = fccNV12
	default:
		return nil, fmt.Errorf("v4l2m2m: raw pixel format %d: want I420 or NV12", p.Raw)
	}
	if p.OutputBuffers < 1 || p.OutputBuffers > maxBuffers || p.CaptureBuffers < 1 || p.CaptureBuffers > maxBuffers {
		return nil, fmt.Errorf("v4l2m2m: %d OUTPUT and %d CAPTURE buffers: want 1 to %d each", p.OutputBuffers, p.CaptureBuffers, maxBuffers)
	}
	dev, err := openDevice(p.Device)
	if err != nil {
		return nil, fmt.Errorf("v4l2m2m: %w", err)
	}
	e := &Encoder{dev: dev, o: o, p: p}
	if err := e.setup(rawFCC); err != nil {
		e.release()
		return nil, fmt.Errorf("v4l2m2m: %s (%s): %w", p.Device, cString(dev.cap.Card[:]), err)
	}
	return e, nil
}

// setup follows the stateful encoder's initialization sequence: coded format on
// CAPTURE, raw format on OUTPUT, frame rate, controls, buffers, STREAMON.
func (e *Encoder) setup(rawFCC uint32) error {
	d, o, p := e.dev, e.o, e.p
	if err := offers(d, d.captureType(), p.Coded, "coded"); err != nil {
		return err
	}
	if err := offers(d, d.outputType(), rawFCC, "raw"); err != nil {
		return err
	}
	w, h := uint32(o.Width), uint32(o.Height)
	if _, err := d.setFormat(d.captureType(), true, planeFormat{Width: w, Height: h, PixelFormat: p.Coded}); err != nil {
		return err
	}
	raw, err := d.setFormat(d.outputType(), true, planeFormat{Width: w, Height: h, PixelFormat: rawFCC})
	if err != nil {
		return err
	}
	if raw.PixelFormat != rawFCC || raw.Width != w || raw.Height != h {
		return fmt.Errorf("asked for %s %dx%d, the driver offers %s %dx%d", fourCCName(rawFCC), w, h, fourCCName(raw.PixelFormat), raw.Width, raw.Height)
	}
	// I420 and NV12 are 1.5 bytes per pixel; a driver that aligns the height (the Pi's
	// to 16 rows) says so in sizeimage, and the chroma plane starts after the aligned rows.
	e.raw, e.lumaRows = raw, int(h)
	if raw.BytesPerLine < w || uint64(raw.SizeImage) < uint64(raw.BytesPerLine)*uint64(h)*3/2 {
		return fmt.Errorf("OUTPUT format: %d bytes per line and %d bytes per picture cannot hold %dx%d", raw.BytesPerLine, raw.SizeImage, w, h)
	}
	if rows := int(uint64(raw.SizeImage) * 2 / 3 / uint64(raw.BytesPerLine)); rows > e.lumaRows && rows < e.lumaRows+64 {
		e.lumaRows = rows &^ 1
	}
	if coded, err := d.setFormat(d.captureType(), false, planeFormat{PixelFormat: p.Coded}); err != nil {
		return err
	} else if coded.PixelFormat != p.Coded {
		return fmt.Errorf("CAPTURE format is %s, asked for %s", fourCCName(coded.PixelFormat), fourCCName(p.Coded))
	}
	num, den := encoder.FrameRate(o.FPS)
	if err := d.setFrameRate(num, den); err != nil {
		return err
	}
	if err := e.controls(); err != nil {
		return err
	}
	if e.out, err = d.mapBuffers(d.outputType(), uint32(p.OutputBuffers)); err != nil {
		return err
	}
	if e.cap, err = d.mapBuffers(d.captureType(), uint32(p.CaptureBuffers)); err != nil {
		return err
	}
	return e.start()
}

// offers checks that queue typ lists fourcc, and otherwise says what it has.
func offers(d *device, typ, fourcc uint32, what string) error {
	fs, err := d.formats(typ)
	if err != nil {
		return fmt.Errorf("%s queue: %w", typeName(typ), err)
	}
	var names []string
	for _, f := range fs {
		if f.FourCC == fourcc {
			return nil
		}
		names = append(names, fourCCName(f.FourCC))
	}
	return fmt.Errorf("%s format %s not offered on its %s queue (it has %s)", what, fourCCName(fourcc), typeName(typ), strings.Join(names, " "))
}

// controls sets what the driver has of bitrate, GOP, profile, level, B-frames and the
// sequence header repeated at every IDR (bcm2835-codec has all of them; vicodec only
// the GOP size). What it lacks is listed by Unsupported.
func (e *Encoder) controls() error {
	d, o := e.dev, e.o
	isH264 := e.p.Coded == CodedH264
	type setting struct {
		name  string
		id    uint32
		value int32
		h264  bool // meaningful for H.264 only
	}
	settings := []setting{
		{"B-frames", cidBFrames, 0, false},
		{"GOP", cidGOPSize, int32(o.GOP), false},
		{"IDR period", cidH264IPeriod, int32(o.GOP), true},
		{"bitrate mode", cidBitrateMode, bitrateModeCBR, true},
		{"bitrate", cidBitrate, int32(o.Bitrate), true},
		{"repeat sequence header", cidRepeatSeqHeader, 1, true},
	}
	if isH264 {
		prof, ok := profileIndex(o.Profile)
		if !ok {
			return fmt.Errorf("H.264 profile %q: want baseline, constrained_baseline, main or high", o.Profile)
		}
		lvl := e.p.Level
		idx, ok := levelIndex(lvl)
		if lvl == "" {
			lvl, idx = h264Level(o)
		} else if !ok {
			return fmt.Errorf("H.264 level %q: want 1 to 6.2, e.g. 4.1", lvl)
		}
		settings = append(settings, setting{"profile " + o.Profile, cidH264Profile, prof, true}, setting{"level " + lvl, cidH264Level, idx, true})
	}
	for _, s := range settings {
		if s.h264 && !isH264 {
			continue
		}
		q, ok := d.control(s.id)
		if !ok {
			e.missing = append(e.missing, s.name)
			continue
		}
		v := s.value
		if s.id == cidBitrateMode && (v < q.Minimum || v > q.Maximum) {
			v = q.DefaultValue // a CBR-less encoder keeps its own mode
		}
		if s.id == cidBitrate && q.Maximum > q.Minimum {
			v = min(max(v, q.Minimum), q.Maximum)
		}
		if err := d.setControl(s.id, v); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	_, e.forceKey = d.control(cidForceKeyFrame)
	if !e.forceKey {
		e.missing = append(e.missing, "force key frame (a keyframe request restarts the stream)")
	}
	return nil
}

// Unsupported lists the settings the driver has no control for; camnode goes on
// without them (a caller may log them once).
func (e *Encoder) Unsupported() []string { return e.missing }

// start queues every CAPTURE buffer and starts both queues.
func (e *Encoder) start() error {
	for i := range e.cap {
		if err := e.dev.queue(e.dev.captureType(), uint32(i), 0, unix.Timeval{}, 0); err != nil {
			return err
		}
		e.cap[i].queued = true
	}
	if err := e.dev.stream(e.dev.outputType(), true); err != nil {
		return err
	}
	return e.dev.stream(e.dev.captureType(), true)
}

// stop stops both queues; every buffer comes back to camnode.
func (e *Encoder) stop() error {
	err := errors.Join(e.dev.stream(e.dev.outputType(), false), e.dev.stream(e.dev.captureType(), false))
	for i := range e.out {
		e.out[i].queued = false
	}
	for i := range e.cap {
		e.cap[i].queued = false
	}
	return err
}

// Encode copies f into a free OUTPUT buffer, queues it, and waits (at most
// Params.Timeout) for its coded frame, which goes to emit; coded frames that are ready
// besides go too. A keyframe request sets V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, or, on a
// driver without it, restarts both queues, which starts a new GOP.
func (e *Encoder) Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	if e.closed {
		return errors.New("v4l2m2m: Encode after Close")
	}
	if err := encoder.CheckFrame(f, e.o.Width, e.o.Height); err != nil {
		return fmt.Errorf("v4l2m2m: %w", err)
	}
	if f.Format != e.p.Raw {
		return fmt.Errorf("v4l2m2m: frame pixel format %d, encoder opened for %d", f.Format, e.p.Raw)
	}
	if forceKeyframe && e.frames > 0 {
		var err error
		if e.forceKey {
			err = e.dev.setControl(cidForceKeyFrame, 1)
		} else if err = e.stop(); err == nil {
			err = e.start()
		}
		if err != nil {
			return fmt.Errorf("v4l2m2m: keyframe request: %w", err)
		}
	}
	i, err := e.freeOutput()
	if err != nil {
		return err
	}
	e.fill(e.out[i].mem, f)
	ts := unix.NsecToTimeval(int64(f.Time))
	if len(e.stamps) >= 2*maxBuffers {
		e.stamps = append(e.stamps[:0], e.stamps[len(e.stamps)-maxBuffers:]...)
	}
	e.stamps = append(e.stamps, stamp{ts, f.Time})
	if err := e.dev.queue(e.dev.outputType(), uint32(i), e.raw.SizeImage, ts, bufFlagTimestampCopy); err != nil {
		return fmt.Errorf("v4l2m2m: %w", err)
	}
	e.out[i].queued = true
	e.frames++
	deadline := time.Now().Add(e.p.Timeout)
	for pictures := 0; ; {
		got, err := e.coded(emit)
		if err != nil {
			return err
		}
		pictures += got
		if got > 0 {
			continue // more may be ready
		}
		if pictures > 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("v4l2m2m: %s gave no coded frame within %v", e.p.Device, e.p.Timeout)
		}
		if _, err := e.dev.wait(unix.POLLIN, int(left.Milliseconds())+1); err != nil {
			return fmt.Errorf("v4l2m2m: %w", err)
		}
	}
}

// freeOutput returns an OUTPUT buffer camnode owns, taking back the ones the driver is
// done with and waiting (at most Params.Timeout) when all are in the driver.
func (e *Encoder) freeOutput() (int, error) {
	deadline := time.Now().Add(e.p.Timeout)
	for {
		for {
			b, err := e.dev.dequeue(e.dev.outputType())
			if err != nil {
				if errors.Is(err, unix.EAGAIN) {
					break
				}
				return 0, fmt.Errorf("v4l2m2m: VIDIOC_DQBUF(OUTPUT): %w", err)
			}
			if int(b.Index) >= len(e.out) {
				return 0, fmt.Errorf("v4l2m2m: the driver returned OUTPUT buffer %d of %d", b.Index, len(e.out))
			}
			e.out[b.Index].queued = false
		}
		for i := range e.out {
			if !e.out[i].queued {
				return i, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, fmt.Errorf("v4l2m2m: %s kept all %d raw buffers for %v", e.p.Device, len(e.out), e.p.Timeout)
		}
		if _, err := e.dev.wait(unix.POLLOUT, int(left.Milliseconds())+1); err != nil {
			return 0, fmt.Errorf("v4l2m2m: %w", err)
		}
	}
}

// fill copies f into an OUTPUT buffer of the driver's layout: bytesperline per luma
// row, lumaRows rows, then the chroma (I420: U then V planes of half the stride; NV12:
// one interleaved plane of the full stride).
func (e *Encoder) fill(dst []byte, f *media.Frame) {
	w, h := f.Width, f.Height
	bpl := int(e.raw.BytesPerLine)
	cw, ch := (w+1)/2, (h+1)/2
	copyPlane := func(dst []byte, dstStride int, src []byte, srcStride, width, rows int) {
		for y := 0; y < rows; y++ {
			copy(dst[y*dstStride:y*dstStride+width], src[y*srcStride:y*srcStride+width])
		}
	}
	copyPlane(dst, bpl, f.Planes[0], f.Strides[0], w, h)
	chroma := dst[bpl*e.lumaRows:]
	switch f.Format {
	case media.PixelI420:
		half := bpl / 2
		copyPlane(chroma, half, f.Planes[1], f.Strides[1], cw, ch)
		copyPlane(chroma[half*(e.lumaRows/2):], half, f.Planes[2], f.Strides[2], cw, ch)
	case media.PixelNV12:
		copyPlane(chroma, bpl, f.Planes[1], f.Strides[1], 2*cw, ch)
	}
}

// coded takes the CAPTURE buffers that are ready, without waiting: it emits the
// pictures and keeps an H.264 header that comes alone for the next keyframe. It returns
// how many pictures it emitted.
func (e *Encoder) coded(emit func(*media.AccessUnit) error) (int, error) {
	pictures := 0
	for {
		b, err := e.dev.dequeue(e.dev.captureType())
		switch {
		case errors.Is(err, unix.EAGAIN):
			return pictures, nil
		case errors.Is(err, unix.EPIPE):
			return pictures, fmt.Errorf("v4l2m2m: %s stopped (its last buffer was taken)", e.p.Device)
		case err != nil:
			return pictures, fmt.Errorf("v4l2m2m: VIDIOC_DQBUF(CAPTURE): %w", err)
		}
		if int(b.Index) >= len(e.cap) || uint64(b.Offset)+uint64(b.BytesUsed) > uint64(len(e.cap[b.Index].mem)) {
			return pictures, fmt.Errorf("v4l2m2m: the driver returned CAPTURE buffer %d with %d bytes at %d", b.Index, b.BytesUsed, b.Offset)
		}
		e.cap[b.Index].queued = false
		var emitErr error
		switch {
		case b.Flags&bufFlagError != 0:
			emitErr = fmt.Errorf("v4l2m2m: %s flagged coded frame %d as broken", e.p.Device, e.frames)
		case b.BytesUsed > 0:
			var got bool
			got, emitErr = e.unit(e.cap[b.Index].mem[b.Offset:b.Offset+b.BytesUsed], b, emit)
			if got {
				pictures++
			}
		}
		if b.Flags&bufFlagLast != 0 {
			return pictures, errors.Join(emitErr, fmt.Errorf("v4l2m2m: %s ended the stream", e.p.Device))
		}
		if err := e.dev.queue(e.dev.captureType(), b.Index, 0, unix.Timeval{}, 0); err != nil {
			return pictures, errors.Join(emitErr, fmt.Errorf("v4l2m2m: %w", err))
		}
		e.cap[b.Index].queued = true
		if emitErr != nil {
			return pictures, emitErr
		}
	}
}

// unit turns one coded buffer into an access unit for emit; false when the buffer held
// no picture (an H.264 header on its own, kept for the next keyframe).
func (e *Encoder) unit(data []byte, b dequeued, emit func(*media.AccessUnit) error) (bool, error) {
	au := media.AccessUnit{Time: e.frameTime(b.Timestamp)}
	if e.p.Coded != CodedH264 {
		e.nalus = append(e.nalus[:0], data)
		au.NALUs = e.nalus
		au.Keyframe = b.Flags&bufFlagKeyframe != 0 || (e.p.Coded == CodedFWHT && FWHTIntra(data))
		return true, emit(&au)
	}
	e.nalus = e.nalus[:0]
	vcl, sps := false, false
	for n := range h264.NALUs(data) {
		switch t := h264.NALType(n); {
		case h264.IsVCL(t):
			vcl = true
		case t == h264.TypeSPS:
			sps = true
		}
		e.nalus = append(e.nalus, n)
	}
	if !vcl {
		e.header = e.header[:0]
		for _, n := range e.nalus {
			if t := h264.NALType(n); t == h264.TypeSPS || t == h264.TypePPS {
				e.header = append(e.header, append([]byte(nil), n...))
			}
		}
		return false, nil
	}
	au.Keyframe = h264.IsKeyframe(e.nalus)
	if au.Keyframe && !sps && len(e.header) > 0 {
		e.nalus = append(append(make([][]byte, 0, len(e.header)+len(e.nalus)), e.header...), e.nalus...)
	}
	au.NALUs = e.nalus
	return true, emit(&au)
}

// FWHTIntra says whether a vicodec FWHT frame is an I-frame. Layout (struct
// fwht_cframe_hdr, big-endian after two magic words): magic1 4f4f4f4f, magic2
// ffffffff, version, width, height, flags (bit 10: V4L2_FWHT_FL_I_FRAME), colorspace,
// xfer_func, ycbcr_enc, quantization, size.
func FWHTIntra(frame []byte) bool {
	return len(frame) >= 24 && binary.BigEndian.Uint32(frame[0:]) == 0x4f4f4f4f &&
		binary.BigEndian.Uint32(frame[4:]) == 0xffffffff && binary.BigEndian.Uint32(frame[20:])&(1<<10) != 0
}

// Close drains the encoder (V4L2_ENC_CMD_STOP, then CAPTURE buffers until the one
// flagged last, at most Params.Timeout; frames still inside are dropped, as
// encoder.Encoder allows), stops both queues and frees the buffers and the device.
func (e *Encoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	err := e.drain()
	return errors.Join(err, e.release())
}

func (e *Encoder) drain() error {
	if e.frames == 0 {
		return nil
	}
	if err := e.dev.encoderCommand(encCmdStop); err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return nil // a driver without VIDIOC_ENCODER_CMD: STREAMOFF ends it
		}
		return fmt.Errorf("v4l2m2m: VIDIOC_ENCODER_CMD(STOP): %w", err)
	}
	deadline := time.Now().Add(e.p.Timeout)
	for {
		b, err := e.dev.dequeue(e.dev.captureType())
		switch {
		case errors.Is(err, unix.EPIPE):
			return nil
		case errors.Is(err, unix.EAGAIN):
			left := time.Until(deadline)
			if left <= 0 {
				return fmt.Errorf("v4l2m2m: %s did not finish draining within %v", e.p.Device, e.p.Timeout)
			}
			if _, err := e.dev.wait(unix.POLLIN, int(left.Milliseconds())+1); err != nil {
				return fmt.Errorf("v4l2m2m: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("v4l2m2m: drain: VIDIOC_DQBUF(CAPTURE): %w", err)
		}
		if b.Flags&bufFlagLast != 0 || int(b.Index) >= len(e.cap) {
			return nil
		}
		if err := e.dev.queue(e.dev.captureType(), b.Index, 0, unix.Timeval{}, 0); err != nil {
			return fmt.Errorf("v4l2m2m: drain: %w", err)
		}
	}
}

// release stops the queues, unmaps and frees the buffers and closes the device.
func (e *Encoder) release() error {
	d := e.dev
	var err error
	if e.out != nil || e.cap != nil {
		err = e.stop()
	}
	unmap(e.out)
	unmap(e.cap)
	if e.out != nil {
		d.requestBuffers(d.outputType(), 0)
	}
	if e.cap != nil {
		d.requestBuffers(d.captureType(), 0)
	}
	e.out, e.cap = nil, nil
	return errors.Join(err, d.close())
}

// New is Open for an encoder.Source's Open field: on error the Encoder is a nil
// interface, not a nil *Encoder inside one.
func New(o encoder.Options, p Params) (encoder.Encoder, error) {
	e, err := Open(o, p)
	if err != nil {
		return nil, err
	}
	return e, nil
}
