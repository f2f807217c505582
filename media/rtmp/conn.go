package rtmp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options tune Dial. The zero value is usable.
type Options struct {
	// Timeout bounds each step of Dial: TCP (and TLS) dial, handshake, connect,
	// createStream, publish. Default 10 s.
	Timeout time.Duration
	// WriteTimeout bounds the write of one message; a peer that stops reading makes the
	// write fail after it. Default 10 s.
	WriteTimeout time.Duration
	// TLSConfig is used for rtmps://. nil means the system roots with verification on;
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// ChunkSize is the outgoing chunk size announced with Set Chunk Size, 128..16777215.
	// Default 4096.
	ChunkSize int
	// Logger gets debug lines about the session; nil discards them.
	Logger *slog.Logger
}

const (
	defaultTimeout  = 10 * time.Second
	defaultOutChunk = 4096
	writeBufferSize = 64 << 10
	readBufferSize  = 4 << 10
	closeTimeout    = time.Second
	userControlPing = 6
	userControlPong = 7
)

// quickAckDuringDial is a var so that a benchmark can compare with the kernel's delayed ACKs.
var quickAckDuringDial = true

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("rtmp: connection closed")

// ErrRefused marks a refusal without a status message: the server closed the connection in
// answer to connect, createStream or publish, or within RefusalWindow after confirming the
// publish. nginx-rtmp refuses so for `deny publish` and for an on_publish hook that answered
// 4xx. IsRefused tells such errors and *StatusError refusals from lost connections.
var ErrRefused = errors.New("server closed the connection: stream refused (wrong app or stream key, or publishing denied)")

// RefusalWindow is how soon after the publish was confirmed a close by the server counts as
// a refusal rather than a lost connection: nginx-rtmp's access rules drop the connection in
// the same millisecond as they send NetStream.Publish.Start.
const RefusalWindow = 500 * time.Millisecond

// IsRefused reports whether err says the server refused the stream (a *StatusError, or
// ErrRefused), as opposed to a network failure or a timeout: retrying at once will not help.
func IsRefused(err error) bool {
	var se *StatusError
	return errors.Is(err, ErrRefused) || errors.As(err, &se)
}

// Conn is one publishing RTMP stream. Its methods are safe for concurrent use; each
// message goes out whole. A reader goroutine owned by the Conn answers pings, sends
// acknowledgements and watches for the server closing or reporting an error, until Close.
type Conn struct {
	url          URL
	nc           net.Conn
	log          *slog.Logger
	writeTimeout time.Duration
	chunkSize    int
	streamID     uint32

	// mu serialises whole messages on the socket: the reader goroutine writes ping
	// responses and acknowledgements between the publisher's messages, never inside one.
	mu       sync.Mutex
	bw       *bufio.Writer
	cw       chunkWriter
	writeErr error // sticky: after a failed write the chunk stream is broken

	written  atomic.Uint64
	closing  atomic.Bool
	asyncErr atomic.Pointer[error]
	done     chan struct{} // closed when the reader goroutine ends

	closeOnce sync.Once
	closeErr  error

	publishedAt time.Time // when the server confirmed the publish; set by Dial

	// Reader state: used by Dial, then only by the reader goroutine.
	br           *bufio.Reader
	cr           *chunkReader
	in           countingReader
	ackWindow    uint32
	lastAck      uint64
	announcedWin uint32
}

// countingReader and countingWriter count the bytes that cross the socket, for
// acknowledgements and BytesWritten.
type countingReader struct {
	r io.Reader
	n uint64
	// beforeRead, when set, runs before each read: Dial re-arms TCP_QUICKACK there.
	beforeRead func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.beforeRead != nil {
		c.beforeRead()
	}
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

func newConn(nc net.Conn, u URL, opts Options) *Conn {
	c := &Conn{
		url:          u,
		nc:           nc,
		log:          opts.Logger,
		writeTimeout: opts.WriteTimeout,
		chunkSize:    opts.ChunkSize,
		done:         make(chan struct{}),
	}
	c.bw = bufio.NewWriterSize(countingWriter{socketWriter(nc), &c.written}, writeBufferSize)
	c.cw = chunkWriter{w: c.bw, chunkSize: defaultChunkSize}
	c.in.r = nc
	// During Dial every answer of the server is awaited: acknowledge it at once, or the
	// server's next small message waits for our delayed ACK (Nagle on its side, 40 ms).
	if quickAckDuringDial {
		c.in.beforeRead = quickAck(nc)
	}
	c.br = bufio.NewReaderSize(&c.in, readBufferSize)
	c.cr = newChunkReader(c.br)
	return c
}

func (o Options) withDefaults() (Options, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultTimeout
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = defaultOutChunk
	}
	if o.ChunkSize < defaultChunkSize || o.ChunkSize > maxMessageSize {
		return o, fmt.Errorf("rtmp: chunk size %d out of range %d..%d", o.ChunkSize, defaultChunkSize, maxMessageSize)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Dial connects to the server of rawURL and starts publishing its stream: handshake,
// connect, createStream, publish, each step bounded by opts.Timeout and by ctx. A server
// that refuses (bad key, unknown app, stream busy) gives an error wrapping *StatusError when
// it said why, or the read error when it just closed the connection. Errors show the URL
// redacted.
//
// A server that refuses by closing the connection (nginx-rtmp's `deny publish`, an on_publish
// hook answering 4xx) gives an error wrapping ErrRefused; IsRefused tells refusals from
// network failures. A step that gets no answer within opts.Timeout fails with an error that
// says so and wraps os.ErrDeadlineExceeded.
//
// Some servers confirm the publish and refuse only afterwards: nginx-rtmp's live module
// answers NetStream.Publish.Start before its access rules drop the connection. Such a
// refusal shows on Done and Err right after Dial returns, as an error wrapping ErrRefused.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return DialURL(ctx, u, opts)
}

// DialURL is Dial with a URL parsed already (by ParseURL, as configuration does): it sends
// exactly u.App, u.TCURL and u.StreamName.
func DialURL(ctx context.Context, u URL, opts Options) (*Conn, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	nc, err := dial(ctx, u, opts)
	if err != nil {
		return nil, withCause(ctx, fmt.Errorf("rtmp: %s: dial: %w", u.Redacted(), err))
	}
	c := newConn(nc, u, opts)
	// Cancelling ctx expires the deadlines, which ends whatever read or write is waiting.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err = c.start(ctx, opts.Timeout)
	if !stop() && err == nil {
		err = fmt.Errorf("rtmp: %s: publish: %w", u.Redacted(), context.Cause(ctx))
	}
	if err != nil {
		nc.Close()
		return nil, withCause(ctx, err)
	}
	nc.SetDeadline(time.Time{})
	// From here on the reader only drains control messages: normal delayed ACKs are fine.
	c.in.beforeRead = nil
	c.publishedAt = time.Now()
	c.log.Debug("rtmp: publishing", "url", u, "stream_id", c.streamID, "chunk_size", c.chunkSize)
	go c.readLoop()
	return c, nil
}

// withCause adds ctx's cancellation cause to err when ctx ended, so that a Dial aborted by
// its caller says so rather than only "i/o timeout".
func withCause(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return err
}

func dial(ctx context.Context, u URL, opts Options) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	nd := &net.Dialer{Timeout: opts.Timeout}
	if u.Scheme != "rtmps" {
		return nd.DialContext(ctx, "tcp", u.Addr())
	}
	cfg := opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Host
	}
	td := &tls.Dialer{NetDialer: nd, Config: cfg}
	return td.DialContext(ctx, "tcp", u.Addr())
}

// start runs the publish sequence on a fresh connection.
func (c *Conn) start(ctx context.Context, timeout time.Duration) error {
	step := func(name string, f func() error) error {
		c.nc.SetDeadline(time.Now().Add(timeout))
		// Checked after setting the deadline: a cancellation from here on expires it.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rtmp: %s: %s: %w", c.url.Redacted(), name, err)
		}
		if err := f(); err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
				return fmt.Errorf("rtmp: %s: %s: timed out, no answer within %v: %w", c.url.Redacted(), name, timeout, err)
			case name != "handshake" && closedByPeer(err):
				// The handshake went through, so something listens and speaks RTMP: a
				// close in answer to our commands is the server saying no.
				return fmt.Errorf("rtmp: %s: %s: %w (%w)", c.url.Redacted(), name, ErrRefused, err)
			}
			return fmt.Errorf("rtmp: %s: %s: %w", c.url.Redacted(), name, err)
		}
		return nil
	}
	if err := step("handshake", func() error {
		return handshake(struct {
			io.Reader
			io.Writer
		}{c.br, c.bw}, c.bw.Flush, time.Now())
	}); err != nil {
		return err
	}
	if err := step("connect", func() error {
		if err := c.writeCommand(0, appendConnect(nil, c.url)); err != nil {
			return err
		}
		_, err := c.await(func(cmd command) (bool, error) {
			return c.answer(cmd, txnConnect)
		})
		return err
	}); err != nil {
		return err
	}
	if err := step("createStream", func() error {
		if err := c.setChunkSize(c.chunkSize); err != nil {
			return err
		}
		name := c.url.StreamName
		for _, payload := range [][]byte{
			appendCall(nil, "releaseStream", txnReleaseStream, name),
			appendCall(nil, "FCPublish", txnFCPublish, name),
			appendCall(nil, "createStream", txnCreateStream),
		} {
			if err := c.writeCommand(0, payload); err != nil {
				return err
			}
		}
		cmd, err := c.await(func(cmd command) (bool, error) {
			return c.answer(cmd, txnCreateStream)
		})
		if err != nil {
			return err
		}
		var id any
		if len(cmd.args) > 0 {
			id = cmd.args[0]
		}
		f, ok := id.(float64)
		if !ok || f < 0 || f > 1<<31 {
			return fmt.Errorf("_result without a stream id (got %v)", id)
		}
		c.streamID = uint32(f)
		return nil
	}); err != nil {
		return err
	}
	return step("publish", func() error {
		if err := c.writeCommand(c.streamID, appendCall(nil, "publish", txnPublish, c.url.StreamName, "live")); err != nil {
			return err
		}
		_, err := c.await(func(cmd command) (bool, error) {
			switch cmd.name {
			case "onStatus", "onFCPublish":
				info := cmd.info()
				if info.String("level") == "error" {
					return false, statusError(info, c.secrets()...)
				}
				return info.String("code") == "NetStream.Publish.Start", nil
			}
			return c.answer(cmd, txnPublish)
		})
		return err
	})
}

// answer reports whether cmd is the _result of transaction txn, or its _error as a
// *StatusError. Answers to other transactions (releaseStream, FCPublish) are ignored: many
// servers answer those with _error and go on.
func (c *Conn) answer(cmd command, txn float64) (bool, error) {
	if cmd.txn != txn {
		return false, nil
	}
	switch cmd.name {
	case "_result":
		return true, nil
	case "_error":
		info := cmd.info()
		if info == nil {
			return false, &StatusError{Level: "error", Code: "_error"}
		}
		return false, statusError(info, c.secrets()...)
	}
	return false, nil
}

// secrets are the strings a server message must not carry into an error: the stream name
// with its query, the key alone, the query and its values.
func (c *Conn) secrets() []string { return c.url.Secrets() }

// await reads messages until match accepts a command or fails. Protocol control messages
// are handled on the way.
func (c *Conn) await(match func(command) (bool, error)) (command, error) {
	for {
		m, err := c.readMessage()
		if err != nil {
			return command{}, err
		}
		if m.typeID != typeCommandAMF0 && m.typeID != typeCommandAMF3 {
			continue
		}
		cmd, err := decodeCommand(m)
		if err != nil {
			// Not ours to judge: a server's odd extra message must not fail the session.
			c.log.Debug("rtmp: undecodable command from server", "url", c.url, "err", err)
			continue
		}
		c.log.Debug("rtmp: command from server", "url", c.url, "name", cmd.name, "txn", cmd.txn, "code", cmd.info().String("code"))
		done, err := match(cmd)
		if err != nil || done {
			return cmd, err
		}
	}
}

// readMessage returns the next message that is not protocol control, answering and
// applying control messages on the way.
func (c *Conn) readMessage() (message, error) {
	for {
		m, err := c.cr.readMessage()
		if err != nil {
			return m, err
		}
		if err := c.maybeAck(); err != nil {
			return message{}, err
		}
		handled, err := c.handleControl(m)
		if err != nil {
			return message{}, err
		}
		if !handled {
			return m, nil
		}
	}
}

// handleControl applies protocol control and user control messages.
func (c *Conn) handleControl(m message) (bool, error) {
	p := m.payload
	switch m.typeID {
	case typeSetChunkSize:
		if len(p) < 4 {
			return true, fmt.Errorf("Set Chunk Size with %d-byte payload", len(p))
		}
		return true, c.cr.setChunkSize(binary.BigEndian.Uint32(p))
	case typeAbort:
		if len(p) >= 4 {
			c.cr.abort(binary.BigEndian.Uint32(p))
		}
		return true, nil
	case typeAck:
		return true, nil
	case typeWindowAckSize:
		if len(p) >= 4 {
			c.ackWindow = binary.BigEndian.Uint32(p)
		}
		return true, nil
	case typeSetPeerBandwidth:
		// The spec asks the receiver to answer with its Window Acknowledgement Size when
		// the window differs from the last one it announced.
		if len(p) >= 4 {
			if w := binary.BigEndian.Uint32(p); w != c.announcedWin {
				c.announcedWin = w
				return true, c.writeControl(typeWindowAckSize, binary.BigEndian.AppendUint32(nil, w))
			}
		}
		return true, nil
	case typeUserControl:
		// Event type(2) then event data; Ping Request carries a 4-byte timestamp that the
		// Ping Response echoes.
		if len(p) >= 6 && binary.BigEndian.Uint16(p) == userControlPing {
			pong := []byte{0, userControlPong, p[2], p[3], p[4], p[5]}
			return true, c.writeControl(typeUserControl, pong)
		}
		return true, nil
	}
	return false, nil
}

// maybeAck sends an Acknowledgement once the bytes received since the last one reach the
// window the server asked for. The sequence number is the byte count modulo 2^32.
func (c *Conn) maybeAck() error {
	if c.ackWindow == 0 || c.in.n-c.lastAck < uint64(c.ackWindow) {
		return nil
	}
	c.lastAck = c.in.n
	return c.writeControl(typeAck, binary.BigEndian.AppendUint32(nil, uint32(c.in.n)))
}

// setChunkSize announces and starts using the outgoing chunk size.
func (c *Conn) setChunkSize(size int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	payload := binary.BigEndian.AppendUint32(nil, uint32(size))
	if err := c.cw.writeMessage(csidControl, typeSetChunkSize, 0, 0, payload); err != nil {
		return err
	}
	c.cw.chunkSize = size
	return c.bw.Flush()
}

// writeControl writes a protocol or user control message; after Close started it does
// nothing, so the reader never holds the socket while Close wants it.
func (c *Conn) writeControl(typeID byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() || c.writeErr != nil {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	err := c.cw.writeMessage(csidControl, typeID, 0, 0, payload)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.writeErr = fmt.Errorf("rtmp: %s: write control message %d: %w", c.url.Redacted(), typeID, err)
		return fmt.Errorf("write control message %d: %w", typeID, err)
	}
	return nil
}

// writeCommand writes an AMF0 command message on the command chunk stream.
func (c *Conn) writeCommand(msid uint32, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cw.writeMessage(csidCommand, typeCommandAMF0, msid, 0, payload); err != nil {
		return err
	}
	return c.bw.Flush()
}

// WriteVideo sends one video message: an FLV video tag body (flv.AppendSequenceHeader,
// flv.AppendVideoTag) at timestamp ms. It fails at once when the connection already failed
// (see Err) and after WriteTimeout when the peer stops reading.
func (c *Conn) WriteVideo(timestamp uint32, body []byte) error {
	return c.writeMedia(Video, timestamp, body, true)
}

// csidAudio is the chunk stream of audio messages (ffmpeg's choice too), apart from video so
// that each compresses its chunk headers against its own kind.
const csidAudio = 4

// WriteAudio sends one audio message: an FLV audio tag body (flv.AppendAudioSequenceHeader,
// flv.AppendAudioTag) at timestamp ms, failing like WriteVideo.
func (c *Conn) WriteAudio(timestamp uint32, body []byte) error {
	return c.writeMedia(Audio, timestamp, body, true)
}

// WriteData sends one AMF0 data message, such as flv.AppendMetadata's output, at timestamp
// ms.
func (c *Conn) WriteData(timestamp uint32, body []byte) error {
	return c.writeMedia(Data, timestamp, body, true)
}

// MediaKind is the kind of a media message that Send writes.
type MediaKind uint8

const (
	Video MediaKind = iota // an FLV video tag body, as for WriteVideo
	Audio                  // an FLV audio tag body, as for WriteAudio
	Data                   // an AMF0 data message, as for WriteData
)

// mediaKinds maps a MediaKind to its chunk stream, message type id and name.
var mediaKinds = [...]struct {
	csid   uint32
	typeID byte
	name   string
}{Video: {csidVideo, typeVideo, "video"}, Audio: {csidAudio, typeAudio, "audio"}, Data: {csidData, typeDataAMF0, "data"}}

// Send writes one media message like WriteVideo, WriteAudio or WriteData, but into the
// connection's buffer: it reaches the socket when the buffer fills or at Flush. A writer
// that has several messages ready (a picture and the audio of its span) sends them with
// one system call and wakes the server once, instead of once per message.
func (c *Conn) Send(kind MediaKind, timestamp uint32, body []byte) error {
	return c.writeMedia(kind, timestamp, body, false)
}

// Flush sends what Send left in the buffer, failing like WriteVideo.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil || c.bw.Buffered() == 0 {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if c.closing.Load() {
		return ErrClosed
	}
	if err := c.bw.Flush(); err != nil {
		c.writeErr = fmt.Errorf("rtmp: %s: flush: %w", c.url.Redacted(), err)
		return c.writeErr
	}
	return nil
}

// writable is the error that any write must return now: after Close, after a failed
// write, or after the reader saw the connection fail. c.mu is held.
func (c *Conn) writable() error {
	if c.closing.Load() {
		return ErrClosed
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	if p := c.asyncErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Conn) writeMedia(kind MediaKind, timestamp uint32, body []byte, flush bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if c.closing.Load() {
		// Close may have shortened the deadline just before the line above extended it.
		return ErrClosed
	}
	k := mediaKinds[kind]
	err := c.cw.writeMessage(k.csid, k.typeID, c.streamID, timestamp, body)
	if err == nil && flush {
		err = c.bw.Flush()
	}
	if err != nil {
		c.writeErr = fmt.Errorf("rtmp: %s: write %s message (%d bytes) at %d ms: %w", c.url.Redacted(), k.name, len(body), timestamp, err)
		return c.writeErr
	}
	return nil
}

// readLoop is the reader goroutine: it runs from the end of Dial until the connection ends.
func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		m, err := c.readMessage()
		if err != nil {
			if c.closing.Load() {
				return
			}
			if after := time.Since(c.publishedAt); closedByPeer(err) && after < RefusalWindow {
				c.setAsyncErr(fmt.Errorf("rtmp: %s: %v after confirming the publish: %w (%w)",
					c.url.Redacted(), after.Round(time.Microsecond), ErrRefused, err))
			} else if closedByPeer(err) {
				c.setAsyncErr(fmt.Errorf("rtmp: %s: connection closed by server: %w", c.url.Redacted(), err))
			} else {
				c.setAsyncErr(fmt.Errorf("rtmp: %s: %w", c.url.Redacted(), err))
			}
			return
		}
		if m.typeID != typeCommandAMF0 && m.typeID != typeCommandAMF3 {
			continue
		}
		cmd, err := decodeCommand(m)
		if err != nil {
			c.log.Debug("rtmp: undecodable command from server", "url", c.url, "err", err)
			continue
		}
		info := cmd.info()
		c.log.Debug("rtmp: command from server", "url", c.url, "name", cmd.name, "code", info.String("code"))
		if (cmd.name == "onStatus" || cmd.name == "onFCPublish") && info.String("level") == "error" {
			c.setAsyncErr(fmt.Errorf("rtmp: %s: %w", c.url.Redacted(), statusError(info, c.secrets()...)))
		}
	}
}

// closedByPeer reports an error of a read from a socket the server closed or reset.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

func (c *Conn) setAsyncErr(err error) {
	if c.asyncErr.CompareAndSwap(nil, &err) {
		c.log.Debug("rtmp: connection failed", "url", c.url, "err", err)
	}
}

// Err returns the first error the reader goroutine saw: the server closing the connection,
// a read error, or an onStatus error. It is nil while the stream is healthy.
func (c *Conn) Err() error {
	if p := c.asyncErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Done is closed when the reader goroutine has ended: after Close, or when the connection
// failed (Err says why).
func (c *Conn) Done() <-chan struct{} { return c.done }

// BytesWritten is the number of bytes written to the socket, headers included (after TLS
// it counts the plaintext).
func (c *Conn) BytesWritten() uint64 { return c.written.Load() }

// StreamID is the message stream id the server gave to the published stream.
func (c *Conn) StreamID() uint32 { return c.streamID }

// URL returns the parsed URL the Conn publishes to.
func (c *Conn) URL() URL { return c.url }

// Close ends the stream: FCUnpublish and deleteStream when the connection is still
// healthy, then it closes the socket. It takes at most about a second, even against a
// server that stopped reading, and may be called more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Conn) close() error {
	end := time.Now().Add(closeTimeout)
	c.closing.Store(true)
	// Shorten the deadline of a write that may be stalled now, so the mutex comes free.
	c.nc.SetWriteDeadline(time.Now().Add(closeTimeout / 2))
	c.mu.Lock()
	if c.writeErr == nil && c.asyncErr.Load() == nil {
		c.nc.SetWriteDeadline(time.Now().Add(closeTimeout / 2))
		err := c.cw.writeMessage(csidCommand, typeCommandAMF0, 0, 0,
			appendCall(nil, "FCUnpublish", txnFCUnpublish, c.url.StreamName))
		if err == nil {
			err = c.cw.writeMessage(csidCommand, typeCommandAMF0, 0, 0, appendDeleteStream(nil, c.streamID))
		}
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil {
			c.log.Debug("rtmp: unpublish on close failed", "url", c.url, "err", err)
		}
	}
	c.writeErr = ErrClosed
	c.mu.Unlock()
	// Half-close, and let the server close its side: closing a socket with unread data in
	// its receive queue sends a reset, which may make the server drop the stream's end.
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(end)
	// The deadline normally ends the reader; the timer covers a conn that ignores it.
	wait := time.NewTimer(time.Until(end))
	select {
	case <-c.done:
	case <-wait.C:
	}
	wait.Stop()
	err := c.nc.Close()
	<-c.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("rtmp: %s: close: %w", c.url.Redacted(), err)
	}
	return nil
}
