package rtsp_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// withChat puts chat into the units as the pipeline does (the SEI carrier), before the
// output.
type withChat struct {
	*rtsp.Server
	carriers *danmaku.Carriers
}

func (w withChat) WriteVideo(ctx context.Context, au *media.AccessUnit, ps *h264.ParameterSets) error {
	out, _ := w.carriers.Frame(au)
	return w.Server.WriteVideo(ctx, out, ps)
}

// TestChatSEIReachesTheReader: the danmaku SEI in a unit reaches an RTSP reader as it
// was, in the unit's NAL units (what players that draw danmaku from SEI read).
func TestChatSEIReachesTheReader(t *testing.T) {
	srv := startServer(t, rtsp.Options{})
	out := withChat{Server: srv, carriers: danmaku.NewCarriers(danmaku.CarrierOptions{SEI: true, FrameRate: 30})}
	startFeeder(t, out, testsrc.Options{Width: 320, Height: 240})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })

	u, _ := base.ParseURL(srv.URL())
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264Format *format.H264
	video := desc.FindFormat(&h264Format)
	if video == nil {
		t.Fatalf("no H.264 in %+v", desc.Medias)
	}
	if _, err := c.Setup(desc.BaseURL, video, 0, 0); err != nil {
		t.Fatal(err)
	}
	dec, err := h264Format.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var texts []string
	c.OnPacketRTP(video, h264Format, func(pkt *rtp.Packet) {
		nalus, err := dec.Decode(pkt)
		if err != nil {
			return // the unit is not complete yet
		}
		for _, n := range nalus {
			if h264.NALType(n) != h264.TypeSEI {
				continue
			}
			msgs, _ := sei.Parse(n)
			for _, m := range msgs {
				if uuid, body, ok := m.Unregistered(); ok && uuid == sei.CamnodeUUID {
					var msg struct{ Text string }
					json.Unmarshal(body, &msg)
					mu.Lock()
					texts = append(texts, msg.Text)
					mu.Unlock()
				}
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	// Once the reader has had its first keyframe, the next unit carries the message.
	waitFor(t, "the reader to play", 60*time.Second, func() bool { return srv.Stats().FramesSent > 0 })
	const text = "前方高能！弹幕护体 👋"
	if err := out.carriers.Push(&chat.Message{ID: "m1", Text: text, Color: chat.DefaultColor}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the chat to reach the reader", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(texts, "\n"), text)
	})
}
