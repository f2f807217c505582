package douyu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// DefaultEndpoint is Douyu's danmaku WebSocket.
const DefaultEndpoint = "wss://danmuproxy.douyu.com:8506/"

// Options of a room's reader.
type Options struct {
	Room     string   // the room number
	Endpoint *url.URL // nil: DefaultEndpoint
	// Heartbeat is the period of mrkl heartbeats; a server that has sent nothing for three
	// periods is dead. 0 means 45 s.
	Heartbeat time.Duration
	// Timeout bounds connecting and the login; 0 means 15 s.
	Timeout time.Duration
}

// Session is one connection to the room, for a platform.Supervisor: loginreq, then
// joingroup with gid -9999 (every viewer's danmaku), then chatmsg until the connection fails.
func Session(o Options) platform.Session {
	if o.Endpoint == nil {
		o.Endpoint, _ = url.Parse(DefaultEndpoint)
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 45 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	return o.session
}

func (o Options) session(ctx context.Context, up func(), deliver func(chat.Message)) error {
	host := o.Endpoint.Host
	conn, err := platform.DialWebSocket(ctx, o.Endpoint, http.Header{"Origin": {"https://www.douyu.com"}}, o.Timeout, MaxFrame)
	if err != nil {
		return fmt.Errorf("douyu: %w", err)
	}
	defer conn.Close()
	send := func(body string) error { return conn.WriteBinary(AppendFrame(nil, TypeClient, body)) }
	if err := send(Marshal("type", "loginreq", "roomid", o.Room)); err != nil {
		return fmt.Errorf("douyu: %s: send loginreq: %w", host, err)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	beatCtx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	joined := false
	deadline := time.Now().Add(o.Timeout)
	for {
		b, err := conn.Read(deadline)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, platform.ErrReadTimeout) && !joined:
				return fmt.Errorf("douyu: %s: no loginres within %v", host, o.Timeout)
			case errors.Is(err, platform.ErrReadTimeout):
				return fmt.Errorf("douyu: %s: nothing heard for %v", host, 3*o.Heartbeat)
			}
			return fmt.Errorf("douyu: %s: read: %w", host, err)
		}
		if joined {
			deadline = time.Now().Add(3 * o.Heartbeat)
		}
		bodies, _ := Frames(b) // a broken frame ends its message, not the connection
		for _, body := range bodies {
			m, err := Unmarshal(body)
			if err != nil {
				continue
			}
			switch m["type"] {
			case "loginres":
				if joined {
					continue
				}
				if err := send(Marshal("type", "joingroup", "rid", o.Room, "gid", "-9999")); err != nil {
					return fmt.Errorf("douyu: %s: send joingroup: %w", host, err)
				}
				joined = true
				deadline = time.Now().Add(3 * o.Heartbeat)
				up()
				platform.Heartbeat(beatCtx, &wg, o.Heartbeat, false, func() error { return send(Marshal("type", "mrkl")) })
			case "error":
				return fmt.Errorf("douyu: %s: error code %s", host, m["code"])
			case "chatmsg":
				if msg, ok := Message(m); ok && joined {
					deliver(msg)
				}
			}
		}
	}
}
