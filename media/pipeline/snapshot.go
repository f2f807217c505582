package pipeline

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/camnode/camnode/media"
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
func (p *Pipeline) Snapshot(ctx context.Context) (*Picture, error) {
	ch := p.snap.request()
	if !p.snap.raw.Load() {
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

// offerAccessUnit copies au for the waiting snapshots if it is a keyframe.
func (s *snapshotter) offerAccessUnit(au *media.AccessUnit) {
	if !au.Keyframe || !s.wanted.Load() {
		return
	}
	c := &media.AccessUnit{Time: au.Time, CompositionOffset: au.CompositionOffset, Keyframe: true,
		NALUs: make([][]byte, len(au.NALUs))}
	for i, n := range au.NALUs {
		c.NALUs[i] = bytes.Clone(n)
	}
	s.deliver(snapResult{pic: &Picture{AU: c}})
}

// draw is the overlay of every raw source: burn-in first, then the snapshot, so that the
// snapshot shows the picture as viewers see it.
func (p *Pipeline) draw(f *media.Frame) error {
	if ov := p.opts.Overlay; ov != nil && ov.Enabled() {
		if err := ov.Draw(f); err != nil {
			return err
		}
	}
	p.snap.offerFrame(f)
	return nil
}
