package rtmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/media/flv"
)

// fakeServer is the server side of one connection, scripted by a test, built on the same
// chunk reader and writer as the client.
type fakeServer struct {
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	cr  *chunkReader
	cw  chunkWriter
	out int // bytes written, handshake included
}

func newFakeServer(nc net.Conn) *fakeServer {
	s := &fakeServer{nc: nc, br: bufio.NewReader(nc)}
	s.bw = bufio.NewWriter(writerFunc(func(p []byte) (int, error) {
		n, err := nc.Write(p)
		s.out += n
		return n, err
	}))
	s.cr = newChunkReader(s.br)
	s.cw = chunkWriter{w: s.bw, chunkSize: defaultChunkSize}
	return s
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *fakeServer) handshake() error {
	c0c1 := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(s.br, c0c1); err != nil {
		return err
	}
	s.bw.Write([]byte{3})
	s.bw.Write(make([]byte, handshakeSize)) // S1
	s.bw.Write(c0c1[1:])                    // S2 echoes C1
	if err := s.bw.Flush(); err != nil {
		return err
	}
	_, err := io.ReadFull(s.br, make([]byte, handshakeSize))
	return err
}

// next reads the next message, applying the client's Set Chunk Size.
func (s *fakeServer) next() (message, error) {
	m, err := s.cr.readMessage()
	if err == nil && m.typeID == typeSetChunkSize {
		err = s.cr.setChunkSize(binary.BigEndian.Uint32(m.payload))
	}
	return m, err
}

// nextCommand skips to the next command message.
func (s *fakeServer) nextCommand() (command, message, error) {
	for {
		m, err := s.next()
		if err != nil {
			return command{}, m, err
		}
		if m.typeID == typeCommandAMF0 {
			cmd, err := decodeCommand(m)
			return cmd, m, err
		}
	}
}

func (s *fakeServer) send(csid uint32, typeID byte, msid uint32, payload []byte) error {
	if err := s.cw.writeMessage(csid, typeID, msid, 0, payload); err != nil {
		return err
	}
	return s.bw.Flush()
}

func (s *fakeServer) sendStatus(msid uint32, name string, txn float64, level, code, desc string) error {
	b := appendCall(nil, name, txn)
	b = flv.AppendAMFObjectStart(b)
	for _, kv := range [][2]string{{"level", level}, {"code", code}, {"description", desc}} {
		b = flv.AppendAMFKey(b, kv[0])
		b = flv.AppendAMFString(b, kv[1])
	}
	return s.send(csidCommand, typeCommandAMF0, msid, flv.AppendAMFObjectEnd(b))
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Steps at which acceptUntil can stop answering.
const (
	stepHandshake = iota
	stepConnect
	stepCreateStream
	stepPublish
	stepDone
)

// acceptUntil plays nginx-rtmp's part of a publish up to (not including) step.
func (s *fakeServer) acceptUntil(step int) error {
	if step == stepHandshake {
		return nil
	}
	if err := s.handshake(); err != nil {
		return err
	}
	if _, _, err := s.nextCommand(); err != nil || step == stepConnect {
		return err
	}
	s.send(csidControl, typeWindowAckSize, 0, u32(5_000_000))
	s.send(csidControl, typeSetPeerBandwidth, 0, append(u32(5_000_000), 2))
	s.send(csidControl, typeSetChunkSize, 0, u32(4096))
	s.cw.chunkSize = 4096
	if err := s.sendStatus(0, "_result", txnConnect, "status", "NetConnection.Connect.Success", "Connection succeeded."); err != nil {
		return err
	}
	s.send(csidCommand, typeCommandAMF0, 0, appendCall(nil, "onBWDone", 0))
	for {
		cmd, _, err := s.nextCommand()
		if err != nil {
			return err
		}
		if cmd.name == "createStream" {
			break
		}
	}
	if step == stepCreateStream {
		return nil
	}
	b := appendCall(nil, "_result", txnCreateStream)
	if err := s.send(csidCommand, typeCommandAMF0, 0, flv.AppendAMFNumber(b, 1)); err != nil {
		return err
	}
	if cmd, _, err := s.nextCommand(); err != nil || cmd.name != "publish" {
		return errors.Join(err, errors.New("want publish, got "+cmd.name))
	}
	if step == stepPublish {
		return nil
	}
	return s.sendStatus(1, "onStatus", 0, "status", "NetStream.Publish.Start", "Start publishing")
}

// listen runs serve for every accepted connection until the test ends.
func listen(t *testing.T, serve func(t *testing.T, s *fakeServer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serve(t, newFakeServer(nc))
			}()
		}
	}()
	return ln.Addr().String()
}

const testKey = "SECRETKEY"

func testURL(addr string) string { return "rtmp://" + addr + "/live/" + testKey + "?auth=SECRETQUERY" }

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error shows the stream key or query: %v", err)
	}
}

// TestDialTimeouts has the server go silent at each step: Dial fails with a deadline error
// naming the step, after about Timeout rather than the 10 s default.
func TestDialTimeouts(t *testing.T) {
	steps := []struct {
		step int
		name string
	}{{stepHandshake, "handshake"}, {stepConnect, "connect"}, {stepCreateStream, "createStream"}, {stepPublish, "publish"}}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			addr := listen(t, func(t *testing.T, s *fakeServer) {
				s.acceptUntil(st.step)
				io.Copy(io.Discard, s.br) // read, never answer
			})
			const timeout = 300 * time.Millisecond
			start := time.Now()
			c, err := Dial(context.Background(), testURL(addr), Options{Timeout: timeout})
			elapsed := time.Since(start)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("error %v is not a deadline error", err)
			}
			if !strings.Contains(err.Error(), ": "+st.name+": ") {
				t.Errorf("error %q does not name step %s", err, st.name)
			}
			if elapsed > timeout+2*time.Second {
				t.Errorf("Dial took %v with Timeout %v", elapsed, timeout)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestDialContextCancel(t *testing.T) {
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		s.acceptUntil(stepConnect)
		io.Copy(io.Discard, s.br)
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Dial(ctx, testURL(addr), Options{Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with cancelled ctx: %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("cancelled Dial took %v", elapsed)
	}
	assertNoSecret(t, err)

	_, err = Dial(ctx, testURL(addr), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a context already cancelled: %v, want context.Canceled", err)
	}
}

func TestDialRefusals(t *testing.T) {
	tests := []struct {
		name     string
		serve    func(s *fakeServer) error
		wantCode string
		wantStep string
	}{
		{"connect _error", func(s *fakeServer) error {
			s.acceptUntil(stepConnect)
			return s.sendStatus(0, "_error", txnConnect, "error", "NetConnection.Connect.Rejected", "app live/"+testKey+" refused")
		}, "NetConnection.Connect.Rejected", "connect"},
		{"createStream _error", func(s *fakeServer) error {
			s.acceptUntil(stepCreateStream)
			return s.sendStatus(0, "_error", txnCreateStream, "error", "NetConnection.Call.Failed", "no")
		}, "NetConnection.Call.Failed", "createStream"},
		// The description echoes the key, as some servers do: it must come out redacted.
		{"publish BadName", func(s *fakeServer) error {
			s.acceptUntil(stepPublish)
			return s.sendStatus(1, "onStatus", 0, "error", "NetStream.Publish.BadName", "stream "+testKey+"?auth=SECRETQUERY is busy")
		}, "NetStream.Publish.BadName", "publish"},
		{"onFCPublish error", func(s *fakeServer) error {
			s.acceptUntil(stepPublish)
			return s.sendStatus(0, "onFCPublish", 0, "error", "NetStream.Publish.Denied", "key "+testKey+" unknown")
		}, "NetStream.Publish.Denied", "publish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := listen(t, func(t *testing.T, s *fakeServer) {
				if err := tt.serve(s); err != nil {
					t.Errorf("server: %v", err)
				}
				io.Copy(io.Discard, s.br)
			})
			_, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second})
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode || se.Level != "error" {
				t.Fatalf("Dial: %v, want *StatusError %s", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), ": "+tt.wantStep+": ") || !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("error %q does not name step %s and code %s", err, tt.wantStep, tt.wantCode)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestPublishSession checks the session as the server sees it: the command sequence and its
// arguments, media on the right stream and chunk streams, a Ping answered, an
// Acknowledgement once the window is reached, and FCUnpublish, deleteStream and a
// half-close at Close.
func TestPublishSession(t *testing.T) {
	type seen struct {
		cmds    []command
		media   []message
		pong    []byte
		ack     uint32
		winAck  uint32
		eofSeen bool
		sent    int
	}
	result := make(chan seen, 1)
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		var got seen
		defer func() { result <- got }()
		if err := s.handshake(); err != nil {
			t.Error(err)
			return
		}
		s.send(csidControl, typeWindowAckSize, 0, u32(200)) // small: the client must ack soon
		s.send(csidControl, typeSetPeerBandwidth, 0, append(u32(777_000), 2))
		for {
			m, err := s.next()
			if err != nil {
				got.eofSeen = err == io.EOF
				got.sent = s.out
				return
			}
			switch m.typeID {
			case typeCommandAMF0:
				cmd, _ := decodeCommand(m)
				got.cmds = append(got.cmds, cmd)
				switch cmd.name {
				case "connect":
					s.sendStatus(0, "_result", cmd.txn, "status", "NetConnection.Connect.Success", "")
				case "createStream":
					s.send(csidCommand, typeCommandAMF0, 0, flv.AppendAMFNumber(appendCall(nil, "_result", cmd.txn), 7))
				case "publish":
					s.sendStatus(m.msid, "onStatus", 0, "status", "NetStream.Publish.Start", "")
				}
			case typeVideo, typeDataAMF0:
				got.media = append(got.media, m)
				if len(got.media) == 2 {
					s.send(csidControl, typeUserControl, 0, []byte{0, userControlPing, 1, 2, 3, 4})
				}
			case typeUserControl:
				got.pong = m.payload
			case typeAck:
				got.ack = binary.BigEndian.Uint32(m.payload)
			case typeWindowAckSize:
				got.winAck = binary.BigEndian.Uint32(m.payload)
			}
		}
	})

	c, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second, ChunkSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamID() != 7 {
		t.Errorf("StreamID = %d, want 7", c.StreamID())
	}
	meta := flv.AppendMetadata(nil, flv.Metadata{Width: 64, Height: 48})
	big := flv.AppendVideoTag(nil, true, 0, [][]byte{make([]byte, 5000)})
	if err := c.WriteData(1<<24+1, meta); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.WriteVideo(1<<24+uint32(i)*40, big); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the ping arrive between messages
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var got seen
	select {
	case got = <-result:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not see the connection end")
	}

	var names []string
	for _, cmd := range got.cmds {
		names = append(names, cmd.name)
	}
	if want := "connect releaseStream FCPublish createStream publish FCUnpublish deleteStream"; strings.Join(names, " ") != want {
		t.Errorf("commands %q, want %q", strings.Join(names, " "), want)
	}
	if len(got.cmds) == 7 {
		if app := got.cmds[0].obj.String("app"); app != "live" {
			t.Errorf("connect app %q, want live", app)
		}
		if tc := got.cmds[0].obj.String("tcUrl"); tc != "rtmp://"+addr+"/live" {
			t.Errorf("connect tcUrl %q", tc)
		}
		if typ, fv := got.cmds[0].obj.String("type"), got.cmds[0].obj.String("flashVer"); typ != "nonprivate" || fv != flashVer {
			t.Errorf("connect type %q flashVer %q", typ, fv)
		}
		if got.cmds[4].args[0] != testKey+"?auth=SECRETQUERY" || got.cmds[4].args[1] != "live" {
			t.Errorf("publish args %v, want the stream name with query and \"live\"", got.cmds[4].args)
		}
		if got.cmds[6].args[0] != 7.0 {
			t.Errorf("deleteStream args %v, want stream id 7", got.cmds[6].args)
		}
	}
	if len(got.media) != 4 {
		t.Fatalf("server got %d media messages, want 4", len(got.media))
	}
	for i, m := range got.media {
		wantCSID, wantType, wantTS, wantBody := uint32(csidVideo), byte(typeVideo), 1<<24+uint32(i-1)*40, big
		if i == 0 {
			wantCSID, wantType, wantTS, wantBody = csidData, typeDataAMF0, 1<<24+1, meta
		}
		if m.csid != wantCSID || m.typeID != wantType || m.msid != 7 || m.timestamp != wantTS || string(m.payload) != string(wantBody) {
			t.Errorf("media %d: csid %d type %d msid %d ts %d %d bytes; want csid %d type %d msid 7 ts %d %d bytes",
				i, m.csid, m.typeID, m.msid, m.timestamp, len(m.payload), wantCSID, wantType, wantTS, len(wantBody))
		}
	}
	if string(got.pong) != string([]byte{0, userControlPong, 1, 2, 3, 4}) {
		t.Errorf("ping response % x, want 00 07 01 02 03 04", got.pong)
	}
	if got.ack < 200 || int(got.ack) > got.sent {
		t.Errorf("acknowledgement %d, want at least the 200-byte window and at most the %d bytes sent", got.ack, got.sent)
	}
	if got.winAck != 777_000 {
		t.Errorf("Window Acknowledgement Size answer %d, want 777000", got.winAck)
	}
	if !got.eofSeen {
		t.Error("server did not read a clean end of stream after Close")
	}
	if c.BytesWritten() < 3*5000 {
		t.Errorf("BytesWritten = %d", c.BytesWritten())
	}
}

// TestStalledPeer: the server stops reading. A write fails after WriteTimeout with a deadline
// error, later writes fail at once, and Close does not hang.
func TestStalledPeer(t *testing.T) {
	release := make(chan struct{})
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		s.acceptUntil(stepDone)
		<-release // read nothing more
	})
	defer close(release)
	c, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second, WriteTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 256<<10)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // socket buffers fill after a few MB
		werr = c.WriteVideo(uint32(i*33), frame)
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a stalled peer: %v, want a deadline error", werr)
	}
	assertNoSecret(t, werr)
	start := time.Now()
	if err := c.WriteVideo(0, frame[:10]); err == nil {
		t.Error("write after a failed write succeeded")
	}
	if err := c.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("write after failure and Close took %v", d)
	}
}

// TestCloseUnblocksStalledWrite: Close from another goroutine ends a write stuck on a
// stalled peer well before WriteTimeout.
func TestCloseUnblocksStalledWrite(t *testing.T) {
	release := make(chan struct{})
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		s.acceptUntil(stepDone)
		<-release
	})
	defer close(release)
	c, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		frame := make([]byte, 256<<10)
		for i := 0; ; i++ {
			if err := c.WriteVideo(uint32(i*33), frame); err != nil {
				werr <- err
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // let the socket buffers fill
	start := time.Now()
	c.Close()
	select {
	case err := <-werr:
		if err == nil {
			t.Error("stalled write ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stalled write")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
}

// TestAsyncStatusError: an onStatus error after publishing shows in Err and fails the next
// write, with the key redacted.
func TestAsyncStatusError(t *testing.T) {
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		s.acceptUntil(stepDone)
		s.sendStatus(1, "onStatus", 0, "error", "NetStream.Publish.Failed", "dropped "+testKey)
		io.Copy(io.Discard, s.br)
	})
	c, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var se *StatusError
	if !errors.As(c.Err(), &se) || se.Code != "NetStream.Publish.Failed" {
		t.Fatalf("Err = %v, want *StatusError NetStream.Publish.Failed", c.Err())
	}
	assertNoSecret(t, c.Err())
	if err := c.WriteVideo(0, []byte{0x17, 1, 0, 0, 0}); !errors.As(err, &se) {
		t.Errorf("WriteVideo after the status error: %v, want the status error", err)
	}
}

func TestDialBadOptionsAndURL(t *testing.T) {
	if _, err := Dial(context.Background(), "rtmp://127.0.0.1:1/live/k", Options{ChunkSize: 64}); err == nil || !strings.Contains(err.Error(), "chunk size 64") {
		t.Errorf("chunk size 64: %v", err)
	}
	if _, err := Dial(context.Background(), "http://h/live/"+testKey, Options{}); !errors.Is(err, ErrURL) {
		t.Errorf("bad URL: %v", err)
	}
	// Nothing listens on the port: the dial error shows the redacted URL only.
	port := listenAndClose(t)
	_, err := Dial(context.Background(), testURL(port), Options{Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "/live/****?auth=****: dial: ") {
		t.Errorf("refused: %v", err)
	}
	assertNoSecret(t, err)
}

func listenAndClose(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// discardConn is a net.Conn that swallows writes and blocks reads until closed, to measure
// the write path alone.
type discardConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (d *discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (d *discardConn) Read([]byte) (int, error)         { <-d.closed; return 0, net.ErrClosed }
func (d *discardConn) Close() error                     { d.once.Do(func() { close(d.closed) }); return nil }
func (d *discardConn) CloseWrite() error                { return d.Close() }
func (d *discardConn) SetDeadline(time.Time) error      { return nil }
func (d *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }

func newDiscardConn(t testing.TB) *Conn {
	u, _ := ParseURL("rtmp://127.0.0.1/live/bench")
	opts, _ := Options{}.withDefaults()
	c := newConn(&discardConn{closed: make(chan struct{})}, u, opts)
	c.cw.chunkSize = opts.ChunkSize
	c.streamID = 1
	go c.readLoop()
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWriteVideoDoesNotAllocate(t *testing.T) {
	c := newDiscardConn(t)
	body := make([]byte, 100<<10)
	ts := uint32(1<<24 - 100)
	allocs := testing.AllocsPerRun(200, func() {
		ts += 33
		if err := c.WriteVideo(ts, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteVideo: %v allocations per message, want 0", allocs)
	}
}

func BenchmarkWriteVideo(b *testing.B) {
	c := newDiscardConn(b)
	body := make([]byte, 100<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := c.WriteVideo(uint32(i*33), body); err != nil {
			b.Fatal(err)
		}
	}
}
