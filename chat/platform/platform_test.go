package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
)

func TestParseRooms(t *testing.T) {
	rs, err := ParseRooms(" bilibili:21452505\ttwitch:#Some_Channel\n douyu:9999 youtube:dQw4w9WgXcQ bilibili:21452505 ")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.String())
	}
	if strings.Join(got, " ") != "bilibili:21452505 twitch:some_channel douyu:9999 youtube:dQw4w9WgXcQ" {
		t.Fatalf("%v", got)
	}
	for in, want := range map[string]string{
		"twitch":              "use bilibili:ROOM",
		"kick:someone":        "use bilibili:ROOM",
		"bilibili:0":          "the room is a number",
		"douyu:12a":           "the room is a number",
		"twitch:a-b":          "login name",
		"youtube:short":       "video id",
		"youtube:has/a/slash": "video id",
		strings.Repeat("twitch:a ", 1) + "twitch:b twitch:c twitch:d twitch:e twitch:f twitch:g twitch:h twitch:i": "at most 8",
	} {
		if _, err := ParseRooms(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// A bilibili-open entry's identity code is a secret: the room's name hides it, and no error
// about the entry, or about a misspelt platform before it, repeats it.
func TestParseRoomsHidesIdentityCode(t *testing.T) {
	rs, err := ParseRooms("bilibili-open:BQJ1D5NBMP5G0 BILIBILI-OPEN:BQJ1D5NBMP5G0")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].ID != "BQJ1D5NBMP5G0" || rs[0].Secret() != "BQJ1D5NBMP5G0" || rs[0].String() != "bilibili-open:****" ||
		fmt.Sprint(rs) != "[bilibili-open:****]" || fmt.Sprintf("%+v", rs[0]) != "bilibili-open:****" {
		t.Fatalf("%v %+v", rs, rs[0])
	}
	if (Room{Platform: Twitch, ID: "x"}).Secret() != "" {
		t.Fatal("a twitch channel is no secret")
	}
	for in, want := range map[string]string{
		"bilibili-open:SHORT7":                     `"bilibili-open:****": the identity code`,
		"bilibili-open:BQJ1D5NB-MP5G0":             `"bilibili-open:****": the identity code`,
		"bilibili-opne:BQJ1D5NBMP5G0":              `"bilibili-opne:…": use bilibili:ROOM, bilibili-open:IDENTITY_CODE`,
		"bilibili-open:" + strings.Repeat("A", 33): `"bilibili-open:****": the identity code`,
	} {
		_, err := ParseRooms(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "BQJ1") || strings.Contains(err.Error(), "SHORT7") {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	e, err := ParseEndpoints("twitch=IRC://127.0.0.1:6667 bilibili=ws://127.0.0.1:9000/sub bilibili_api=http://127.0.0.1:9001 youtube=http://u:p@127.0.0.1:9/v3?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if e["twitch"].String() != "irc://127.0.0.1:6667" || e["douyu"] != nil {
		t.Fatalf("%v", e)
	}
	if s := e.String(); strings.Contains(s, "p@") || !strings.Contains(s, "youtube=http://****@127.0.0.1:9/v3") {
		t.Fatalf("String %q", s)
	}
	for in, want := range map[string]string{
		"twitch":                        "name=URL",
		"twitch=http://x:1":             "irc, ircs, ws, wss",
		"bilibili=ws://":                "with a host",
		"twitch=irc://a twitch=irc://b": "named twice",
	} {
		if _, err := ParseEndpoints(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// The supervisor reports each connect and failure, waits a doubling jittered delay
// between attempts, and returns nil promptly when its context ends, mid-wait included.
func TestSupervisorBacksOffAndStops(t *testing.T) {
	var mu sync.Mutex
	var st []Status
	var starts []time.Time
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{Room: Room{Twitch, "x"}, Min: 20 * time.Millisecond, Max: 80 * time.Millisecond,
		Session: func(ctx context.Context, up func(), deliver func(chat.Message)) error {
			mu.Lock()
			starts = append(starts, time.Now())
			n := len(starts)
			mu.Unlock()
			if n == 2 {
				up()
				deliver(chat.Message{Text: "hi"})
			}
			if n == 6 {
				cancel()
				<-ctx.Done()
				return nil
			}
			return errors.New("boom")
		},
		OnStatus: func(s Status) { mu.Lock(); st = append(st, s); mu.Unlock() }}
	var got []chat.Message
	done := make(chan error)
	go func() { done <- s.Run(ctx, func(m chat.Message) { got = append(got, m) }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || len(st) != 6 || !st[1].Connected || st[0].Err == nil || st[0].Err.Error() != "boom" {
		t.Fatalf("messages %v, status %v", got, st)
	}
	// The retries double up to the cap, each within [0.75d, 1.25d).
	want := []time.Duration{20, 40, 80, 80, 80}
	for i, s := range []Status{st[0], st[2], st[3], st[4], st[5]} {
		d := want[i] * time.Millisecond
		if s.Retry < d*3/4 || s.Retry >= d*5/4 {
			t.Errorf("retry %d: %v, want about %v", i, s.Retry, d)
		}
	}
}

func FuzzParseRooms(f *testing.F) {
	f.Add("bilibili:21452505 twitch:#Chan youtube:dQw4w9WgXcQ douyu:9999")
	f.Add("bilibili-open:BQJ1D5NBMP5G0 bilibili-open:bqj1d5nbmp5g0")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRooms(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, r := range rs {
			if r.Secret() != "" && strings.Contains(r.String(), r.Secret()) {
				t.Fatalf("%q: the identity code shown", s)
			}
			b.WriteString(r.Platform + ":" + r.ID + " ") // as written: String hides a code
		}
		again, err := ParseRooms(b.String())
		if err != nil || len(again) != len(rs) {
			t.Fatalf("%q: rooms %v do not read back: %v %v", s, rs, again, err)
		}
	})
}

func FuzzParseEndpoints(f *testing.F) {
	f.Add("twitch=irc://127.0.0.1:6667 bilibili=ws://127.0.0.1:9000/sub")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEndpoints(s)
		if err != nil {
			return
		}
		for k, u := range e {
			if u.Host == "" || endpointSchemes[k] == nil {
				t.Fatalf("%q: %s=%v", s, k, u)
			}
		}
	})
}
