package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media/rtmp"
)

// TestRedactionProperty: for random stream keys of 1 to 64 characters (used as the query
// token and the MQTT password too), every log line, event, state and error a node makes of
// them shows no secret: not as a URL's key or query value whatever its length, nowhere at all
// from 8 characters on; and ordinary words stay intact whatever the key.
func TestRedactionProperty(t *testing.T) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
	keys := []string{"1", "x", "e", "stream", "garden", "127", "0.0.1", "live", "started", "deadline", "camnode", "exceeded", "refused"}
	rng := rand.New(rand.NewPCG(14, 11))
	for range 300 {
		b := make([]byte, 1+rng.IntN(64))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	closed := closedPort(t)
	base, err := loadWith(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		for _, format := range []string{"text", "json"} {
			out := redactionRun(t, *base, key, closed, format)
			checkRedacted(t, key, out)
		}
	}
}

// redactionRun makes every kind of output a node makes from a configuration holding key, the
// way node and main make them, and returns them concatenated.
func redactionRun(t *testing.T, base Config, key, closedAddr, format string) string {
	t.Helper()
	c := &base
	c.NodeID, c.MQTTURL, c.MQTTPassword, c.LogLevel, c.LogFormat = "garden", "tcp://camnode:"+key+"@127.0.0.1:1883", key, "debug", format
	c.RTMPURL = "rtmp://" + closedAddr + "/live/" + key + "?token=" + key + " rtmp://127.0.0.1/live-bvc/?streamname=n&key=" + key
	secrets := c.Secrets()
	targets := c.Targets()
	if len(targets) != 2 {
		t.Fatalf("key %q: targets %v", key, targets)
	}
	// A real error of the publisher: nothing listens on the port.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, dialErr := rtmp.DialURL(ctx, targets[0], rtmp.Options{Timeout: 2 * time.Second})
	if dialErr == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	deadlineErr := fmt.Errorf("rtmp: %s: connect: %w", targets[1], context.DeadlineExceeded)
	var logs bytes.Buffer
	log := c.NewLogger(&logs)
	log.Info("stream_started", "node", c.NodeID, "target", targets[0], "targets", fmt.Sprint(targets))
	log.Error("rtmp_disconnected", "err", dialErr, "target", targets[1])
	// Careless paths: the raw settings and a wrapped error quoting them.
	log.Warn("connect failed", "err", deadlineErr, "url", c.RTMPURL, "mqtt", c.MQTTURL)
	log.Debug("config", "rtmp", c.Redacted().RTMPURL, "mqtt", c.Redacted().MQTTURL, "err", errors.New("publish "+c.RTMPURL+": context deadline exceeded"))
	event := `{"event":"rtmp_rejected","reason":"` + Scrub(dialErr.Error(), secrets) + `","target":"` + targets[0].String() + `"}`
	state := `{"state":"error","target":"` + RedactURL(c.RTMPURL) + `","error":"` + Scrub(deadlineErr.Error(), secrets) + `"}`
	// A bad setting holding the key, as main prints it.
	bad := *c
	bad.RTMPURL = "rtmp://127.0.0.1/" + key
	cfgErr := bad.Validate()
	if cfgErr == nil {
		t.Fatalf("key %q: a URL without app validated", key)
	}
	return logs.String() + "\n" + event + "\n" + state + "\n" + Scrub(cfgErr.Error(), bad.Secrets())
}

func checkRedacted(t *testing.T, key, out string) {
	t.Helper()
	q := regexp.QuoteMeta(key)
	end := `(?:$|[^A-Za-z0-9._-])`
	if len(key) >= MinScrubLen && strings.Contains(out, key) {
		t.Fatalf("key %q shows:\n%s", key, out)
	}
	for _, re := range []string{`/live/` + q + end, `token=` + q + end, `key=` + q + end, `/` + q + `\?`, `camnode:` + q + `@`, `127\.0\.0\.1/` + q + end} {
		if regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("key %q shows as a URL part (%s):\n%s", key, re, out)
		}
	}
	for _, word := range []string{"stream_started", "rtmp_disconnected", "rtmp_rejected", "127.0.0.1", "context deadline exceeded",
		"connection refused", "garden", "live-bvc", "streamname=****", "CAMNODE_RTMP_URL"} {
		if len(key) >= MinScrubLen && strings.Contains(word, key) {
			continue // a long key that is an ordinary word is hidden as that word too: the price of scrubbing
		}
		if !strings.Contains(out, word) {
			t.Fatalf("key %q: %q is not intact:\n%s", key, word, out)
		}
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	return netListen{}.closed(t)
}

// BenchmarkScrub is the cost of making one log value safe: a line with a redacted URL and an
// error, the common case of the node's log.
func BenchmarkScrub(b *testing.B) {
	secrets := (&Config{MQTTPassword: "hunter22", RTMPURL: "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop?token=t0k3n-s3cr3t"}).Secrets()
	line := "rtmp: rtmp://a.rtmp.youtube.com:1935/live2/****?token=****: write video message (43 bytes) at 1234 ms: write tcp 192.168.1.2:50000->142.250.1.1:1935: write: broken pipe"
	b.ReportAllocs()
	for b.Loop() {
		Scrub(line, secrets)
	}
}

func BenchmarkScrubPlain(b *testing.B) {
	secrets := []string{"hunter22", "abcd-efgh-ijkl-mnop"}
	b.ReportAllocs()
	for b.Loop() {
		Scrub("stream_started", secrets)
	}
}
