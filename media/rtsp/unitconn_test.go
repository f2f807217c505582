package rtsp

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// writes records the writes that reach the connection under a unitConn.
type writes struct {
	net.Conn
	mu  sync.Mutex
	got [][]byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

// interleaved is an RTP packet as gortsplib writes it on a TCP connection.
func interleaved(t *testing.T, pt uint8, seq uint16, marker bool, size int) []byte {
	t.Helper()
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Marker: marker}, Payload: make([]byte, size)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{'$', 0, byte(len(b) >> 8), byte(len(b))}, b...)
}

// TestUnitConnWritesABurstAtOnce: the packets of a named burst reach the connection in one
// write, in order, when its last packet comes; an RTCP packet or a response takes what is
// kept along at once; unnamed packets go as they come; a large burst goes in pieces.
func TestUnitConnWritesABurstAtOnce(t *testing.T) {
	w := &writes{}
	c := &unitConn{Conn: w}
	write := func(p []byte) {
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	wrote := func(what string, want ...[]byte) {
		t.Helper()
		if len(w.got) != len(want) {
			t.Fatalf("%s: %d writes, want %d", what, len(w.got), len(want))
		}
		for i := range want {
			if !bytes.Equal(w.got[i], want[i]) {
				t.Fatalf("%s: write %d is not the bytes given, in order", what, i)
			}
		}
		w.got = nil
	}

	// Unnamed: each packet at once.
	a := interleaved(t, 96, 1, false, 1000)
	write(a)
	wrote("before any burst is named", a)

	// A burst: audio (its marker set), then a picture in three packets.
	audio := interleaved(t, 97, 7, true, 300)
	v1, v2, v3 := interleaved(t, 96, 2, false, 1400), interleaved(t, 96, 3, false, 1400), interleaved(t, 96, 4, true, 500)
	c.endWith(&rtp.Packet{Header: rtp.Header{PayloadType: 96, SequenceNumber: 4}})
	for _, p := range [][]byte{audio, v1, v2} {
		write(p)
	}
	wrote("before the burst's last packet")
	write(v3)
	wrote("at the burst's last packet", bytes.Join([][]byte{audio, v1, v2, v3}, nil))

	// An RTCP sender report in the middle of a burst takes the kept packets along.
	c.endWith(&rtp.Packet{Header: rtp.Header{PayloadType: 96, SequenceNumber: 6}})
	v5 := interleaved(t, 96, 5, false, 1400)
	write(v5)
	sr := []byte{'$', 1, 0, 28, 0x80, 200, 0, 6}
	sr = append(sr, make([]byte, 24)...)
	write(sr)
	wrote("at an RTCP packet", append(bytes.Clone(v5), sr...))
	response := []byte("RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n")
	write(v5)
	write(response)
	wrote("at a response", append(bytes.Clone(v5), response...))

	// A burst larger than unitMax goes in pieces of at most unitMax.
	c.endWith(&rtp.Packet{Header: rtp.Header{PayloadType: 96, SequenceNumber: 1000}})
	var all []byte
	for seq := uint16(100); seq < 160; seq++ {
		p := interleaved(t, 96, seq, false, 1400)
		all = append(all, p...)
		write(p)
	}
	last := interleaved(t, 96, 1000, true, 100)
	all = append(all, last...)
	write(last)
	if len(w.got) < 2 {
		t.Fatalf("a burst of %d bytes went in %d writes", len(all), len(w.got))
	}
	for i, b := range w.got {
		if len(b) > unitMax {
			t.Errorf("write %d: %d bytes, more than %d", i, len(b), unitMax)
		}
	}
	if got := bytes.Join(w.got, nil); !bytes.Equal(got, all) {
		t.Errorf("the large burst's writes are not its bytes in order")
	}
}

// TestUnitConnNamesWithoutWaiting: naming the next burst does not wait for a write that
// is stuck (a reader that stopped reading): the output, which names bursts, never waits
// for a reader.
func TestUnitConnNamesWithoutWaiting(t *testing.T) {
	stuck, other := net.Pipe() // nothing reads other: a write blocks
	defer other.Close()
	c := &unitConn{Conn: stuck}
	go c.Write([]byte("RTSP/1.0 200 OK\r\n\r\n"))
	for c.mu.TryLock() { // until the write holds the connection
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		c.endWith(&rtp.Packet{Header: rtp.Header{PayloadType: 96, SequenceNumber: 1}})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("endWith waited for a blocked write")
	}
	stuck.Close()
}
