package danmaku

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/cea608"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
)

var (
	aud      = []byte{0x09, 0xf0}
	sps      = []byte{0x67, 0x42, 0xc0, 0x1e}
	pps      = []byte{0x68, 0xce, 0x3c, 0x80}
	x264SEI  = []byte{0x06, 0x05, 0x02, 'x', 'y', 0x80}
	idrSlice = []byte{0x65, 0x88, 0x84, 0x00}
	pSlice   = []byte{0x41, 0x9a, 0x02}
)

func keyUnit(at time.Duration) *media.AccessUnit {
	return &media.AccessUnit{NALUs: [][]byte{aud, sps, pps, x264SEI, idrSlice, idrSlice}, Time: at, Keyframe: true}
}

func deltaUnit(at time.Duration) *media.AccessUnit {
	return &media.AccessUnit{NALUs: [][]byte{aud, pSlice}, Time: at}
}

// clock is a settable clock for the carriers.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// recorder keeps what the callbacks report.
type recorder struct {
	shown, dropped, skipped int
	causes                  []chat.Cause
}

func (r *recorder) opts(o CarrierOptions) CarrierOptions {
	o.OnShown = func(n int) { r.shown += n }
	o.OnDropped = func(n int, rej *chat.Rejection) { r.dropped += n; r.causes = append(r.causes, rej.Cause) }
	o.OnCaptionsSkipped = func(n int) { r.skipped += n }
	return o
}

// chatSEI returns the chat JSON of camnode's SEI messages in a unit, and the other SEI
// messages' types.
func chatSEI(t *testing.T, au *media.AccessUnit) (chat []string, other []int) {
	t.Helper()
	for _, n := range au.NALUs {
		if h264.NALType(n) != h264.TypeSEI {
			continue
		}
		msgs, err := sei.Parse(n)
		if err != nil {
			t.Fatalf("SEI % x: %v", n, err)
		}
		for _, m := range msgs {
			if uuid, data, ok := m.Unregistered(); ok && uuid == sei.CamnodeUUID {
				chat = append(chat, string(data))
			} else {
				other = append(other, m.Type)
			}
		}
	}
	return chat, other
}

func mustPush(t *testing.T, c *Carriers, msgs ...chat.Message) {
	t.Helper()
	for i := range msgs {
		if err := c.Push(&msgs[i]); err != nil {
			t.Fatalf("Push %q: %v", msgs[i].Text, err)
		}
	}
}

func TestFrameWithNothingPendingIsFree(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true})
	au := keyUnit(0)
	if n := testing.AllocsPerRun(1000, func() {
		out, data := c.Frame(au)
		if out != au || data != nil {
			t.Fatal("a unit changed with nothing pending")
		}
	}); n != 0 {
		t.Fatalf("Frame allocates %v times with nothing pending", n)
	}
	var nilCarriers *Carriers
	if out, data := nilCarriers.Frame(au); out != au || data != nil || nilCarriers.Any() || nilCarriers.Clear() != 0 {
		t.Fatal("nil carriers")
	}
}

func TestSEIGoesBeforeTheFirstSlice(t *testing.T) {
	var r recorder
	c := NewCarriers(r.opts(CarrierOptions{SEI: true}))
	msgs := []chat.Message{
		{Text: "你好", User: "张三", Color: 0xff6699, Mode: chat.ModeTop, ID: "1"},
		{Text: "😀👍", Color: chat.DefaultColor},
		{Text: `hello "world"`, User: "bob", Color: chat.DefaultColor, Source: "twitch", TS: 5},
	}
	mustPush(t, c, msgs...)
	in := keyUnit(time.Second)
	before := fmt.Sprint(in.NALUs)
	out, data := c.Frame(in)
	if fmt.Sprint(in.NALUs) != before {
		t.Fatal("Frame modified the source's unit")
	}
	if data != nil && len(data) != 0 {
		t.Fatalf("onTextData without the amf carrier: %d", len(data))
	}
	types := make([]byte, len(out.NALUs))
	for i, n := range out.NALUs {
		types[i] = h264.NALType(n)
	}
	if !bytes.Equal(types, []byte{9, 7, 8, 6, 6, 5, 5}) || !bytes.Equal(out.NALUs[3], x264SEI) {
		t.Fatalf("NAL unit types %v, want AUD SPS PPS SEI(x264) SEI(chat) IDR IDR", types)
	}
	if out.Time != in.Time || !out.Keyframe {
		t.Fatalf("unit fields changed: %+v", out)
	}
	chat, other := chatSEI(t, out)
	if len(other) != 1 || other[0] != 5 { // x264's own message
		t.Fatalf("other SEI messages %v", other)
	}
	if len(chat) != 3 {
		t.Fatalf("chat SEI: %q", chat)
	}
	for i, js := range chat {
		if want := string(msgs[i].AppendJSON(nil)); js != want {
			t.Errorf("message %d: %s, want %s", i, js, want)
		}
	}
	if r.shown != 3 {
		t.Fatalf("shown %d", r.shown)
	}
	// Sent once: the next unit carries nothing.
	next := deltaUnit(time.Second + 33*time.Millisecond)
	if out, _ := c.Frame(next); out != next {
		t.Fatal("a message was sent twice")
	}
}

func TestOnTextDataBodies(t *testing.T) {
	c := NewCarriers(CarrierOptions{AMF: true})
	mustPush(t, c, chat.Message{Text: "666", User: "alice", Color: 0x00ff00, Mode: chat.ModeBottom}, chat.Message{Text: "second", Color: chat.DefaultColor})
	in := deltaUnit(0)
	out, data := c.Frame(in)
	if out != in {
		t.Fatal("the amf carrier alone changed the video")
	}
	if len(data) != 2 {
		t.Fatalf("%d messages for onTextData", len(data))
	}
	vals, err := flv.DecodeAMFValues(AppendTextData(nil, data[0]))
	if err != nil || len(vals) != 2 || vals[0] != "onTextData" {
		t.Fatalf("onTextData: %v, %v", vals, err)
	}
	obj := vals[1].(flv.AMFMap)
	keys := []string{}
	for _, p := range obj {
		keys = append(keys, p.Key)
	}
	if strings.Join(keys, ",") != "type,text,user,color,mode" || obj.String("type") != "Text" || obj.String("text") != "666" ||
		obj.String("user") != "alice" || obj.String("color") != "#00ff00" || obj.String("mode") != "bottom" {
		t.Fatalf("onTextData object %v", obj)
	}
}

func TestSEIBudgetSpreadsMessagesOverFrames(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true, SEIBudget: 1000})
	big := chat.Message{Text: strings.Repeat("x", 400), Color: chat.DefaultColor}
	mustPush(t, c, big, big, big)
	var per []int
	for i := 0; i < 3; i++ {
		out, _ := c.Frame(deltaUnit(time.Duration(i) * 33 * time.Millisecond))
		chat, _ := chatSEI(t, out)
		per = append(per, len(chat))
	}
	if fmt.Sprint(per) != "[2 1 0]" {
		t.Fatalf("messages per frame %v, want [2 1 0]", per)
	}
	huge := chat.Message{Text: strings.Repeat("x", 1000), Color: chat.DefaultColor}
	err := c.Push(&huge)
	if chat.CauseOf(err) != chat.CauseTooLarge || !strings.Contains(err.Error(), "exceeds the 1000-byte budget") {
		t.Fatalf("oversize message: %v", err)
	}
}

func TestMaxPerFrame(t *testing.T) {
	c := NewCarriers(CarrierOptions{AMF: true, MaxPerFrame: 3})
	for i := 0; i < 5; i++ {
		mustPush(t, c, chat.Message{Text: fmt.Sprint(i), Color: chat.DefaultColor})
	}
	_, d1 := c.Frame(deltaUnit(0))
	n1 := len(d1)
	_, d2 := c.Frame(deltaUnit(time.Millisecond))
	if n1 != 3 || len(d2) != 2 {
		t.Fatalf("bodies per frame %d, %d", n1, len(d2))
	}
}

func TestQueueFullAndClose(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true, QueueSize: 2})
	m := chat.Message{Text: "x", User: "u", Color: chat.DefaultColor}
	mustPush(t, c, m, m)
	if err := c.Push(&m); chat.CauseOf(err) != chat.CauseQueueFull || err.Error() != `2 messages already wait for the stream from "u"` {
		t.Fatalf("third push: %v", err)
	}
	if n := c.Close(); n != 2 {
		t.Fatalf("Close dropped %d", n)
	}
	if err := c.Push(&m); chat.CauseOf(err) != chat.CauseStopped {
		t.Fatalf("push after Close: %v", err)
	}
	if out, _ := c.Frame(keyUnit(0)); len(out.NALUs) != 6 {
		t.Fatal("closed carriers inserted something")
	}
}

func TestStaleMessagesAreDropped(t *testing.T) {
	var r recorder
	clk := &clock{t: time.Unix(100, 0)}
	c := NewCarriers(r.opts(CarrierOptions{SEI: true, MaxAge: 2 * time.Second, Now: clk.now}))
	mustPush(t, c, chat.Message{Text: "old", Color: chat.DefaultColor})
	clk.t = clk.t.Add(3 * time.Second)
	mustPush(t, c, chat.Message{Text: "new", Color: chat.DefaultColor})
	out, _ := c.Frame(deltaUnit(0))
	chat, _ := chatSEI(t, out)
	if len(chat) != 1 || !strings.Contains(chat[0], `"new"`) {
		t.Fatalf("sent %q", chat)
	}
	if r.dropped != 1 || r.shown != 1 || fmt.Sprint(r.causes) != "[stale]" {
		t.Fatalf("report %+v", r)
	}
}

// ccPairs returns the field-1 byte pairs of the cc_data in a unit.
func ccPairs(t *testing.T, au *media.AccessUnit) []byte {
	t.Helper()
	var pairs []byte
	for _, n := range au.NALUs {
		if h264.NALType(n) != h264.TypeSEI {
			continue
		}
		msgs, _ := sei.Parse(n)
		for _, m := range msgs {
			if m.Type != sei.TypeRegisteredT35 {
				continue
			}
			p := m.Payload
			if !bytes.HasPrefix(p, []byte{0xb5, 0x00, 0x31, 'G', 'A', '9', '4', 3}) || p[len(p)-1] != 0xff {
				t.Fatalf("cc_data % x", p)
			}
			count := int(p[8] & 0x1f)
			for i := 0; i < count; i++ {
				tr := p[10+3*i:]
				if tr[0] == 0xfc {
					pairs = append(pairs, tr[1], tr[2])
				} else if tr[0] != 0xf9 {
					t.Fatalf("cc triplet % x", tr[:3])
				}
			}
		}
	}
	return pairs
}

func TestCaptionsArePacedOnePairPerFrame(t *testing.T) {
	var r recorder
	c := NewCarriers(r.opts(CarrierOptions{CC: true, CaptionErase: time.Second}))
	msg := chat.Message{Text: "hello there", User: "bob", Color: chat.DefaultColor}
	mustPush(t, c, msg)
	want := cea608.AppendCaption(nil, 2, "bob: hello there")
	var got []byte
	frame := 33 * time.Millisecond
	i := 0
	for ; len(got) < len(want); i++ {
		out, _ := c.Frame(deltaUnit(time.Duration(i) * frame))
		p := ccPairs(t, out)
		if len(p) != 2 {
			t.Fatalf("frame %d carries %d caption bytes, want one pair", i, len(p))
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("caption pairs\n got % x\nwant % x", got, want)
	}
	// Quiet until the erase is due, then EDM twice, then nothing.
	var after []byte
	for j := 0; j < 60; j++ {
		out, _ := c.Frame(deltaUnit(time.Duration(i+j) * frame))
		after = append(after, ccPairs(t, out)...)
	}
	if !bytes.Equal(after, cea608.AppendErase(nil)) {
		t.Fatalf("after the caption: % x, want one erase", after)
	}
	if r.shown != 1 {
		t.Fatalf("shown %d", r.shown)
	}
	idle := deltaUnit(10 * time.Second)
	if n := testing.AllocsPerRun(100, func() { c.Frame(idle) }); n != 0 {
		t.Fatalf("idle captions allocate %v times a frame", n)
	}
}

// With B-frames, captions ride only on units presented after every unit that carried
// some, so they reach the decoder in order; the next such unit catches up.
func TestCaptionsFollowPresentationOrder(t *testing.T) {
	c := NewCarriers(CarrierOptions{CC: true})
	mustPush(t, c, chat.Message{Text: "abcdefghijklmnopqrstuvwxyz", Color: chat.DefaultColor})
	f := 33 * time.Millisecond
	// decode order I0 P3 B1 B2 P6 B4 B5, DTS one frame apart
	pts := []int{0, 3, 1, 2, 6, 4, 5}
	var carried []int
	for i, p := range pts {
		au := deltaUnit(time.Duration(i) * f)
		au.CompositionOffset = time.Duration(p-i)*f + 2*f
		out, _ := c.Frame(au)
		carried = append(carried, len(ccPairs(t, out))/2)
	}
	if fmt.Sprint(carried) != "[1 3 0 0 3 0 0]" {
		t.Fatalf("pairs per unit %v, want [1 3 0 0 3 0 0]", carried)
	}
}

func TestCaptionsBacklogIsBounded(t *testing.T) {
	var r recorder
	c := NewCarriers(r.opts(CarrierOptions{CC: true, SEI: true, CaptionBacklog: 3 * time.Second, FrameRate: 30}))
	long := chat.Message{Text: strings.Repeat("word ", 19), User: "u", Color: chat.DefaultColor}
	for i := 0; i < 10; i++ {
		mustPush(t, c, long)
	}
	c.Frame(deltaUnit(0))
	if r.shown != 10 || r.skipped == 0 || r.dropped != 0 {
		t.Fatalf("report %+v: all shown by SEI, some without captions", r)
	}
	if c.blLen > c.backlogCap || c.backlogCap != 2*90 {
		t.Fatalf("backlog %d of %d bytes", c.blLen, c.backlogCap)
	}
	// Captions alone: what does not fit is lost.
	var r2 recorder
	cc := NewCarriers(r2.opts(CarrierOptions{CC: true, CaptionBacklog: 3 * time.Second}))
	for i := 0; i < 10; i++ {
		mustPush(t, cc, long)
	}
	cc.Frame(deltaUnit(0))
	if r2.dropped == 0 || r2.shown+r2.dropped != 10 || r2.causes[0] != chat.CauseCaptionsLag {
		t.Fatalf("captions only: %+v", r2)
	}
}

func TestClearErasesCaptionsAndDropsPending(t *testing.T) {
	c := NewCarriers(CarrierOptions{CC: true, SEI: true})
	mustPush(t, c, chat.Message{Text: "one", Color: chat.DefaultColor})
	c.Frame(deltaUnit(0)) // on screen now, most of it still in the backlog
	mustPush(t, c, chat.Message{Text: "two", Color: chat.DefaultColor}, chat.Message{Text: "three", Color: chat.DefaultColor})
	if n := c.Clear(); n != 2 {
		t.Fatalf("Clear dropped %d", n)
	}
	var pairs []byte
	for i := 1; i < 10; i++ {
		out, _ := c.Frame(deltaUnit(time.Duration(i) * 33 * time.Millisecond))
		if chat, _ := chatSEI(t, out); len(chat) != 0 {
			t.Fatalf("cleared message sent: %q", chat)
		}
		pairs = append(pairs, ccPairs(t, out)...)
	}
	if !bytes.Equal(pairs, cea608.AppendErase(nil)) {
		t.Fatalf("after Clear: % x, want the erase only", pairs)
	}
}

func TestUnitWithoutSliceIsLeftAlone(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true})
	mustPush(t, c, chat.Message{Text: "x", Color: chat.DefaultColor})
	odd := &media.AccessUnit{NALUs: [][]byte{sps, pps}}
	if out, _ := c.Frame(odd); out != odd {
		t.Fatal("SEI added to a unit without a slice")
	}
	if out, _ := c.Frame(deltaUnit(0)); len(out.NALUs) != 3 {
		t.Fatal("the message did not wait for the next picture")
	}
}

func TestPushErrorsAreRejections(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true, QueueSize: 1})
	m := chat.Message{Text: "x", Color: chat.DefaultColor}
	c.Push(&m)
	var r *chat.Rejection
	if err := c.Push(&m); !errors.As(err, &r) {
		t.Fatalf("%T", err)
	}
}

// The JSON in the SEI is what encoding/json reads, for web players that parse it.
func TestSEIJSONIsStandard(t *testing.T) {
	c := NewCarriers(CarrierOptions{SEI: true})
	mustPush(t, c, chat.Message{Text: "a\"b\\c 你好", User: "ü", Color: 1, Mode: chat.ModeReverse, ID: "x", Source: "douyu", TS: 1})
	out, _ := c.Frame(deltaUnit(0))
	chat, _ := chatSEI(t, out)
	var v map[string]any
	if err := json.Unmarshal([]byte(chat[0]), &v); err != nil {
		t.Fatal(err)
	}
	if v["text"] != "a\"b\\c 你好" || v["user"] != "ü" || v["color"] != "#000001" || v["mode"] != "reverse" || v["id"] != "x" || v["source"] != "douyu" || v["ts"] != 1.0 {
		t.Fatalf("%v", v)
	}
}
