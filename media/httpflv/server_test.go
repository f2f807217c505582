package httpflv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/source/testsrc"
)

// startServer listens on a free loopback port and serves until the test ends.
func startServer(t testing.TB, opts httpflv.Options) *httpflv.Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	srv, err := httpflv.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv
}

// carriedAt is one chat message as it went into the stream: the capture time of the
// access unit whose SEI carried it.
type carriedAt struct {
	id   string
	time time.Duration
}

// feeder streams the live test pattern, with chat put in by the SEI carrier, into a
// destination, as the pipeline does.
type feeder struct {
	carriers *danmaku.Carriers
	mu       sync.Mutex
	frames   int
	last     time.Duration // capture time of the last unit written
	carried  []carriedAt
	pushed   map[string]time.Duration // id -> stream time when pushed
	done     chan error
	stop     context.CancelFunc
}

type destination = media.Output

func startFeeder(t testing.TB, dst destination, opts testsrc.Options) *feeder {
	t.Helper()
	if opts.Width == 0 {
		opts.Width, opts.Height = 640, 360
	}
	if opts.GOP == 0 {
		opts.GOP = 30
	}
	src := testsrc.New(opts)
	if !src.Live() {
		t.Skip("camnode built without x264: no live test pattern")
	}
	f := &feeder{pushed: map[string]time.Duration{}, done: make(chan error, 1)}
	f.carriers = danmaku.NewCarriers(danmaku.CarrierOptions{SEI: true, AMF: true, FrameRate: 30})
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	feed := media.Feed(ctx, dst)
	go func() {
		f.done <- src.Run(ctx, func(au *media.AccessUnit) error {
			out, data := f.carriers.Frame(au)
			if out != au {
				f.mu.Lock()
				for _, n := range out.NALUs {
					if h264.NALType(n) != h264.TypeSEI {
						continue
					}
					msgs, _ := sei.Parse(n)
					for _, m := range msgs {
						if uuid, body, ok := m.Unregistered(); ok && uuid == sei.CamnodeUUID {
							var msg struct{ ID string }
							json.Unmarshal(body, &msg)
							f.carried = append(f.carried, carriedAt{id: msg.ID, time: out.Time})
						}
					}
				}
				f.mu.Unlock()
			}
			if err := feed(out); err != nil {
				return err
			}
			for _, m := range data {
				dst.WriteChat(ctx, out.Time, m)
			}
			f.mu.Lock()
			f.frames++
			f.last = out.Time
			f.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(f.close)
	return f
}

func (f *feeder) close() {
	if f.stop != nil {
		f.stop()
		<-f.done
		f.stop = nil
	}
}

// push puts a chat message into the stream and notes the stream time it was put in at.
func (f *feeder) push(t testing.TB, msg chat.Message) {
	t.Helper()
	f.mu.Lock()
	f.pushed[msg.ID] = f.last
	f.mu.Unlock()
	if err := f.carriers.Push(&msg); err != nil {
		t.Fatalf("push %q: %v", msg.Text, err)
	}
}

func (f *feeder) carriedBy(id string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.carried {
		if c.id == id {
			return c.time, true
		}
	}
	return 0, false
}

func (f *feeder) framesWritten() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitLive(t testing.TB, srv *httpflv.Server) {
	t.Helper()
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
}

// TestFFprobeReadsTheStream: ffmpeg's own tools, given the URL, decode what the server
// sends (header, metadata, sequence header, keyframe first) and read the SEI chat in it;
// the stream ends cleanly when End is called.
func TestFFprobeReadsTheStream(t *testing.T) {
	peers.Require(t, "ffprobe", "ffmpeg")
	srv := startServer(t, httpflv.Options{})
	f := startFeeder(t, srv, testsrc.Options{})
	waitLive(t, srv)
	url := "http://" + srv.Addr().String() + "/live.flv"

	type result struct {
		out []byte
		err error
	}
	probe := make(chan result, 1)
	go func() {
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
			"-show_entries", "stream=codec_name,profile,width,height,nb_read_frames:packet=pts_time,flags",
			"-of", "json", url).Output()
		probe <- result{out, err}
	}()
	// What a player receives, kept for ffmpeg's SEI reader and decoder afterwards.
	recording := t.TempDir() + "/live.flv"
	recorded := make(chan error, 1)
	go func() { recorded <- record(url, recording) }()
	waitFor(t, "ffprobe and ffmpeg to connect", 60*time.Second, func() bool { return srv.Stats().Readers == 2 })

	want := []string{"前方高能！弹幕护体", "Hello from Twitch chat 👋", "666"}
	start := f.framesWritten()
	for i, text := range want {
		// Each player starts at the first keyframe (one every 30 frames) after it joined:
		// the first message goes out once both have started.
		waitFor(t, "frames", 60*time.Second, func() bool { return f.framesWritten() >= start+45+30*i })
		f.push(t, chat.Message{Text: text, ID: fmt.Sprint("m", i), Color: chat.DefaultColor})
	}
	waitFor(t, "150 more frames", 60*time.Second, func() bool { return f.framesWritten() >= start+150 })
	httpflv.EndStream(srv)

	r := <-probe
	if r.err != nil {
		t.Fatalf("ffprobe %s: %v", url, r.err)
	}
	var p struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Packets []struct {
			Flags string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(r.out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", r.out, err)
	}
	s := p.Streams[0]
	if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 {
		t.Errorf("ffprobe: %+v, want h264 640x360", s)
	}
	if len(p.Packets) < 90 || !strings.Contains(p.Packets[0].Flags, "K") {
		t.Errorf("ffprobe read %d packets (first flags %q), want >= 90 starting with a keyframe", len(p.Packets), p.Packets[0].Flags)
	}
	if s.NbReadFrames != fmt.Sprint(len(p.Packets)) {
		t.Errorf("ffprobe decoded %s frames of %d packets", s.NbReadFrames, len(p.Packets))
	}

	if err := <-recorded; err != nil {
		t.Fatalf("record %s: %v", url, err)
	}
	if v := peers.ProbeVideo(t, recording); v.DecodeErrors != "" || v.Frames != len(v.Packets) || v.MonotonicDTS() >= 0 {
		t.Errorf("the recording of the player's stream: %d frames of %d packets, DTS not increasing at %d, decode errors %q",
			v.Frames, len(v.Packets), v.MonotonicDTS(), v.DecodeErrors)
	}
	var texts []string
	for _, pl := range peers.SEIPayloads(t, recording, sei.CamnodeUUID[:]) {
		var m struct{ Text string }
		if err := json.Unmarshal([]byte(pl), &m); err != nil {
			t.Errorf("SEI payload %q: %v", pl, err)
		}
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("ffmpeg read the SEI chat %q, want %q", texts, want)
	}
	waitFor(t, "the players to leave", 30*time.Second, func() bool { return srv.Stats().Readers == 0 })
}

// record writes the response of url to path until it ends.
func record(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readTags reads an FLV response and returns its tags, or the error that ended it.
func readTags(r io.Reader) ([]flv.Tag, error) {
	fr := flv.NewReader(r)
	var tags []flv.Tag
	for {
		tag, err := fr.Next()
		if err == io.EOF {
			return tags, nil
		}
		if err != nil {
			return tags, err
		}
		tags = append(tags, tag)
	}
}

// TestFLVLayout: a browser gets the FLV header, onMetaData, the AVC sequence header, then
// video from a keyframe on with timestamps from 0, exactly the access units written (SEI
// included), the onTextData of the amf carrier, and a new sequence header when the
// stream's parameters change. End closes the response cleanly.
func TestFLVLayout(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	ctx := context.Background()
	feed := media.Feed(ctx, srv)
	sps := testSPS(t)
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	seiNAL := sei.AppendNAL(nil, sei.AppendUnregistered(nil, sei.CamnodeUUID, []byte(`{"text":"hi"}`)))
	au := func(n int, key bool, extra ...[]byte) *media.AccessUnit {
		nalus := [][]byte{{0x09, 0xf0}} // AUD: not sent
		if key {
			nalus = append(nalus, sps, pps)
		}
		nalus = append(nalus, extra...)
		slice := []byte{0x41, byte(n)}
		if key {
			slice[0] = 0x65
		}
		return &media.AccessUnit{NALUs: append(nalus, slice), Time: time.Duration(1000+n*40) * time.Millisecond, Keyframe: key}
	}
	// Before the first keyframe nothing is live.
	resp, err := http.Get("http://" + srv.Addr().String() + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "not live") {
		t.Fatalf("before the stream: %d %q, want 503 not live", resp.StatusCode, body)
	}
	if err := feed(au(0, true)); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get("http://" + srv.Addr().String() + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "video/x-flv" {
		t.Fatalf("live: %d %q", resp.StatusCode, ct)
	}
	waitFor(t, "the player", 10*time.Second, func() bool { return srv.Stats().Readers == 1 })
	feed(au(1, false)) // before this player's first keyframe: not sent
	srv.WriteChat(ctx, 1040*time.Millisecond, &chat.Message{Text: "x"})
	feed(au(2, true, seiNAL))
	srv.WriteChat(ctx, 1080*time.Millisecond, &chat.Message{Text: "y"})
	// A measured data rate reaches browsers that join later: this one gets no onMetaData
	// in mid-stream for it, nor a new sequence header.
	srv.SetVideoDataRate(130)
	feed(au(3, false))
	sps2 := bytes.Clone(sps)
	sps2[len(sps2)-1] ^= 0x01 // another SPS (same size): a new sequence header
	feed(&media.AccessUnit{NALUs: [][]byte{sps2, pps, {0x65, 4}}, Time: 1160 * time.Millisecond, Keyframe: true})
	httpflv.EndStream(srv)
	tags, err := readTags(resp.Body)
	if err != nil {
		t.Fatalf("read: %v (after %d tags)", err, len(tags))
	}
	type want struct {
		typ  byte
		ts   uint32
		body []byte
	}
	record, _ := h264.AppendDecoderConfig(nil, [][]byte{sps}, [][]byte{pps})
	record2, _ := h264.AppendDecoderConfig(nil, [][]byte{sps2}, [][]byte{pps})
	wants := []want{
		{flv.TagScript, 0, nil}, // onMetaData, checked below
		{flv.TagVideo, 0, flv.AppendSequenceHeader(nil, record)},
		{flv.TagVideo, 0, flv.AppendVideoTag(nil, true, 0, [][]byte{sps, pps, seiNAL, {0x65, 2}})},
		{flv.TagScript, 0, danmaku.AppendTextData(nil, &chat.Message{Text: "y"})},
		{flv.TagVideo, 40, flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41, 3}})},
		{flv.TagVideo, 80, flv.AppendSequenceHeader(nil, record2)},
		{flv.TagVideo, 80, flv.AppendVideoTag(nil, true, 0, [][]byte{sps2, pps, {0x65, 4}})},
	}
	if len(tags) != len(wants) {
		t.Fatalf("got %d tags, want %d: %v", len(tags), len(wants), tags)
	}
	for i, w := range wants {
		g := tags[i]
		if g.Type != w.typ || g.Timestamp != w.ts || (w.body != nil && !bytes.Equal(g.Body, w.body)) {
			t.Errorf("tag %d: type %d ts %d body % x\nwant type %d ts %d body % x", i, g.Type, g.Timestamp, g.Body, w.typ, w.ts, w.body)
		}
	}
	meta := tags[0].Body
	if !bytes.HasPrefix(meta, flv.AppendAMFString(nil, "onMetaData")) || !bytes.Contains(meta, []byte("width")) {
		t.Errorf("first tag is not onMetaData: % x", meta)
	}
	if st := srv.Stats(); st.Live {
		t.Errorf("live after End: %+v", st)
	}
}

// testSPS is the SPS of the embedded test clip.
func testSPS(t testing.TB) []byte {
	for n := range h264.NALUs(testsrc.Clip()) {
		if h264.NALType(n) == h264.TypeSPS {
			return bytes.Clone(n)
		}
	}
	t.Fatal("no SPS in the test clip")
	return nil
}

// TestStalledPlayerIsDropped: a player that stops reading never holds back the writer,
// which goes on at full speed while another player gets every frame; the stalled one is
// dropped once its queue bound is reached, and the memory queued stays within the bound.
func TestStalledPlayerIsDropped(t *testing.T) {
	const bound = 1 << 20
	logs := &syncWriter{w: &bytes.Buffer{}}
	srv := startServer(t, httpflv.Options{ClientQueue: bound, WriteTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	feed := media.Feed(ctx, srv)
	sps, pps := testSPS(t), []byte{0x68, 0xce, 0x3c, 0x80}
	big := make([]byte, 16<<10) // a 16 KiB picture: 64 of them fill the bound
	big[0] = 0x41
	frame := func(n int) *media.AccessUnit {
		key := n%30 == 0
		if key {
			return &media.AccessUnit{NALUs: [][]byte{sps, pps, append([]byte{0x65}, big[1:]...)}, Time: time.Duration(n) * 33 * time.Millisecond, Keyframe: true}
		}
		return &media.AccessUnit{NALUs: [][]byte{big}, Time: time.Duration(n) * 33 * time.Millisecond}
	}
	feed(frame(0))

	// The stalled player: asks for the stream and never reads a byte; its socket buffers
	// are kept small so that the server's writes block soon.
	d := net.Dialer{Control: nil}
	stalled, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(stalled, "GET /live.flv HTTP/1.1\r\nHost: localhost\r\n\r\n")
	t.Logf("stalled player: %s", stalled.LocalAddr())

	// The good player reads everything.
	resp, err := http.Get("http://" + srv.Addr().String() + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var goodFrames atomic.Int64
	got := make(chan []flv.Tag, 1)
	go func() {
		var tags []flv.Tag
		fr := flv.NewReader(resp.Body)
		for {
			tag, err := fr.Next()
			if err != nil {
				break
			}
			tags = append(tags, tag)
			if tag.Type == flv.TagVideo {
				goodFrames.Add(1)
			}
		}
		got <- tags
	}()
	waitFor(t, "both players", 30*time.Second, func() bool { return srv.Stats().Readers == 2 })

	const frames = 1200 // 19 MB: far beyond the bound and any socket buffer
	maxQueued := 0
	for n := 30; n < 30+frames; n++ {
		// A writer that blocked on the stalled player would hang here: the test's deadline
		// is what catches that.
		feed(frame(n))
		st := srv.Stats()
		maxQueued = max(maxQueued, st.QueuedBytes)
		if n%10 == 9 {
			// Let the good player keep up, at most 20 pictures behind: with the batch
			// being written to it, which counts against its bound until written, that is
			// well within the bound. On a starved machine it would otherwise be dropped too.
			waitFor(t, "the good player to catch up", 60*time.Second, func() bool { return goodFrames.Load() >= int64(n-30-10) })
		}
	}
	waitFor(t, "the stalled player to be dropped", 60*time.Second, func() bool { return srv.Stats().Cut == 1 })
	httpflv.EndStream(srv)
	tags := <-got
	video := 0
	for _, tag := range tags {
		if tag.Type == flv.TagVideo {
			if v, _ := flv.ParseVideoTag(tag.Body); v.PacketType == flv.AVCNALU {
				video++
			}
		}
	}
	if video != frames {
		t.Errorf("the good player got %d frames, want all %d", video, frames)
	}
	if maxQueued > 2*bound { // the stalled player's bound and the good player's backlog
		t.Errorf("%d bytes queued at most, want <= %d", maxQueued, 2*bound)
	}
	if st := srv.Stats(); st.Cut != 1 || st.Joined != 2 {
		t.Errorf("stats %+v, want 1 dropped of 2", st)
	}
	if !strings.Contains(logs.String(), "player dropped") {
		t.Errorf("the log does not say a player was dropped:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"": false, "0.0.0.0": false, "::": false, "192.168.1.20": false, "camera.lan": false, "10.0.0.1": false,
	} {
		if got := httpflv.Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestListenBeyondLoopbackNeedsToken: an address other machines reach is refused without
// a token, before anything listens.
func TestListenBeyondLoopbackNeedsToken(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.168.1.20:8080"} {
		_, err := httpflv.Listen(httpflv.Options{Addr: addr})
		if !errors.Is(err, httpflv.ErrTokenRequired) {
			t.Errorf("Listen(%q) without token: %v, want ErrTokenRequired", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "nonsense"} {
		if _, err := httpflv.Listen(httpflv.Options{Addr: addr}); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("Listen(%q): %v, want an error naming the address", addr, err)
		}
	}
}

// TestToken: with a token every request needs it, in the URL or as a Bearer header; a
// wrong or missing one gets 401, and the token shows in no log line or response.
func TestToken(t *testing.T) {
	const token = "s3cret-T0ken"
	logs := &syncWriter{w: &bytes.Buffer{}}
	srv := startServer(t, httpflv.Options{Token: token, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	base := "http://" + srv.Addr().String()
	get := func(path, bearer string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path, bearer string
		want         int
	}{
		{"/", "", 401},
		{"/?token=wrong", "", 401},
		{"/?token=" + token[:5], "", 401},
		{"/status", "", 401},
		{"/live.flv", "", 401},
		{"/live.flv", "wrong", 401},
		{"/?token=" + token, "", 200},
		{"/", token, 200},
		{"/status?token=" + token, "", 200},
		{"/live.flv?token=" + token, "", 503}, // authorized, not live yet
		{"/live.flv", token, 503},
		{"/nothing?token=" + token, "", 404},
	} {
		code, body := get(c.path, c.bearer)
		if code != c.want {
			t.Errorf("GET %s (bearer %v): %d, want %d", c.path, c.bearer != "", code, c.want)
		}
		if strings.Contains(body, token) {
			t.Errorf("GET %s: the response shows the token", c.path)
		}
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), token[:5]) {
		t.Errorf("the log shows the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "without a valid token") {
		t.Errorf("the log does not say requests were refused:\n%s", logs.String())
	}
}

// TestStatusAndPage: the page is served whole (the script inline), and /status tells
// whether the stream is live, which the page polls.
func TestStatusAndPage(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	base := "http://" + srv.Addr().String()
	status := func() httpflv.Status {
		resp, err := http.Get(base + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s httpflv.Status
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := status(); s.Live {
		t.Errorf("status before the stream: %+v", s)
	}
	media.Feed(context.Background(), srv)(&media.AccessUnit{NALUs: [][]byte{testSPS(t), {0x68, 0xce, 0x3c, 0x80}, {0x65, 0}}, Keyframe: true})
	if s := status(); !s.Live || s.Width != 1280 || s.Height != 720 {
		t.Errorf("status while live: %+v", s)
	}
	head, err := http.Head(base + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || head.Header.Get("Content-Type") != "video/x-flv" {
		t.Errorf("HEAD /live.flv while live: %s %q", head.Status, head.Header.Get("Content-Type"))
	}
	httpflv.EndStream(srv)
	if s := status(); s.Live {
		t.Errorf("status after End: %+v", s)
	}
	// A pipeline that stops without End, or a source that stalls, is not live either
	// once httpflv.StallTimeout has passed without a picture.
	media.Feed(context.Background(), srv)(&media.AccessUnit{NALUs: [][]byte{testSPS(t), {0x68, 0xce, 0x3c, 0x80}, {0x65, 0}}, Keyframe: true})
	if s := status(); !s.Live {
		t.Errorf("status while live again: %+v", s)
	}
	waitFor(t, "a stalled stream to show as not live", 10*httpflv.StallTimeout, func() bool { return !status().Live })
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"<canvas", "VideoDecoder", "not live", "05254fc5"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte(`src="player.js"`)) {
		t.Error("the page loads player.js separately: that request would lack the token")
	}
}

// TestAudioTags: AAC frames go to a player after its first keyframe, behind the AAC
// sequence header (again when the configuration changes), at their own timestamps on the
// video's clock; audio from before the player's first picture is not sent.
func TestAudioTags(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	ctx := context.Background()
	feed := media.Feed(ctx, srv)
	sps, pps := testSPS(t), []byte{0x68, 0xce, 0x3c, 0x80}
	key := func(at time.Duration) *media.AccessUnit {
		return &media.AccessUnit{NALUs: [][]byte{sps, pps, {0x65, 1}}, Time: at, Keyframe: true}
	}
	mono := &media.AudioConfig{SampleRate: 48000, Channels: 1, ASC: []byte{0x11, 0x88}}
	stereo := &media.AudioConfig{SampleRate: 48000, Channels: 2, ASC: []byte{0x11, 0x90}}
	if err := srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{1}, Time: 0}); err == nil {
		t.Error("an audio frame without its configuration was taken")
	}
	feed(key(time.Second))
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa0}, Time: time.Second, Config: mono})
	resp, err := http.Get("http://" + srv.Addr().String() + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, "the player", 10*time.Second, func() bool { return srv.Stats().Readers == 1 })
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa1}, Time: 1980 * time.Millisecond, Config: mono}) // before its keyframe
	feed(key(2 * time.Second))
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa2}, Time: 1990 * time.Millisecond, Config: mono}) // late, before its picture
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa3}, Time: 2010 * time.Millisecond, Config: mono})
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa4}, Time: 2031 * time.Millisecond, Config: stereo})
	httpflv.EndStream(srv)
	fr := flv.NewReader(resp.Body)
	h, err := fr.Header()
	if err != nil || !h.HasAudio || !h.HasVideo {
		t.Fatalf("header %+v, %v: want audio and video", h, err)
	}
	var got []string
	for {
		tag, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tag.Type == flv.TagAudio {
			got = append(got, fmt.Sprintf("%d:% x", tag.Timestamp, tag.Body))
		}
	}
	want := []string{"10:af 00 11 88", "10:af 01 a3", "31:af 00 11 90", "31:af 01 a4"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audio tags %q, want %q", got, want)
	}
}

// TestAudioWithoutPictures: audio is held for the next picture, so that the two go out in
// one write, but not for long: when the pictures stop, the sound still reaches the player
// (a held frame goes out at the latest with the one 100 ms after it), without End.
func TestAudioWithoutPictures(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	ctx := context.Background()
	feed := media.Feed(ctx, srv)
	sps, pps := testSPS(t), []byte{0x68, 0xce, 0x3c, 0x80}
	key := func(at time.Duration) *media.AccessUnit {
		return &media.AccessUnit{NALUs: [][]byte{sps, pps, {0x65, 1}}, Time: at, Keyframe: true}
	}
	mono := &media.AudioConfig{SampleRate: 48000, Channels: 1, ASC: []byte{0x11, 0x88}}
	feed(key(time.Second))
	srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{0xa0}, Time: time.Second, Config: mono})
	resp, err := http.Get("http://" + srv.Addr().String() + "/live.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, "the player", 10*time.Second, func() bool { return srv.Stats().Readers == 1 })
	feed(key(2 * time.Second))
	// 10 AAC frames of 21 ms and no picture after them.
	for i := range 10 {
		at := 2*time.Second + time.Duration(i)*21*time.Millisecond
		srv.WriteAudio(ctx, &media.AudioFrame{Data: []byte{byte(i)}, Time: at, Config: mono})
	}
	tags := make(chan flv.Tag, 64)
	go func() {
		fr := flv.NewReader(resp.Body)
		for {
			tag, err := fr.Next()
			if err != nil {
				close(tags)
				return
			}
			tags <- tag
		}
	}()
	// The frame at 2.105 s is 105 ms after the first one held: it and those before it go.
	timeout := time.After(30 * time.Second)
	for {
		select {
		case tag, ok := <-tags:
			if !ok {
				t.Fatal("the stream ended before the sound came")
			}
			if tag.Type == flv.TagAudio && tag.Timestamp >= 105 {
				return
			}
		case <-timeout:
			t.Fatal("the sound after the last picture did not reach the player within 30 s")
		}
	}
}
