package rtmp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

const handshakeSize = 1536

// handshake performs the simple (non-digest) RTMP handshake:
//
//	C0 = 0x03 (version)          C1 = time(4) zero(4) random(1528)
//	S0 = 0x03                    S1 = time(4) anything(4) random(1528)
//	C2 = S1's time, our read time, S1's random      S2 = echo of C1 (not checked)
//
// The zero in C1 bytes 4..7 tells servers that also speak the digest handshake (nginx-rtmp,
// SRS) to answer with the simple one.
func handshake(rw io.ReadWriter, flush func() error, epoch time.Time) error {
	var c0c1 [1 + handshakeSize]byte
	c0c1[0] = 3
	binary.BigEndian.PutUint32(c0c1[1:5], uint32(time.Since(epoch).Milliseconds()))
	rand.Read(c0c1[9:])
	if _, err := rw.Write(c0c1[:]); err != nil {
		return fmt.Errorf("write C0+C1: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("write C0+C1: %w", err)
	}
	var s0s1 [1 + handshakeSize]byte
	if _, err := io.ReadFull(rw, s0s1[:]); err != nil {
		return fmt.Errorf("read S0+S1: %w", unexpectedEOF(err))
	}
	if s0s1[0] != 3 {
		return fmt.Errorf("server speaks RTMP version %d, want 3", s0s1[0])
	}
	c2 := s0s1[1:]
	binary.BigEndian.PutUint32(c2[4:8], uint32(time.Since(epoch).Milliseconds()))
	if _, err := rw.Write(c2); err != nil {
		return fmt.Errorf("write C2: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("write C2: %w", err)
	}
	var s2 [handshakeSize]byte
	if _, err := io.ReadFull(rw, s2[:]); err != nil {
		return fmt.Errorf("read S2: %w", unexpectedEOF(err))
	}
	return nil
}
