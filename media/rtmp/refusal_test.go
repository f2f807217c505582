package rtmp

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRefusalByClose: a server that closes the connection in answer to a command, as
// nginx-rtmp does for `deny publish` or an on_publish hook answering 403, refuses the stream:
// the error wraps ErrRefused and names the step. A close during the handshake is a broken
// server or network, not a refusal.
func TestRefusalByClose(t *testing.T) {
	tests := []struct {
		step    int
		name    string
		refused bool
	}{
		{stepHandshake, "handshake", false},
		{stepConnect, "connect", true},
		{stepCreateStream, "createStream", true},
		{stepPublish, "publish", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := listen(t, func(t *testing.T, s *fakeServer) {
				if tt.step == stepHandshake {
					io.ReadFull(s.br, make([]byte, 1+handshakeSize)) // C0+C1, then hang up
					return
				}
				s.acceptUntil(tt.step) // read the step's command, then hang up
			})
			_, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second})
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			if got := errors.Is(err, ErrRefused); got != tt.refused || IsRefused(err) != tt.refused {
				t.Errorf("close at %s: %v; refused=%v, want %v", tt.name, err, got, tt.refused)
			}
			if !strings.Contains(err.Error(), ": "+tt.name+": ") {
				t.Errorf("error %q does not name step %s", err, tt.name)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestRefusalAfterPublishStart: nginx-rtmp's access rules confirm the publish and drop the
// connection in the same breath. Err must call that a refusal; a close later on is a lost
// connection.
func TestRefusalAfterPublishStart(t *testing.T) {
	for _, tt := range []struct {
		name    string
		after   time.Duration
		refused bool
	}{
		{"at once", 0, true},
		{"later", RefusalWindow + 200*time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := listen(t, func(t *testing.T, s *fakeServer) {
				s.acceptUntil(stepDone)
				time.Sleep(tt.after)
			})
			c, err := Dial(context.Background(), testURL(addr), Options{Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the server's close went unnoticed")
			}
			err = c.Err()
			if err == nil || IsRefused(err) != tt.refused || !strings.Contains(err.Error(), "closed") {
				t.Fatalf("close %s after Publish.Start: Err = %v, want refused=%v", tt.name, err, tt.refused)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestTimeoutSaysSo: a step without an answer fails with an error a user reads as a
// timeout, and it is neither a refusal nor anything but a deadline error underneath.
func TestTimeoutSaysSo(t *testing.T) {
	addr := listen(t, func(t *testing.T, s *fakeServer) {
		io.Copy(io.Discard, s.br) // accepts TCP, never answers the handshake
	})
	_, err := Dial(context.Background(), testURL(addr), Options{Timeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "handshake: timed out, no answer within 200ms") {
		t.Fatalf("Dial to a silent server: %v", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || IsRefused(err) {
		t.Errorf("error %v: want a deadline error, not a refusal", err)
	}
}
