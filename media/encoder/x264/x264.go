//go:build cgo && !nox264

// Package x264 is the H.264 encoder of camnode: libx264 through cgo (build tag nox264 leaves it out).
package x264

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <x264.h>

// x264_encoder_open is a macro naming the versioned symbol; cgo cannot call macros.
static x264_t *camnode_x264_open(x264_param_t *p) { return x264_encoder_open(p); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// Built tells whether libx264 is linked into this binary.
const Built = true

// Encoder is one libx264 encoder. It implements encoder.Encoder; use it from one
// goroutine at a time.
type Encoder struct {
	opts   encoder.Options
	h      *C.x264_t
	picIn  *C.x264_picture_t // C memory: it holds pointers to pinned Go planes
	picOut *C.x264_picture_t
	pts    int64
	// times maps a picture's pts to its frame's capture time, for the pictures x264 still
	// holds (none with zerolatency; at most the lookahead otherwise).
	times [512]time.Duration
	au    media.AccessUnit
	buf   []byte // the NAL units of the current access unit, reused
}

var _ encoder.Encoder = (*Encoder)(nil)

// New opens an encoder with opts (zero fields take encoder defaults). B-frames are off:
// a live stream wants the lowest latency, and access units then come out in display
// order with a zero composition offset. The GOP is fixed (no scene-cut IDRs) so
// keyframes come where the settings and Encode's forceKeyframe say; SPS and PPS precede
// every IDR. The stream is flagged BT.709, limited range.
func New(opts encoder.Options) (*Encoder, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("x264: %w", err)
	}
	var p C.x264_param_t
	preset, tune := C.CString(opts.Preset), C.CString(opts.Tune)
	defer C.free(unsafe.Pointer(preset))
	defer C.free(unsafe.Pointer(tune))
	if C.x264_param_default_preset(&p, preset, tune) < 0 {
		return nil, fmt.Errorf("x264: unknown preset %q or tune %q (presets: ultrafast superfast veryfast faster fast medium slow slower veryslow placebo; tunes: film animation grain stillimage psnr ssim fastdecode zerolatency)", opts.Preset, opts.Tune)
	}
	p.i_log_level = C.X264_LOG_ERROR
	p.i_csp = C.X264_CSP_I420
	p.i_width, p.i_height = C.int(opts.Width), C.int(opts.Height)
	num, den := encoder.FrameRate(opts.FPS)
	p.i_fps_num, p.i_fps_den = C.uint32_t(num), C.uint32_t(den)
	p.i_timebase_num, p.i_timebase_den = C.uint32_t(den), C.uint32_t(num) // pts counts frames
	p.b_vfr_input = 0                                                     // rate control by fps; the SPS states it
	p.i_bframe = 0
	p.i_keyint_max = C.int(opts.GOP)
	p.i_keyint_min = C.int(opts.GOP)
	p.i_scenecut_threshold = 0
	p.b_repeat_headers = 1
	p.b_annexb = 0 // each payload starts with a 4-byte length instead of a start code
	p.b_aud = 0
	kbit := C.int((opts.Bitrate + 500) / 1000)
	p.rc.i_rc_method = C.X264_RC_ABR
	p.rc.i_bitrate = kbit
	p.rc.i_vbv_max_bitrate = kbit
	p.rc.i_vbv_buffer_size = kbit // one second: smooth enough for RTMP ingest buffers
	p.vui.b_fullrange = 0
	p.vui.i_colorprim, p.vui.i_transfer, p.vui.i_colmatrix = 1, 1, 1 // BT.709 (H.264 Table E-3..E-5)
	profile := C.CString(opts.Profile)
	defer C.free(unsafe.Pointer(profile))
	if C.x264_param_apply_profile(&p, profile) < 0 {
		return nil, fmt.Errorf("x264: unknown profile %q (want baseline, main or high)", opts.Profile)
	}
	h := C.camnode_x264_open(&p)
	if h == nil {
		return nil, fmt.Errorf("x264: cannot open an encoder for %dx%d@%v %d bit/s GOP %d preset %s tune %s profile %s",
			opts.Width, opts.Height, opts.FPS, opts.Bitrate, opts.GOP, opts.Preset, opts.Tune, opts.Profile)
	}
	e := &Encoder{opts: opts, h: h}
	e.picIn = (*C.x264_picture_t)(C.calloc(2, C.size_t(unsafe.Sizeof(C.x264_picture_t{}))))
	e.picOut = (*C.x264_picture_t)(unsafe.Add(unsafe.Pointer(e.picIn), unsafe.Sizeof(C.x264_picture_t{})))
	return e, nil
}

// Options returns the settings in force, defaults filled in.
func (e *Encoder) Options() encoder.Options { return e.opts }

// Encode codes one I420 or NV12 frame of the size the encoder was opened for.
func (e *Encoder) Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	if e.h == nil {
		return errors.New("x264: encode after Close")
	}
	if err := encoder.CheckFrame(f, e.opts.Width, e.opts.Height); err != nil {
		return fmt.Errorf("x264: %w", err)
	}
	pic := e.picIn
	C.x264_picture_init(pic)
	nplanes := 3
	pic.img.i_csp = C.X264_CSP_I420
	if f.Format == media.PixelNV12 {
		nplanes = 2
		pic.img.i_csp = C.X264_CSP_NV12
	}
	pic.img.i_plane = C.int(nplanes)
	// x264 copies the picture into its own frame during the call and keeps no pointer to
	// it, so pinning for the call is enough to let C memory hold the Go plane pointers.
	var pin runtime.Pinner
	defer pin.Unpin()
	for i := 0; i < nplanes; i++ {
		p := &f.Planes[i][0]
		pin.Pin(p)
		pic.img.plane[i] = (*C.uint8_t)(unsafe.Pointer(p))
		pic.img.i_stride[i] = C.int(f.Strides[i])
	}
	if forceKeyframe {
		pic.i_type = C.X264_TYPE_IDR
	}
	pic.i_pts = C.int64_t(e.pts)
	e.times[e.pts%int64(len(e.times))] = f.Time
	e.pts++

	var nals *C.x264_nal_t
	var n C.int
	size := C.x264_encoder_encode(e.h, &nals, &n, pic, e.picOut)
	for i := range nplanes {
		pic.img.plane[i] = nil
	}
	if size < 0 {
		return fmt.Errorf("x264: encoding frame %d failed", e.pts-1)
	}
	if size == 0 || n == 0 {
		return nil // held back by the lookahead of a non-live tuning
	}
	return emit(e.accessUnit(unsafe.Slice(nals, int(n)), e.picOut))
}

// accessUnit copies the NAL units x264 returned (each payload a 4-byte length, then the
// NAL unit) into the reused buffer, without their length prefixes.
func (e *Encoder) accessUnit(nals []C.x264_nal_t, out *C.x264_picture_t) *media.AccessUnit {
	total := 0
	for _, nal := range nals {
		total += int(nal.i_payload)
	}
	e.buf = e.buf[:0]
	if cap(e.buf) < total {
		e.buf = make([]byte, 0, total+total/4)
	}
	e.au.NALUs = e.au.NALUs[:0]
	for _, nal := range nals {
		payload := unsafe.Slice((*byte)(unsafe.Pointer(nal.p_payload)), int(nal.i_payload))
		if len(payload) <= 4 {
			continue
		}
		start := len(e.buf)
		e.buf = append(e.buf, payload[4:]...)
		e.au.NALUs = append(e.au.NALUs, e.buf[start:len(e.buf):len(e.buf)])
	}
	e.au.Time = e.times[int64(out.i_pts)%int64(len(e.times))]
	e.au.CompositionOffset = 0
	e.au.Keyframe = out.b_keyframe != 0
	return &e.au
}

// Close frees the encoder. It is safe to call more than once.
func (e *Encoder) Close() error {
	if e.h != nil {
		C.x264_encoder_close(e.h)
		e.h = nil
		C.free(unsafe.Pointer(e.picIn))
		e.picIn, e.picOut = nil, nil
	}
	return nil
}
