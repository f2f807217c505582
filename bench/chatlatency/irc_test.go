//go:build linux && !(386 || arm || mips || mipsle)

package chatlatency

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/camnode/camnode/bench/internal/figures"
	"github.com/camnode/camnode/internal/peers"
)

// ircLines is how many lines BenchmarkIRCChatLatency times; ircViewers say them in turn
// (an IRC server slows a client that talks fast: ngircd queues lines it deems a flood).
const (
	ircLines   = 100
	ircViewers = 10
)

// BenchmarkIRCChatLatency times chat from a Twitch-style IRC channel to the stream: viewers
// on a real IRC server (ngircd) say 100 lines at random gaps of 40-120 ms; the node reads the
// channel itself (CAMNODE_CHAT_FROM=twitch:bench) and puts each line into the SEI of a
// 30 fps stream; each is timed from the moment its PRIVMSG is written to the IRC server
// until the video message carrying it has arrived at an RTMP ingest in this process.
//
//	go test -run '^$' -bench IRCChatLatency -benchtime 1x ./bench/chatlatency
func BenchmarkIRCChatLatency(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin := camnodeBinary(b)
	clip := makeClip(b)
	broker := peers.StartMosquitto(b)
	irc := peers.StartNgircd(b)
	ingest := startIngest(b)
	viewers := make([]*peers.IRCClient, ircViewers)
	for i := range viewers {
		viewers[i] = peers.DialIRC(b, irc.Addr(), "viewer"+strconv.Itoa(i))
		viewers[i].Send("JOIN #bench")
		viewers[i].Await(" 366 ", 10*time.Second)
	}

	startNode(ctx, b, bin, "CAMNODE_NODE_ID=ircbench", "CAMNODE_MQTT_URL="+broker.URL(), "CAMNODE_RTMP_URL=rtmp://"+ingest.addr+"/live/bench",
		"CAMNODE_SOURCE=file://"+clip, "CAMNODE_CHAT_FROM=twitch:bench", "CAMNODE_CHAT_ENDPOINTS=twitch="+irc.URL())
	select {
	case <-ingest.live:
	case <-time.After(30 * time.Second):
		b.Fatalf("no video reached the ingest within 30 s")
	}
	viewers[0].Await(":justinfan", 30*time.Second) // the node's reader joined the channel
	time.Sleep(time.Second)

	var latencies []time.Duration
	round := 0
	for b.Loop() {
		round++
		sent := map[string]time.Time{}
		for i := range ircLines {
			text := fmt.Sprintf("irc probe %d.%d", round, i)
			time.Sleep(40*time.Millisecond + rand.N(80*time.Millisecond))
			sent["text:"+text] = time.Now()
			viewers[i%ircViewers].Send("PRIVMSG #bench :" + text)
		}
		deadline := time.Now().Add(10 * time.Second)
		for key, at := range sent {
			arrived, ok := ingest.wait(key, deadline)
			if !ok {
				b.Fatalf("%s never reached the ingest", key)
			}
			latencies = append(latencies, arrived.Sub(at))
		}
	}
	p50, p95, worst := figures.Percentile(latencies, 50), figures.Percentile(latencies, 95), slices.Max(latencies)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(figures.MS(p50), "p50-ms")
	b.ReportMetric(figures.MS(p95), "p95-ms")
	figures.Report(b, fmt.Sprintf("IRC chat latency (a PRIVMSG to ngircd -> SEI at the ingest, %d lines, %d fps): p50 %.1f ms, p95 %.1f ms, max %.1f ms\n",
		len(latencies), fps, figures.MS(p50), figures.MS(p95), figures.MS(worst)))
}
