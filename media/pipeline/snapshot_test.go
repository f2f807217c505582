package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/snapshot"
)

// A keyframe that comes without its SPS and PPS (a camera that sends them once) is handed
// to the snapshot with the stream's last ones in front, so that it decodes; no snapshot is
// taken while none is asked for.
func TestSnapshotKeyframeGetsTheStreamsParameterSets(t *testing.T) {
	units := clipUnits(t)
	var s snapshotter
	var params media.ParameterSetTracker
	ps, err := params.Next(&units[0]) // the first keyframe, with its SPS and PPS
	if err != nil || ps == nil {
		t.Fatalf("the clip's first unit has no parameter sets: %v", err)
	}
	s.offerAccessUnit(&units[0]) // none asked: nothing taken
	var bare media.AccessUnit
	for _, u := range units[1:] {
		if u.Keyframe {
			bare = u
			break
		}
	}
	if !bare.Keyframe {
		t.Fatal("the clip has one keyframe only")
	}
	var slices [][]byte
	for _, n := range bare.NALUs {
		if t := h264.NALType(n); t != h264.TypeSPS && t != h264.TypePPS {
			slices = append(slices, n)
		}
	}
	bare.NALUs = slices
	ch := s.request()
	var buf parameterSetsUnit
	s.offerAccessUnit(withParameterSets(&bare, ps, &buf)) // as the pipeline gives it
	r := <-ch
	if r.err != nil || r.pic == nil || r.pic.AU == nil {
		t.Fatalf("snapshot %+v", r)
	}
	if got := h264.NALType(r.pic.AU.NALUs[0]); got != h264.TypeSPS || h264.NALType(r.pic.AU.NALUs[1]) != h264.TypePPS {
		t.Fatalf("the keyframe starts with NAL type %d, want the SPS and PPS", got)
	}
	if s.wanted.Load() {
		t.Fatal("a snapshot is still wanted")
	}
	if _, err := (snapshot.Decoder{}).FromKeyframe(context.Background(), r.pic.AU.NALUs); err != nil && !errors.Is(err, snapshot.ErrNoDecoder) {
		t.Fatalf("the keyframe does not decode: %v", err)
	}
}

// The frame path's cost of snapshots: nothing asked (every frame), and one 1280x720 copy
// when a snapshot is asked for.
func BenchmarkSnapshotOfferFrame(b *testing.B) {
	f := &media.Frame{Format: media.PixelI420, Width: 1280, Height: 720, Strides: [3]int{1280, 640, 640}}
	f.Planes[0], f.Planes[1], f.Planes[2] = make([]byte, 1280*720), make([]byte, 640*360), make([]byte, 640*360)
	b.Run("idle", func(b *testing.B) {
		var s snapshotter
		for b.Loop() {
			s.offerFrame(f)
		}
	})
	b.Run("asked", func(b *testing.B) {
		var s snapshotter
		for b.Loop() {
			ch := s.request()
			s.offerFrame(f)
			<-ch
		}
	})
}
