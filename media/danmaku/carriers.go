// Package danmaku puts chat into the stream: the SEI, CEA-608 caption and onTextData carriers
// (and, in render, the burned-in picture). The chat message itself is package chat.
package danmaku

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/cea608"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/h264"
)

// CarrierOptions configure Carriers. The zero value of each number takes its default.
type CarrierOptions struct {
	// SEI sends each message as compact JSON in a user_data_unregistered SEI with
	// sei.CamnodeUUID; CC as CEA-608 roll-up captions "user: text" in ATSC A/53 cc_data;
	// AMF as an onTextData data message at the frame's timestamp.
	SEI, CC, AMF bool
	// SEIOnlyWhenDrawn leaves captions and onTextData out while SetDrawn(true) says that
	// the pictures show the chat already (CAMNODE_DANMAKU=auto): a platform that shows
	// captions would show each comment twice.
	SEIOnlyWhenDrawn bool
	// CaptionRows is the roll-up depth, 2 (default) or 3.
	CaptionRows int
	// FrameRate is the nominal rate of the stream (default 30); captions are paced at one
	// byte pair per frame of it.
	FrameRate float64
	// QueueSize bounds the messages waiting for a frame (default 64); Push rejects beyond.
	QueueSize int
	// MaxAge drops a message that waited longer for a frame (default 5 s): a source that
	// stalled must not replay old chat.
	MaxAge time.Duration
	// SEIBudget is the most chat JSON (with its SEI overhead) one frame carries, in bytes
	// (default 4096). A message that alone exceeds it is rejected by Push, never cut.
	SEIBudget int
	// MaxPerFrame bounds the messages one frame carries (default 32).
	MaxPerFrame int
	// CaptionBacklog bounds the captions waiting to be sent, in time at FrameRate (default
	// 20 s). A message whose captions do not fit is shown without them.
	CaptionBacklog time.Duration
	// CaptionErase clears the captions after this long without a new one (default 10 s).
	CaptionErase time.Duration

	// OnShown, OnDropped and OnCaptionsSkipped report what became of pushed messages.
	// They are called from the goroutine that calls Frame and must not block.
	OnShown func(n int)
	// OnDropped: n messages were lost (too old when their frame came).
	OnDropped func(n int, r *chat.Rejection)
	// OnCaptionsSkipped: n messages went out by the other carriers but without captions,
	// because the captions backlog was full.
	OnCaptionsSkipped func(n int)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Defaults of CarrierOptions.
const (
	DefaultQueueSize      = 64
	DefaultMaxAge         = 5 * time.Second
	DefaultSEIBudget      = 4096
	DefaultMaxPerFrame    = 32
	DefaultCaptionBacklog = 20 * time.Second
	DefaultCaptionErase   = 10 * time.Second
	maxCaptionCatchUp     = 8 // pairs one frame may carry after frames that could not (B-frames)
)

// pending is a message waiting for a frame, already encoded for each carrier.
type pending struct {
	at   time.Time
	json []byte        // SEI: compact JSON
	msg  *chat.Message // AMF: the message, for the outputs that send onTextData
	cc   []byte        // CC: 608 byte pairs
}

// Carriers put chat into the stream without re-encoding it. Push (any goroutine) queues a
// message; Frame (the source's goroutine, once per access unit) puts what is queued into
// the unit. Frame never blocks on Push for longer than a queue operation, and allocates
// nothing once its buffers have grown — nothing at all when no message is pending. A nil
// *Carriers carries nothing.
type Carriers struct {
	opts       CarrierOptions
	frameDur   time.Duration
	backlogCap int // bytes of caption pairs

	waiting  atomic.Int32 // messages in ring: Frame's lock-free check
	clearReq atomic.Bool  // Clear asked Frame to erase the captions
	drawn    atomic.Bool  // SetDrawn: the pictures show the chat

	mu     sync.Mutex
	ring   []pending
	head   int
	count  int
	closed bool

	// Frame's goroutine only.
	au         media.AccessUnit
	nalus      [][]byte
	rbsp, nal  []byte
	data       []*chat.Message
	taken      []pending
	ccPairs    []byte
	ccPayload  []byte
	backlog    []byte // caption pairs, a ring of backlogCap bytes
	blHead     int
	blLen      int
	ccSeen     bool
	ccLastPTS  time.Duration
	onScreen   bool
	lastSentAt time.Duration // PTS of the last caption pair sent
}

// NewCarriers makes Carriers for the carriers switched on in opts.
func NewCarriers(opts CarrierOptions) *Carriers {
	if opts.CaptionRows != 3 {
		opts.CaptionRows = 2
	}
	if opts.FrameRate <= 0 {
		opts.FrameRate = 30
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.SEIBudget <= 0 {
		opts.SEIBudget = DefaultSEIBudget
	}
	if opts.MaxPerFrame <= 0 {
		opts.MaxPerFrame = DefaultMaxPerFrame
	}
	if opts.CaptionBacklog <= 0 {
		opts.CaptionBacklog = DefaultCaptionBacklog
	}
	if opts.CaptionErase <= 0 {
		opts.CaptionErase = DefaultCaptionErase
	}
	if opts.OnShown == nil {
		opts.OnShown = func(int) {}
	}
	if opts.OnDropped == nil {
		opts.OnDropped = func(int, *chat.Rejection) {}
	}
	if opts.OnCaptionsSkipped == nil {
		opts.OnCaptionsSkipped = func(int) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Carriers{
		opts:     opts,
		frameDur: time.Duration(float64(time.Second) / opts.FrameRate),
		ring:     make([]pending, opts.QueueSize),
		taken:    make([]pending, 0, opts.MaxPerFrame),
	}
	if opts.CC {
		c.backlogCap = 2 * max(64, int(opts.CaptionBacklog.Seconds()*opts.FrameRate))
		c.backlog = make([]byte, c.backlogCap)
		c.ccPairs = make([]byte, 0, 2*maxCaptionCatchUp)
	}
	return c
}

// SetDrawn says whether the pictures of the source just opened show the chat (burnt in);
// with SEIOnlyWhenDrawn, Frame then carries SEI alone.
func (c *Carriers) SetDrawn(drawn bool) {
	if c != nil {
		c.drawn.Store(drawn)
	}
}

// active are the carriers Frame uses now.
func (c *Carriers) active() (sei, cc, amf bool) {
	if c.opts.SEIOnlyWhenDrawn && c.drawn.Load() {
		return c.opts.SEI, false, false
	}
	return c.opts.SEI, c.opts.CC, c.opts.AMF
}

// Any reports whether at least one carrier is switched on.
func (c *Carriers) Any() bool { return c != nil && (c.opts.SEI || c.opts.CC || c.opts.AMF) }

// Push queues a message for the next frame. It fails with a *chat.Rejection when the message
// is too large for the SEI budget (chat.CauseTooLarge), the queue is full (chat.CauseQueueFull), or
// the carriers are closed (chat.CauseStopped).
func (c *Carriers) Push(msg *chat.Message) error {
	p := pending{at: c.opts.Now()}
	if c.opts.SEI {
		p.json = msg.AppendJSON(nil)
		if n := seiSize(p.json); n > c.opts.SEIBudget {
			return chat.Reject(chat.CauseTooLarge, "message of %d bytes as SEI exceeds the %d-byte budget of a frame%s", n, c.opts.SEIBudget, msg.From())
		}
	}
	if c.opts.AMF {
		m := *msg
		p.msg = &m
	}
	if c.opts.CC {
		p.cc = cea608.AppendCaption(nil, c.opts.CaptionRows, msg.Caption())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return chat.Reject(chat.CauseStopped, "the stream stopped")
	case c.count == len(c.ring):
		return chat.Reject(chat.CauseQueueFull, "%d messages already wait for the stream%s", c.count, msg.From())
	}
	c.ring[(c.head+c.count)%len(c.ring)] = p
	c.count++
	c.waiting.Add(1)
	return nil
}

// seiSize is what a message adds to an SEI NAL unit's payload.
func seiSize(json []byte) int {
	n := 16 + len(json)
	return 1 + n/255 + 1 + n
}

// Clear drops the waiting messages and erases the captions on screen, for danmaku
// switched off; it returns how many messages it dropped.
func (c *Carriers) Clear() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	n := c.dropAllLocked()
	c.mu.Unlock()
	c.clearReq.Store(true)
	return n
}

// Close drops the waiting messages, returns how many, and makes every later Push fail.
func (c *Carriers) Close() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.dropAllLocked()
}

func (c *Carriers) dropAllLocked() int {
	n := c.count
	for ; c.count > 0; c.count-- {
		c.ring[c.head] = pending{}
		c.head = (c.head + 1) % len(c.ring)
	}
	c.waiting.Add(int32(-n))
	return n
}

// Frame puts the pending chat into an access unit and returns the unit to publish
// instead of au, with the messages the amf carrier sends beside it at its time (each
// output that speaks FLV makes its onTextData of them). The SEI NAL unit goes
// right before the first slice (after AUD, SPS, PPS and any SEI already there). The
// returned unit and messages are valid until the next call; au itself is not modified.
// Frame must be called from one goroutine at a time.
func (c *Carriers) Frame(au *media.AccessUnit) (*media.AccessUnit, []*chat.Message) {
	if c == nil {
		return au, nil
	}
	useSEI, useCC, useAMF := c.active()
	msgs := c.waiting.Load() > 0
	captions := useCC && (c.blLen > 0 || c.onScreen || c.clearReq.Load())
	if !msgs && !captions {
		return au, nil
	}
	vcl := firstVCL(au.NALUs)
	if vcl < 0 {
		return au, nil
	}
	c.rbsp, c.data = c.rbsp[:0], c.data[:0]
	if c.clearReq.Swap(false) && useCC {
		c.blLen = 0
		if c.onScreen {
			c.pushCaption(cea608.AppendErase(c.ccPairs[:0]))
			c.onScreen = false
		}
	}
	if msgs {
		c.take()
	}
	skipped := 0
	if useCC {
		for i := range c.taken {
			if !c.pushCaption(c.taken[i].cc) {
				skipped++
			}
		}
		c.captions(au)
	}
	for i := range c.taken {
		p := &c.taken[i]
		if useSEI {
			c.rbsp = sei.AppendUnregistered(c.rbsp, sei.CamnodeUUID, p.json)
		}
		if useAMF {
			c.data = append(c.data, p.msg)
		}
	}
	shown := len(c.taken)
	clear(c.taken)
	c.taken = c.taken[:0]
	if !useSEI && !useAMF && skipped > 0 {
		// Captions were the only way out for them: they are lost.
		shown -= skipped
		c.opts.OnDropped(skipped, chat.Reject(chat.CauseCaptionsLag, "captions are %v behind: %d message(s) dropped", c.opts.CaptionBacklog, skipped))
	} else if skipped > 0 {
		c.opts.OnCaptionsSkipped(skipped)
	}
	if shown > 0 {
		c.opts.OnShown(shown)
	}
	if len(c.rbsp) == 0 {
		return au, c.data
	}
	if cap(c.rbsp) == len(c.rbsp) {
		c.rbsp = slices.Grow(c.rbsp, 1) // room for AppendNAL's trailing byte
	}
	c.nal = sei.AppendNAL(c.nal[:0], c.rbsp)
	c.au = *au
	c.nalus = append(append(append(c.nalus[:0], au.NALUs[:vcl]...), c.nal), au.NALUs[vcl:]...)
	c.au.NALUs = c.nalus
	return &c.au, c.data
}

// take moves the messages this frame carries from the queue to c.taken, dropping those
// that waited too long.
func (c *Carriers) take() {
	now := c.opts.Now()
	budget := c.opts.SEIBudget
	stale := 0
	c.mu.Lock()
	for c.count > 0 && len(c.taken) < c.opts.MaxPerFrame {
		p := c.ring[c.head]
		if now.Sub(p.at) > c.opts.MaxAge {
			stale++
		} else {
			if c.opts.SEI {
				n := seiSize(p.json)
				if n > budget {
					break // the next frame takes it
				}
				budget -= n
			}
			c.taken = append(c.taken, p)
		}
		c.ring[c.head] = pending{}
		c.head = (c.head + 1) % len(c.ring)
		c.count--
		c.waiting.Add(-1)
	}
	c.mu.Unlock()
	if stale > 0 {
		c.opts.OnDropped(stale, chat.Reject(chat.CauseStale, "%d message(s) waited more than %v for a frame", stale, c.opts.MaxAge))
	}
}

// pushCaption appends caption pairs to the backlog; false when they do not fit.
func (c *Carriers) pushCaption(pairs []byte) bool {
	if len(pairs) == 0 {
		return true
	}
	if len(pairs) > c.backlogCap-c.blLen {
		return false
	}
	for _, b := range pairs {
		c.backlog[(c.blHead+c.blLen)%c.backlogCap] = b
		c.blLen++
	}
	c.onScreen = true
	return true
}

// captions sends the caption pairs due with this unit as a cc_data SEI message: one pair
// per frame interval since the last unit that carried captions. Captions must reach the
// decoder in presentation order, so a unit shown before one that already carried them (a
// B-frame) carries none; the next one catches up.
func (c *Carriers) captions(au *media.AccessUnit) {
	pts := au.Time + au.CompositionOffset
	if c.ccSeen && pts <= c.ccLastPTS {
		return
	}
	slots := 1
	if c.ccSeen {
		slots = int(math.Round(float64(pts-c.ccLastPTS) / float64(c.frameDur)))
		slots = min(max(slots, 1), maxCaptionCatchUp)
	}
	c.ccSeen, c.ccLastPTS = true, pts
	if c.blLen == 0 {
		if !c.onScreen || pts-c.lastSentAt < c.opts.CaptionErase {
			return
		}
		c.pushCaption(cea608.AppendErase(c.ccPairs[:0]))
		c.onScreen = false
	}
	n := min(2*slots, c.blLen)
	c.ccPairs = c.ccPairs[:0]
	for i := 0; i < n; i++ {
		c.ccPairs = append(c.ccPairs, c.backlog[c.blHead])
		c.blHead = (c.blHead + 1) % c.backlogCap
	}
	c.blLen -= n
	c.lastSentAt = pts
	c.ccPayload = cea608.AppendCCData(c.ccPayload[:0], c.ccPairs)
	c.rbsp = sei.AppendMessage(c.rbsp, sei.TypeRegisteredT35, c.ccPayload)
}

func firstVCL(nalus [][]byte) int {
	for i, n := range nalus {
		if h264.IsVCL(h264.NALType(n)) {
			return i
		}
	}
	return -1
}
