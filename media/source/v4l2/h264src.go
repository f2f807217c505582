package v4l2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// Source captures H.264 from a camera that encodes it (the Pi camera on the legacy
// bcm2835-v4l2 stack, UVC webcams with H.264) and passes it through as access units.
// Each Run opens the device afresh, so a node can run it again after a failure.
type Source struct {
	path string
	opts Options
	st   counters

	mu  sync.Mutex
	cam camera // while Run streams
	// canForce tells the device has the force-key-frame control; dropForce rate-limits
	// the keyframes asked for after lost frames.
	canForce  bool
	dropForce time.Time
	granted   Format
	settings  []string
	unapplied picture.Orientation
}

// Unapplied returns what of Options.Orientation the camera's controls could not do in the
// last Run: an H.264 camera's picture is passed through, not turned (the zero value when
// everything was done or nothing was asked).
func (s *Source) Unapplied() picture.Orientation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unapplied
}

var (
	_ media.Source            = (*Source)(nil)
	_ media.KeyframeRequester = (*Source)(nil)
)

// Open checks the camera at path and returns its H.264 source. For a camera without
// H.264 that offers raw formats camnode can use, the error is a *RawOnlyError (matching
// ErrNeedsEncoder) that carries the raw source. The device is closed again until Run.
func Open(path string, opts Options) (*Source, error) {
	opts = opts.withDefaults()
	formats, card, err := captureFormats(path, opts.Logger)
	if err != nil {
		return nil, err
	}
	raw, all, h264 := sortFormats(formats, "")
	if h264 {
		return &Source{path: path, opts: opts}, nil
	}
	if len(raw) > 0 {
		return nil, &RawOnlyError{Device: path, Formats: raw, Frames: newFrameSource(path, opts, raw)}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("v4l2: %s (%s) lists no capture formats", path, card)
	}
	return nil, fmt.Errorf("v4l2: %s (%s) offers no format camnode can use (%s; camnode takes H264, %s)",
		path, card, strings.Join(all, ", "), strings.Join(rawNames(), ", "))
}

// sortFormats names the camera's formats: all of them, the raw ones camnode can use
// (only want, when it is set), and whether one is H.264.
func sortFormats(formats []FormatInfo, want string) (raw, all []string, h264 bool) {
	for _, f := range formats {
		all = append(all, f.FourCC)
		h264 = h264 || f.code == fccH264
		if isRawSupported(f.code) && (want == "" || want == f.FourCC) {
			raw = append(raw, f.FourCC)
		}
	}
	return raw, all, h264
}

// captureFormats opens the camera at path, checks that it captures video and lists its
// formats, and closes it again; card is the device's name for messages.
func captureFormats(path string, log *slog.Logger) (formats []FormatInfo, card string, err error) {
	cam, err := openCamera(path)
	if err != nil {
		return nil, "", err
	}
	defer closeCamera(cam, log)
	if err := checkCapture(cam); err != nil {
		return nil, "", err
	}
	formats, err = cam.formats()
	if err != nil {
		return nil, "", err
	}
	return formats, cam.info().card, nil
}

func rawNames() []string {
	var s []string
	for _, c := range rawPreference {
		s = append(s, fourccString(c))
	}
	return s
}

// Stats returns what the source captured, delivered and lost since Open.
func (s *Source) Stats() Stats { return s.st.stats() }

// Format returns what the driver granted in the last Run: size, rate.
func (s *Source) Format() Format {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.granted
}

// Settings returns the encoder controls the last Run set or found, one "name value" each,
// e.g. "bitrate 2500000".
func (s *Source) Settings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.settings...)
}

// RequestKeyframe makes the camera's encoder send an IDR frame next, through its
// force-key-frame control. It fails when the camera has no such control or is not
// streaming. Safe from any goroutine.
func (s *Source) RequestKeyframe() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forceLocked()
}

func (s *Source) forceLocked() error {
	if s.cam == nil {
		return fmt.Errorf("v4l2: %s is not streaming", s.path)
	}
	if !s.canForce {
		return fmt.Errorf("v4l2: %s has no force-key-frame control: the next keyframe comes with the GOP", s.path)
	}
	return s.cam.setControl(cidForceKeyFrame, 1)
}

// Run streams access units until ctx ends (nil), the camera fails or deliver fails. The
// first unit the camera sends after Run starts is asked to be a keyframe (where it has
// the control); units before the first keyframe are delivered too.
func (s *Source) Run(ctx context.Context, deliver func(*media.AccessUnit) error) (err error) {
	log := s.opts.Logger
	defer recoverCapture(&err, s.path, log)
	cam, err := openCamera(s.path)
	if err != nil {
		return err
	}
	defer closeCamera(cam, log)
	if err := s.configure(cam); err != nil {
		return err
	}
	if err := cam.start(s.opts.Buffers); err != nil {
		return err
	}
	s.mu.Lock()
	s.cam = cam
	if s.canForce {
		if err := s.forceLocked(); err != nil {
			log.Debug("v4l2: force key frame at start", "device", s.path, "err", err)
		}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cam = nil
		s.mu.Unlock()
	}()

	// A compressed frame never fills its buffer to the last byte: such a buffer is an
	// encoder overflow (a truncated frame) or, with v4l2loopback, the stale buffer it
	// hands a new reader first (sequence 0, the slot's old contents up to its end).
	loop := captureLoop{cam: cam, stall: s.opts.StallTimeout, st: &s.st, log: log, onDrop: s.afterDrop,
		stale: func(b buffer) bool { return b.full }}
	var au auBuilder
	var unit media.AccessUnit
	return loop.run(ctx, func(b buffer, t time.Duration) error {
		nalus, key, ok := au.build(b.data)
		if !ok {
			return nil
		}
		unit = media.AccessUnit{NALUs: nalus, Time: t, Keyframe: key}
		s.st.delivered.Add(1)
		return deliver(&unit)
	})
}

// afterDrop asks for a keyframe after frames were lost: the frames after a lost one refer
// to it, and decoders show garbage until the next IDR. At most once a second.
func (s *Source) afterDrop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canForce && time.Since(s.dropForce) >= time.Second {
		s.dropForce = time.Now()
		if err := s.forceLocked(); err != nil {
			s.opts.Logger.Debug("v4l2: force key frame after lost frames", "device", s.path, "err", err)
		}
	}
}

// configure sets H.264 at the size and rate asked for, and the encoder controls, and
// records what the driver granted.
func (s *Source) configure(cam camera) error {
	if err := checkCapture(cam); err != nil {
		return err
	}
	sizes, err := cam.frameSizes(fccH264)
	if err != nil {
		return err
	}
	w, h := pickSize(sizes, s.opts.Width, s.opts.Height)
	rest, turnSettings, err := applyOrientation(cam, s.opts.Orientation)
	if err != nil {
		return err
	}
	if !rest.IsIdentity() {
		s.opts.Logger.Warn("v4l2: the camera cannot turn its H.264 picture as asked, and camnode does not re-encode it",
			"device", s.path, "asked", s.opts.Orientation.String(), "not_done", rest.String())
	}
	f, err := cam.setFormat(fccH264, w, h)
	if err != nil {
		return err
	}
	if f.FourCC != "H264" {
		return fmt.Errorf("v4l2: %s: asked for H264, the driver set %s", s.path, f.FourCC)
	}
	if f.FPS, err = cam.setRate(s.opts.FPS); err != nil {
		return err
	}
	settings, canForce := applyCodecControls(cam, s.opts, f)
	settings = append(turnSettings, settings...)
	s.mu.Lock()
	s.granted, s.settings, s.canForce, s.unapplied = f, settings, canForce, rest
	s.mu.Unlock()
	s.opts.Logger.Info("v4l2: camera streaming H.264", "device", s.path, "card", cam.info().card,
		"format", f.String(), "asked", asked(s.opts), "controls", strings.Join(settings, ", "))
	return nil
}

func asked(o Options) string {
	s := "driver's size"
	if o.Width > 0 && o.Height > 0 {
		s = fmt.Sprintf("%dx%d", o.Width, o.Height)
	}
	if o.FPS > 0 {
		s += " at " + formatFPS(o.FPS) + " fps"
	}
	return s
}

// applyCodecControls sets the H.264 encoder controls the camera has: bitrate, I-frame
// period (the GOP), repeat sequence header on (every IDR carries SPS/PPS, so a reconnect
// or a late viewer can start at any keyframe), SPS/PPS joined with the first frame,
// profile and level. A control the camera lacks is skipped with a debug log; one it
// refuses is logged and skipped too. It returns "name value" of each control as it ended
// up, and whether the camera can be asked for a keyframe.
func applyCodecControls(cam camera, o Options, f Format) (settings []string, canForce bool) {
	log := o.Logger
	set := func(name string, id uint32, value int64) {
		c, err := cam.control(id)
		if errors.Is(err, errNoControl) {
			log.Debug("v4l2: camera lacks control, skipped", "device", cam.path(), "control", name)
			return
		}
		if err != nil {
			log.Warn("v4l2: query control", "device", cam.path(), "control", name, "err", err)
			return
		}
		v := max(c.Min, min(value, c.Max))
		if c.Step > 1 {
			v = c.Min + (v-c.Min)/c.Step*c.Step
		}
		if c.Value != nil && *c.Value == v {
			settings = append(settings, fmt.Sprintf("%s %s", name, controlValue(c, v)))
			return
		}
		if err := cam.setControl(id, int32(v)); err != nil {
			log.Warn("v4l2: camera refused control value", "device", cam.path(), "control", name, "value", v, "err", err)
			if c.Value != nil {
				settings = append(settings, fmt.Sprintf("%s %s", name, controlValue(c, *c.Value)))
			}
			return
		}
		settings = append(settings, fmt.Sprintf("%s %s", name, controlValue(c, v)))
	}
	if o.Bitrate > 0 {
		set("bitrate", cidBitrate, int64(o.Bitrate))
	}
	if o.GOP > 0 {
		if _, err := cam.control(cidH264IPeriod); err == nil {
			set("i_frame_period", cidH264IPeriod, int64(o.GOP))
		} else {
			set("gop_size", cidGOPSize, int64(o.GOP))
		}
	}
	set("repeat_sequence_header", cidRepeatSeqHeader, 1)
	if c, err := cam.control(cidHeaderMode); err == nil && c.has(headerJoinedWith1st) {
		set("header_mode", cidHeaderMode, headerJoinedWith1st)
	}
	if c, err := cam.control(cidH264Profile); err == nil {
		for _, p := range []int64{profileHigh, profileMain, profileConstrainedBaseline, profileBaseline} {
			if c.has(p) {
				set("profile", cidH264Profile, p)
				break
			}
		}
	} else {
		log.Debug("v4l2: camera lacks control, skipped", "device", cam.path(), "control", "profile")
	}
	if c, err := cam.control(cidH264Level); err == nil {
		bitrate := int64(o.Bitrate)
		if bitrate == 0 {
			if b, err := cam.control(cidBitrate); err == nil && b.Value != nil {
				bitrate = *b.Value
			}
		}
		if l, ok := pickLevel(c, f, bitrate); ok {
			set("level", cidH264Level, l)
		}
	} else {
		log.Debug("v4l2: camera lacks control, skipped", "device", cam.path(), "control", "level")
	}
	if _, err := cam.control(cidForceKeyFrame); err == nil {
		canForce = true
	} else {
		log.Debug("v4l2: camera lacks control, skipped", "device", cam.path(), "control", "force_key_frame")
	}
	settings = append(settings, fmt.Sprintf("force_key_frame %s", map[bool]string{true: "available", false: "missing"}[canForce]))
	return settings, canForce
}

// controlValue prints a menu choice by name, a boolean as on/off, others as numbers.
func controlValue(c Control, v int64) string {
	if n := c.menuName(v); n != "" {
		return n
	}
	if c.typ == ctrlTypeBoolean {
		return map[bool]string{true: "on", false: "off"}[v != 0]
	}
	return fmt.Sprint(v)
}

// pickLevel returns the lowest level the camera offers that allows the size, rate and
// bitrate (H.264 table A-1; High profile's 1.25 bitrate allowance left aside, to be safe),
// or the highest level it offers when none does.
func pickLevel(c Control, f Format, bitrate int64) (int64, bool) {
	mbs := ((f.Width + 15) / 16) * ((f.Height + 15) / 16)
	fps := f.FPS
	if fps <= 0 {
		fps = 30
	}
	best, highest := int64(-1), int64(-1)
	for i, l := range h264Levels {
		v := int64(i)
		if !c.has(v) {
			continue
		}
		highest = max(highest, v)
		if best < 0 && mbs <= l.fs && float64(mbs)*fps <= float64(l.mbps) && bitrate <= int64(l.br)*1000 {
			best = v
		}
	}
	if best >= 0 {
		return best, true
	}
	return highest, highest >= 0
}
