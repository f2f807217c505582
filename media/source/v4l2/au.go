package v4l2

import (
	"github.com/camnode/camnode/media/h264"
)

// auBuilder turns the driver's H.264 buffers into access units. A capture buffer holds
// one frame in Annex-B form ([00] 00 00 01 NALU ...); encoders differ in where the SPS and
// PPS go: before every IDR frame in the same buffer (with "repeat sequence header"), in a
// buffer of their own before the IDR frame (the Pi's bcm2835 codec config), or only once
// at the start of the stream. The builder carries the parameter sets of a buffer without
// a picture into the next unit, so that none is lost; from there the pipeline tracks them
// once for the stream and puts them before every keyframe (media.ParameterSetTracker).
type auBuilder struct {
	nalus   [][]byte // the current unit, reused
	pending [][]byte // parameter sets of buffers without a picture, for the next unit
	store   []byte   // backing bytes of pending
}

// build returns the NAL units of the frame in buf and whether it is a keyframe (an IDR
// frame). ok is false for a buffer without a picture (parameter sets alone, or no NAL
// unit). The returned slices alias buf and the builder; they are valid until the next
// call.
func (a *auBuilder) build(buf []byte) (nalus [][]byte, keyframe, ok bool) {
	a.nalus = a.nalus[:0]
	var vcl, idr bool
	for n := range h264.NALUs(buf) {
		a.nalus = append(a.nalus, n)
		switch t := h264.NALType(n); {
		case t == h264.TypeIDR:
			idr, vcl = true, true
		case h264.IsVCL(t):
			vcl = true
		}
	}
	if !vcl {
		a.keep()
		return nil, false, false
	}
	if len(a.pending) > 0 {
		a.insertPending()
	}
	return a.nalus, idr, true
}

// keep copies the parameter sets of the current buffer (it has no picture) for the next
// unit, each replacing a pending one of its kind.
func (a *auBuilder) keep() {
	var sets [][]byte
	for _, n := range a.nalus {
		if t := h264.NALType(n); t == h264.TypeSPS || t == h264.TypePPS {
			sets = append(sets, n)
		}
	}
	if len(sets) == 0 {
		return
	}
	var next [][]byte
	for _, p := range a.pending {
		if !hasKind(sets, h264.NALType(p)) {
			next = append(next, p)
		}
	}
	next = append(next, sets...)
	size := 0
	for _, n := range next {
		size += len(n)
	}
	store := make([]byte, 0, size)
	pending := make([][]byte, 0, len(next))
	for _, n := range next {
		store = append(store, n...)
		pending = append(pending, store[len(store)-len(n):len(store):len(store)])
	}
	a.pending, a.store = pending, store
}

// insertPending puts the pending parameter sets of the kinds the unit lacks at its front,
// behind an access unit delimiter, which must stay first (H.264 7.4.1.2.3), and forgets
// them.
func (a *auBuilder) insertPending() {
	at := 0
	if len(a.nalus) > 0 && h264.NALType(a.nalus[0]) == h264.TypeAUD {
		at = 1
	}
	var missing [][]byte
	for _, p := range a.pending {
		if !hasKind(a.nalus, h264.NALType(p)) {
			missing = append(missing, p)
		}
	}
	a.nalus = append(a.nalus[:at], append(missing, a.nalus[at:]...)...)
	a.pending = nil
}

// hasKind reports whether nalus hold a NAL unit of type t.
func hasKind(nalus [][]byte, t byte) bool {
	for _, n := range nalus {
		if h264.NALType(n) == t {
			return true
		}
	}
	return false
}
