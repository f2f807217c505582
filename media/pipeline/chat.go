package pipeline

import (
	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
)

// ChatOptions configure the chat carriers of one stream: CAMNODE_DANMAKU's sei, cc and
// amf (see danmaku.CarrierOptions). The callbacks say what became of the messages.
type ChatOptions struct {
	SEI, CC, AMF bool
	// Auto is CAMNODE_DANMAKU=auto: captions and onTextData are left out of a stream whose
	// pictures show the chat (the Overlay draws).
	Auto bool
	// CaptionRows are the rows of roll-up captions (2 or 3); FrameRate the stream's.
	CaptionRows int
	FrameRate   float64
	// QueueSize bounds the messages waiting for the next frame.
	QueueSize int
	// OnShown hears of messages that went into the stream; OnDropped of those that will
	// not (and why); OnCaptionsSkipped of those shown without captions (cc behind).
	OnShown           func(n int)
	OnDropped         func(n int, r *chat.Rejection)
	OnCaptionsSkipped func(n int)
}

// Carriers put chat into one stream: the node's chat intake pushes each accepted
// message, the pipeline puts it into the next picture (SEI, captions) and beside it
// (onTextData, by each FLV output). A nil *Carriers carries nothing.
type Carriers struct{ c *danmaku.Carriers }

// NewCarriers makes the carriers of one stream; nil when the options name none.
func NewCarriers(o ChatOptions) *Carriers {
	if !o.SEI && !o.CC && !o.AMF {
		return nil
	}
	return &Carriers{danmaku.NewCarriers(danmaku.CarrierOptions{SEI: o.SEI, CC: o.CC, AMF: o.AMF, SEIOnlyWhenDrawn: o.Auto,
		CaptionRows: o.CaptionRows, FrameRate: o.FrameRate, QueueSize: o.QueueSize,
		OnShown: o.OnShown, OnDropped: o.OnDropped, OnCaptionsSkipped: o.OnCaptionsSkipped})}
}

func (c *Carriers) carriers() *danmaku.Carriers {
	if c == nil {
		return nil
	}
	return c.c
}

// drawn says whether the source just opened shows the chat in its pictures.
func (c *Carriers) drawn(drawn bool) { c.carriers().SetDrawn(drawn) }

// Push queues a message for the next picture; a *chat.Rejection says why not (too large
// for a frame, the queue full, the stream stopped).
func (c *Carriers) Push(m *chat.Message) error {
	if c == nil {
		return chat.Reject(chat.CauseNoCarrier, "no chat carrier in this stream")
	}
	return c.c.Push(m)
}

// Clear drops what waits and erases the captions on screen (danmaku/set OFF); it returns
// how many messages it dropped.
func (c *Carriers) Clear() int { return c.carriers().Clear() }

// Close drops what waits, returns how many, and makes every later Push fail.
func (c *Carriers) Close() int { return c.carriers().Close() }

// Any reports whether a carrier is on.
func (c *Carriers) Any() bool { return c.carriers().Any() }

// Frame puts the waiting chat into au, as the pipeline does with every picture: the unit
// to send instead, and the messages for onTextData. For tests and tools that feed outputs
// themselves.
func (c *Carriers) Frame(au *media.AccessUnit) (*media.AccessUnit, []*chat.Message) {
	return c.carriers().Frame(au)
}
