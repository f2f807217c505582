//go:build linux && cgo

package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/camnode/camnode/media/h264"
)

// TestAccessUnits: the clip the VM checks play comes apart into its 1280x720 frames,
// the first a keyframe with its SPS and PPS, and nothing is lost.
func TestAccessUnits(t *testing.T) {
	clip, err := os.ReadFile("../../../media/source/testsrc/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	aus, err := accessUnits(clip)
	if err != nil {
		t.Fatal(err)
	}
	if len(aus) < 30 {
		t.Fatalf("%d access units", len(aus))
	}
	var nalus, keys int
	for _, au := range aus {
		var ns [][]byte
		for n := range h264.NALUs(au) {
			ns = append(ns, n)
		}
		nalus += len(ns)
		if h264.IsKeyframe(ns) {
			keys++
		}
	}
	var first [][]byte
	for n := range h264.NALUs(aus[0]) {
		first = append(first, n)
	}
	if !h264.IsKeyframe(first) || h264.NALType(first[0]) != h264.TypeSPS && h264.NALType(first[0]) != h264.TypeAUD {
		t.Errorf("first access unit starts with NAL type %d, keyframe %v", h264.NALType(first[0]), h264.IsKeyframe(first))
	}
	var all int
	for range h264.NALUs(clip) {
		all++
	}
	if nalus != all || keys < 1 {
		t.Errorf("%d NAL units in %d access units (%d keyframes), the clip has %d", nalus, len(aus), keys, all)
	}
	if !bytes.HasPrefix(aus[0], []byte{0, 0, 0, 1}) {
		t.Errorf("access unit does not start with a start code: % x", aus[0][:8])
	}
}
