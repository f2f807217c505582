package node

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source/v4l2"
	"github.com/camnode/camnode/media/stream"
)

type noteKind int

const (
	noteLive noteKind = iota
	noteDisconnected
	noteRejected
	noteSourceFailed
	noteSourceRecovered
	noteSize
)

// note is a report from a pipeline goroutine to the node's goroutine.
type note struct {
	pipe          *pipeline
	kind          noteKind
	err           error
	width, height int
	fps           float64
}

// pipeline is one run of source -> publisher, from stream ON to OFF (or restart).
type pipeline struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pub    *stream.Publisher
	// carriers put chat into the access units; nil when no carrier is switched on.
	carriers *danmaku.Carriers

	mu  sync.Mutex
	src media.Source
	// srcDropped counts the frames that sources of this pipeline already closed lost
	// before delivery (a camera's sequence gaps).
	srcDropped uint64
}

// sourceDropped is what the pipeline's sources lost before delivery: the closed ones and
// the current one. Only cameras count such losses; other sources lose nothing there.
func (p *pipeline) sourceDropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.srcDropped + captureDropped(p.src)
}

// captureDropped reads a camera's count of frames lost in capture, through the encoder
// when raw frames are encoded here.
func captureDropped(src any) uint64 {
	if es, ok := src.(*encoder.Source); ok {
		src = es.Frames
	}
	if c, ok := src.(interface{ Stats() v4l2.Stats }); ok {
		return c.Stats().Dropped
	}
	return 0
}

func (p *pipeline) requestKeyframe() error {
	p.mu.Lock()
	src := p.src
	p.mu.Unlock()
	if kr, ok := src.(media.KeyframeRequester); ok {
		return kr.RequestKeyframe()
	}
	return errNoKeyframeControl
}

func (n *Node) startPipeline(ctx context.Context) {
	pctx, cancel := context.WithCancel(ctx)
	p := &pipeline{cancel: cancel, carriers: n.newCarriers()}
	send := func(nt note) {
		nt.pipe = p
		select {
		case n.notes <- nt:
		case <-pctx.Done():
		}
	}
	tlsConfig := n.rtmpTLS() // system roots + CAMNODE_RTMP_CA_FILE, always verified
	p.pub = stream.New(stream.Options{
		URL:          n.cfg.RTMPURL,
		RTMP:         rtmp.Options{Timeout: n.cfg.RTMPTimeout, WriteTimeout: n.cfg.RTMPTimeout, TLSConfig: tlsConfig, Logger: n.log},
		ReconnectMin: n.cfg.ReconnectMin,
		ReconnectMax: n.cfg.ReconnectMax,
		SendBuffer:   n.cfg.SendBuffer,
		Lossless:     unpaced(n.cfg.Source),
		FrameRate:    n.cfg.FPS,
		BitrateKbps:  float64(n.cfg.Bitrate) / 1000,
		Logger:       n.log,
		OnStatus: func(s stream.Status) {
			switch s.State {
			case stream.Live:
				send(note{kind: noteLive})
			case stream.Reconnecting:
				send(note{kind: noteDisconnected, err: s.Err})
			case stream.Failed:
				send(note{kind: noteRejected, err: s.Err})
			}
		},
		RequestKeyframe: func() { p.requestKeyframe() },
	})
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.pub.Run(pctx)
	}()
	go func() {
		defer p.wg.Done()
		n.runSource(pctx, p, send)
	}()
	n.pipe = p
}

// runSource runs the source until ctx ends, reopening it with backoff when it fails. Time
// stays continuous across reopenings: each run's clock is shifted to follow the last frame.
func (n *Node) runSource(ctx context.Context, p *pipeline, send func(note)) {
	frame := time.Duration(float64(time.Second) / n.cfg.FPS)
	var offset, last time.Duration
	delivered := false
	backoff := n.cfg.ReconnectMin
	var width, height int
	for {
		src, err := n.openSource()
		if err == nil {
			p.mu.Lock()
			p.srcDropped += captureDropped(p.src)
			p.src = src
			p.mu.Unlock()
			first, healthy := true, false
			began := time.Now()
			err = src.Run(ctx, func(au *media.AccessUnit) error {
				if first {
					first = false
					if delivered {
						offset = last + frame - au.Time
					}
				}
				au.Time += offset
				if delivered && au.Time <= last {
					au.Time = last + time.Millisecond // a source clock must never go back
				}
				last, delivered = au.Time, true
				if !healthy {
					healthy = true
					send(note{kind: noteSourceRecovered})
				}
				if w, h, ok := spsSize(au); ok && (w != width || h != height) {
					width, height = w, h
					fps := n.cfg.FPS
					send(note{kind: noteSize, width: w, height: h, fps: fps})
				}
				// Chat goes into the unit (SEI) and beside it (onTextData, after the unit:
				// the publisher starts with a keyframe and drops data before it).
				out, data := p.carriers.Frame(au)
				if err := p.pub.WriteAccessUnit(ctx, out); err != nil {
					return err
				}
				for _, body := range data {
					p.pub.WriteData(ctx, out.Time, body)
				}
				return nil
			})
			if time.Since(began) > 10*time.Second {
				backoff = n.cfg.ReconnectMin
			}
		}
		if ctx.Err() != nil {
			return
		}
		send(note{kind: noteSourceFailed, err: err})
		wait := backoff
		backoff = min(2*backoff, n.cfg.ReconnectMax)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

// unpaced reports a file source that sends as fast as it can (?pace=0): the publisher
// must then hold it back instead of dropping what the network cannot take yet.
func unpaced(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Scheme == "file" && u.Query().Get("pace") == "0"
}

func spsSize(au *media.AccessUnit) (int, int, bool) {
	if !au.Keyframe {
		return 0, 0, false
	}
	for _, nalu := range au.NALUs {
		if h264.NALType(nalu) == h264.TypeSPS {
			if sps, err := h264.ParseSPS(nalu); err == nil {
				return sps.Width, sps.Height, true
			}
		}
	}
	return 0, 0, false
}

func (n *Node) stopPipeline() {
	if n.pipe == nil {
		return
	}
	n.pipe.cancel()
	n.pipe.wg.Wait()
	done := n.pipe.pub.Stats()
	done.FramesDropped += n.pipe.sourceDropped()
	n.tel.done = addStats(n.tel.done, done)
	n.chat.pipelineStopped(n.pipe.carriers)
	n.pipe = nil
}
