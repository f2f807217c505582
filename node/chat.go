package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/mqtt"
)

// chatIntake is the node's chat: it parses what arrives on the chat topics, moderates it,
// hands it to the running pipeline's carriers, counts every message, and reports every
// rejection or drop as a chat_rejected event. It works on a goroutine of its own behind a
// bounded queue, so that a flood of chat never delays a command to the node, nor waits.
type chatIntake struct {
	limits   chat.Limits
	mod      *chat.Moderator // the intake goroutine only
	carriers config.Carriers

	in      chan chatPayload
	inBytes atomic.Int64 // payload bytes waiting in in

	// Every message counts once in received, and later once in shown or dropped.
	received, shown, dropped atomic.Uint64

	rep *chatReporter

	burn *burner // the burn carrier; nil unless CAMNODE_DANMAKU names burn

	// taken hears of every message moderation admitted (node/chatfrom.go publishes it on
	// <base>/chat/in); nil: nobody. Called from the intake goroutine.
	taken func(m *chat.Message)

	mu      sync.Mutex
	current *pipeline.Carriers // of the running pipeline; nil while the stream is off
	hidden  bool               // danmaku/set OFF
	running bool               // a pipeline runs (current may still be nil: no carrier)
}

// chatPayload is a chat message as it arrived, waiting for the intake goroutine.
type chatPayload struct {
	label   string // "chat" or "all/chat", for the reasons
	payload []byte
}

// Bounds of the intake queue: what waits for parsing, in payloads and in bytes.
const (
	chatInPayloads = 1024
	chatInBytes    = 4 << 20
)

func newChatIntake(cfg *config.Config, publish func(name, reason string)) *chatIntake {
	c := &chatIntake{
		limits: chat.Limits{MaxRunes: cfg.ChatMaxRunes},
		mod: chat.NewModerator(chat.ModerationOptions{
			Blocklist: cfg.ChatBlocklist,
			Rate:      chat.Rate{N: cfg.ChatRate.N, Per: cfg.ChatRate.Per},
			UserRate:  chat.Rate{N: cfg.ChatUserRate.N, Per: cfg.ChatUserRate.Per},
		}),
		carriers: cfg.Danmaku,
		in:       make(chan chatPayload, chatInPayloads),
		rep:      newChatReporter(publish),
	}
	c.burn = newBurner(cfg, c)
	return c
}

// close stops what the intake runs by itself (the rejection summary's timer). The
// intake's goroutine has ended.
func (c *chatIntake) close() { c.rep.close() }

// counts returns the telemetry counters chat_received, chat_shown, chat_dropped.
func (c *chatIntake) counts() (received, shown, dropped uint64) {
	return c.received.Load(), c.shown.Load(), c.dropped.Load()
}

// drop counts n messages as dropped and reports why.
func (c *chatIntake) drop(label string, n int, err error) {
	c.dropped.Add(uint64(n))
	c.rep.report(label, n, err)
}

// onChat queues a message from <base>/chat or <prefix>/all/chat for the intake goroutine;
// when the queue is full the payload is dropped, counted and reported. It never waits.
func (n *Node) onChat(cmd mqtt.Command) {
	label := "chat"
	if cmd.Fleet {
		label = "all/chat"
	}
	n.chat.enqueue(label, cmd.Payload)
}

// enqueue queues a payload for the intake goroutine: MQTT chat, and the messages of the
// platform readers (label "twitch:garden"). When the queue is full the payload is dropped,
// counted and reported; it never waits.
func (c *chatIntake) enqueue(label string, payload []byte) {
	size := int64(len(payload))
	if c.inBytes.Add(size) <= chatInBytes {
		select {
		case c.in <- chatPayload{label: label, payload: payload}:
			return
		default:
		}
	}
	c.inBytes.Add(-size)
	c.received.Add(1)
	c.drop(label, 1, &chat.Rejection{Cause: chat.CauseQueueFull,
		Reason: fmt.Sprintf("%d payloads wait to be read: message dropped", len(c.in))})
}

// onBusy counts and reports a command the MQTT session dropped because the node's command
// queue was full: chat like any other dropped chat (received, dropped, summarised), other
// commands with a command_rejected event each (they are few).
func (n *Node) onBusy(cmd mqtt.Command) {
	label := "chat"
	if cmd.Fleet {
		label = "all/chat"
	}
	if cmd.Kind != mqtt.CommandChat {
		n.event(EventCommandRejected, cmd.Topic+": node busy, command dropped")
		return
	}
	n.chat.received.Add(1)
	n.chat.drop(label, 1, &chat.Rejection{Cause: chat.CauseQueueFull, Reason: "node busy: message dropped"})
}

// onRejected counts a chat payload the MQTT session rejected before it became a command
// (empty, not UTF-8, oversize): received and dropped, like every chat the node drops. The
// session already published its chat_rejected event.
func (n *Node) onRejected(re *mqtt.RejectError) {
	if re.Event != mqtt.EventChatRejected {
		return
	}
	n.chat.received.Add(1)
	n.chat.dropped.Add(1)
}

// run takes queued payloads until ctx ends.
func (c *chatIntake) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-c.in:
			c.inBytes.Add(-int64(len(p.payload)))
			c.take(p)
		}
	}
}

// take parses one payload and hands each message that passes moderation to the carriers.
func (c *chatIntake) take(p chatPayload) {
	msgs, errs := chat.Parse(p.payload, c.limits)
	c.received.Add(uint64(len(msgs) + len(errs)))
	for _, err := range errs {
		c.drop(p.label, 1, err)
	}
	if len(msgs) == 0 {
		return
	}
	c.mu.Lock()
	hidden, running, carriers := c.hidden, c.running, c.current
	c.mu.Unlock()
	burn, burnOff := c.burn.accepting()
	now := time.Now()
	for i := range msgs {
		m := &msgs[i]
		// Moderation first: what it admits is taken, and shown on chat/in whether or not
		// the stream is on.
		if err := c.mod.Admit(m, now); err != nil {
			c.drop(p.label, 1, err)
			continue
		}
		if c.taken != nil {
			c.taken(m)
		}
		var err error
		switch {
		case hidden:
			err = &chat.Rejection{Cause: chat.CauseHidden, Reason: "danmaku is hidden (danmaku/set OFF)"}
		case !running:
			err = &chat.Rejection{Cause: chat.CauseStreamOff, Reason: "the stream is off"}
		case !carriers.Any() && !burn && burnOff != "":
			err = &chat.Rejection{Cause: chat.CauseNoCarrier, Reason: "burn-in is off for this stream: " + burnOff}
		case !carriers.Any() && !burn:
			err = &chat.Rejection{Cause: chat.CauseNoCarrier,
				Reason: fmt.Sprintf("CAMNODE_DANMAKU=%s puts chat nowhere (use sei, cc, amf or burn)", joinCarriers(c.carriers))}
		default:
			if carriers.Any() {
				if err = carriers.Push(m); err != nil {
					c.mod.Forget(m)
				}
			}
			if err == nil && burn {
				c.burn.add(m) // counted by the renderer: see burner
			}
		}
		if err != nil {
			c.drop(p.label, 1, err)
		}
	}
}

// shownNow tells whether chat is shown (danmaku/set ON, the default).
func (c *chatIntake) shownNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.hidden
}

// newCarriers makes the carriers of a pipeline that starts, and makes them the ones chat
// goes to; nil when CAMNODE_DANMAKU names none that this package carries.
func (n *Node) newCarriers() *pipeline.Carriers {
	c, cs := n.chat, n.chat.carriers
	c.burn.pipelineStarted(n.log)
	carriers := pipeline.NewCarriers(pipeline.ChatOptions{
		SEI:         cs.May(config.CarrierSEI),
		CC:          cs.May(config.CarrierCC),
		AMF:         cs.May(config.CarrierAMF),
		Auto:        cs.Auto(),
		CaptionRows: n.cfg.DanmakuCCRows,
		FrameRate:   n.cfg.FPS,
		QueueSize:   n.cfg.ChatQueue,
		OnShown:     func(k int) { c.shown.Add(uint64(k)) },
		OnDropped:   func(k int, r *chat.Rejection) { c.drop("chat", k, r) },
		OnCaptionsSkipped: func(k int) {
			c.rep.report("chat", k, &chat.Rejection{Cause: chat.CauseCaptionsLag,
				Reason: fmt.Sprintf("captions behind: %d message(s) shown without captions", k)})
		},
	})
	c.mu.Lock()
	c.current, c.running = carriers, true
	c.mu.Unlock()
	return carriers
}

// pipelineStopped detaches a stopped pipeline's carriers and drops what still waits there.
func (c *chatIntake) pipelineStopped(carriers *pipeline.Carriers) {
	c.mu.Lock()
	if c.current == carriers {
		c.current, c.running = nil, false
	}
	c.mu.Unlock()
	c.burn.pipelineStopped()
	if k := carriers.Close(); k > 0 {
		c.drop("chat", k, &chat.Rejection{Cause: chat.CauseStopped,
			Reason: fmt.Sprintf("%d message(s) dropped: the stream stopped", k)})
	}
}

// onDanmakuSwitch applies danmaku/set: OFF drops what waits for the stream and clears the
// captions on screen; ON lets chat through again.
func (n *Node) onDanmakuSwitch() {
	n.mu.Lock()
	shown := n.danmaku
	n.mu.Unlock()
	c := n.chat
	c.mu.Lock()
	c.hidden = !shown
	carriers := c.current
	c.mu.Unlock()
	if shown {
		return
	}
	c.burn.hide()
	if k := carriers.Clear(); k > 0 {
		c.drop("chat", k, &chat.Rejection{Cause: chat.CauseHidden,
			Reason: fmt.Sprintf("%d message(s) dropped: danmaku hidden (danmaku/set OFF)", k)})
	}
}

func joinCarriers(cs config.Carriers) string {
	if len(cs) == 0 {
		return "none"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

// chatReporter publishes chat_rejected events without letting a flood of chat become a
// flood of events: in each window of chatReportWindow the first chatReportBurst go out
// as they happen, the rest are counted by cause and summed up in one event when the
// window ends ("chat: 9870 more messages rejected in 1s: rate limit 9800, queue full 70").
// It is safe for concurrent use: the frame path reports too.
type chatReporter struct {
	publish func(name, reason string)

	mu     sync.Mutex
	start  time.Time // of the current window
	sent   int       // events published in the window
	held   map[chat.Cause]int
	total  int
	timer  *time.Timer
	closed bool // the node stopped: no timer may fire any more
	fired  sync.WaitGroup
}

const (
	chatReportWindow = time.Second
	chatReportBurst  = 5
)

func newChatReporter(publish func(name, reason string)) *chatReporter {
	return &chatReporter{publish: publish, held: map[chat.Cause]int{}}
}

// report publishes (or holds for the summary) the rejection of n messages.
func (r *chatReporter) report(label string, n int, err error) {
	cause := chat.Cause("other")
	if rej, ok := err.(*chat.Rejection); ok {
		cause = rej.Cause
	}
	r.mu.Lock()
	now := time.Now()
	if r.timer == nil && now.Sub(r.start) >= chatReportWindow {
		r.start, r.sent = now, 0
	}
	if r.timer == nil && r.sent < chatReportBurst {
		r.sent++
		r.mu.Unlock()
		r.publish(mqtt.EventChatRejected, label+": "+err.Error())
		return
	}
	r.held[cause] += n
	r.total += n
	if r.timer == nil && !r.closed {
		r.fired.Add(1)
		r.timer = time.AfterFunc(r.start.Add(chatReportWindow).Sub(now), func() {
			defer r.fired.Done()
			r.flush()
		})
	}
	r.mu.Unlock()
}

// close stops the summary's timer for good; what it held is dropped with the node.
func (r *chatReporter) close() {
	r.mu.Lock()
	r.closed = true
	if r.timer != nil && r.timer.Stop() {
		r.fired.Done() // it will not run
	}
	r.timer = nil
	r.mu.Unlock()
	r.fired.Wait() // a summary being published now
}

// flush publishes the summary of the held rejections and starts a new window.
func (r *chatReporter) flush() {
	r.mu.Lock()
	elapsed := time.Since(r.start).Round(100 * time.Millisecond)
	causes := make([]chat.Cause, 0, len(r.held))
	for c := range r.held {
		causes = append(causes, c)
	}
	slices.SortFunc(causes, func(a, b chat.Cause) int { return r.held[b] - r.held[a] })
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = fmt.Sprintf("%s %d", c, r.held[c])
	}
	reason := fmt.Sprintf("chat: %d more messages rejected in %v: %s", r.total, elapsed, strings.Join(parts, ", "))
	clear(r.held)
	r.total, r.timer = 0, nil
	r.start, r.sent = time.Now(), 1
	r.mu.Unlock()
	r.publish(mqtt.EventChatRejected, reason)
}
