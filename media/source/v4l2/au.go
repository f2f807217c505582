package v4l2

import (
	"bytes"
	"slices"

	"github.com/camnode/camnode/media/h264"
)

// auBuilder turns the driver's H.264 buffers into access units. A capture buffer holds
// one frame in Annex-B form ([00] 00 00 01 NALU ...); encoders differ in where the SPS and
// PPS go: before every IDR frame in the same buffer (with "repeat sequence header"),
// in a buffer of their own before the IDR frame (the Pi's bcm2835 codec config), or only
// once at the start of the stream. The builder remembers the last parameter sets and puts
// them before every IDR frame that lacks them, so every keyframe it yields decodes alone
// and a publisher that reconnects finds SPS/PPS in the next keyframe.
type auBuilder struct {
	nalus  [][]byte // the current unit, reused
	params [][]byte // copies of the last SPS and PPS, in stream order
	store  []byte   // backing bytes of params
}

// build returns the NAL units of the frame in buf and whether it is a keyframe (an IDR
// frame). ok is false for a buffer without a picture (parameter sets alone, or no NAL
// unit). The returned slices alias buf and the builder; they are valid until the next
// call.
func (a *auBuilder) build(buf []byte) (nalus [][]byte, keyframe, ok bool) {
	a.nalus = a.nalus[:0]
	var vcl, idr, sps, pps bool
	for n := range h264.NALUs(buf) {
		a.nalus = append(a.nalus, n)
		switch t := h264.NALType(n); {
		case t == h264.TypeSPS:
			sps = true
		case t == h264.TypePPS:
			pps = true
		case t == h264.TypeIDR:
			idr, vcl = true, true
		case h264.IsVCL(t):
			vcl = true
		}
	}
	if sps || pps {
		a.remember(sps, pps)
	}
	if !vcl {
		return nil, false, false
	}
	if idr && (!sps || !pps) {
		a.prependParams(sps, pps)
	}
	return a.nalus, idr, true
}

// remember keeps copies of the parameter sets of the current unit, replacing the kind it
// carries (an SPS-only buffer keeps the old PPS). It copies only when they changed.
func (a *auBuilder) remember(sps, pps bool) {
	var next [][]byte
	for _, p := range a.params {
		t := h264.NALType(p)
		if !(t == h264.TypeSPS && sps || t == h264.TypePPS && pps) {
			next = append(next, p)
		}
	}
	for _, n := range a.nalus {
		if t := h264.NALType(n); t == h264.TypeSPS || t == h264.TypePPS {
			next = append(next, n)
		}
	}
	if slices.EqualFunc(next, a.params, bytes.Equal) {
		return
	}
	size := 0
	for _, n := range next {
		size += len(n)
	}
	store := make([]byte, 0, size)
	params := make([][]byte, 0, len(next))
	for _, n := range next {
		store = append(store, n...)
		params = append(params, store[len(store)-len(n):len(store):len(store)])
	}
	a.params, a.store = params, store
}

// prependParams puts the remembered parameter sets of the kinds the unit lacks at its
// front, behind an access unit delimiter, which must stay first (H.264 7.4.1.2.3).
func (a *auBuilder) prependParams(hasSPS, hasPPS bool) {
	at := 0
	if len(a.nalus) > 0 && h264.NALType(a.nalus[0]) == h264.TypeAUD {
		at = 1
	}
	for _, p := range a.params {
		if t := h264.NALType(p); t == h264.TypeSPS && hasSPS || t == h264.TypePPS && hasPPS {
			continue
		}
		a.nalus = append(a.nalus, nil)
		copy(a.nalus[at+1:], a.nalus[at:len(a.nalus)-1])
		a.nalus[at] = p
		at++
	}
}
