package pipeline

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/snapshot"
)

// Picture is a copy of one picture of the stream, owned by the caller: Frame for a raw
// source (as drawn, burn-in included), else AU, a keyframe with its SPS and PPS.
type Picture struct {
	Frame *media.Frame
	AU    *media.AccessUnit
}

// Snapshot returns a copy of the next picture of the stream: the next raw frame after
// burn-in when the source is raw, else the next keyframe (the source is asked for one
// when it can make it). It waits until then or until ctx ends. The frame path only
// checks a flag unless a snapshot is waiting: no frame is ever delayed for nothing.
//
// The pipeline only hands the picture over; encoding it (snapshot.FromFrame, or ffmpeg
// through snapshot.Decoder) is the caller's, on the caller's goroutine.
func (p *Pipeline) Snapshot(ctx context.Context) (*Picture, error) {
	return p.NextPicture(ctx, true)
}

// NextPicture is Snapshot; askKeyframe false waits for the stream's own next keyframe
// instead of asking an H.264 source for one (a periodic snapshot does not add IDR
// pictures to the stream).
func (p *Pipeline) NextPicture(ctx context.Context, askKeyframe bool) (*Picture, error) {
	ch := p.snap.request()
	if askKeyframe && !p.snap.raw.Load() {
		p.RequestKeyframe() // a source that cannot: the next keyframe comes in its time
	}
	select {
	case r := <-ch:
		return r.pic, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type snapResult struct {
	pic *Picture
	err error
}

// snapshotter hands the next picture to the Snapshot calls waiting for it.
type snapshotter struct {
	wanted atomic.Bool // a Snapshot waits: the frame path's only cost otherwise
	raw    atomic.Bool // the current source's frames pass through draw

	mu      sync.Mutex
	waiting []chan snapResult
}

func (s *snapshotter) setRaw(raw bool) { s.raw.Store(raw) }

func (s *snapshotter) request() chan snapResult {
	ch := make(chan snapResult, 1)
	s.mu.Lock()
	s.waiting = append(s.waiting, ch)
	s.mu.Unlock()
	s.wanted.Store(true)
	return ch
}

func (s *snapshotter) deliver(r snapResult) {
	s.mu.Lock()
	waiting := s.waiting
	s.waiting = nil
	s.wanted.Store(false)
	s.mu.Unlock()
	for _, ch := range waiting {
		ch <- r
	}
}

func (s *snapshotter) fail(err error) { s.deliver(snapResult{err: err}) }

// offerFrame copies f for the waiting snapshots, if any. It runs on the source's goroutine.
func (s *snapshotter) offerFrame(f *media.Frame) {
	if !s.wanted.Load() {
		return
	}
	c := &media.Frame{Format: f.Format, Width: f.Width, Height: f.Height, Strides: f.Strides, Time: f.Time}
	for i, pl := range f.Planes {
		if pl != nil {
			c.Planes[i] = bytes.Clone(pl)
		}
	}
	s.deliver(snapResult{pic: &Picture{Frame: c}})
}

// offerAccessUnit copies au for the waiting snapshots if it is a keyframe (the pipeline
// makes every keyframe carry its SPS and PPS).
func (s *snapshotter) offerAccessUnit(au *media.AccessUnit) {
	if !au.Keyframe || !s.wanted.Load() {
		return
	}
	c := &media.AccessUnit{Time: au.Time, CompositionOffset: au.CompositionOffset, Keyframe: true}
	for _, n := range au.NALUs {
		c.NALUs = append(c.NALUs, bytes.Clone(n))
	}
	s.deliver(snapResult{pic: &Picture{AU: c}})
}

// draw is the overlay of every raw source: burn-in first, then the snapshot, so that the
// snapshot shows the picture as viewers see it.
func (p *Pipeline) draw(f *media.Frame) error {
	if ov := p.opts.Overlay; ov != nil {
		if burn, _ := ov.Enabled(); burn {
			if err := ov.Draw(f); err != nil {
				return err
			}
		}
	}
	p.snap.offerFrame(f)
	return nil
}

// snapshotWait bounds the wait for a picture: the next keyframe of a passthrough stream may
// be 10 s away, and ffmpeg on a loaded Pi takes a while.
const snapshotWait = 30 * time.Second

// SnapshotJPEG returns the next picture of the stream as a JPEG: a raw source's frame as
// drawn (burn-in included), encoded with image/jpeg; an H.264-only source's keyframe,
// decoded with ffmpeg where it is installed (snapshot.ErrNoDecoder says so where not).
// askKeyframe asks an H.264 source for a keyframe now (a user asked), as NextPicture. It
// runs on the caller's goroutine, never on the frame path, and waits at most 30 s.
func (p *Pipeline) SnapshotJPEG(ctx context.Context, askKeyframe bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotWait)
	defer cancel()
	pic, err := p.NextPicture(ctx, askKeyframe)
	if err != nil {
		return nil, err
	}
	if pic.Frame != nil {
		return snapshot.FromFrame(pic.Frame, 0)
	}
	return snapshot.Decoder{}.FromKeyframe(ctx, pic.AU.NALUs)
}
