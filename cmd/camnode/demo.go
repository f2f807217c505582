package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/internal/demo"
	"github.com/camnode/camnode/media/ingest"
	"github.com/camnode/camnode/node"
)

// runDemo is `camnode demo`: an embedded broker and a recording ingest on loopback, and a
// node streaming the test source into them, so a user sees the whole loop with no setup.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camnode demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mqttAddr := fs.String("mqtt", "127.0.0.1:1883", "address of the embedded MQTT broker")
	rtmpAddr := fs.String("rtmp", "127.0.0.1:1935", "address of the embedded RTMP ingest")
	httpAddr := fs.String("http", "127.0.0.1:8080", "address of the local player (CAMNODE_HTTP wins when set)")
	dir := fs.String("dir", "rec", "directory the ingest records into")
	duration := fs.Duration("for", 0, "stop after this long (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h, --help: the usage went to stderr, as flag prints it
		}
		return 2
	}

	// The demo's own defaults; CAMNODE_* variables still win where they are set.
	defaults := map[string]string{"CAMNODE_NODE_ID": "demo", "CAMNODE_SOURCE": "testsrc", "CAMNODE_AUTOSTART": "true",
		"CAMNODE_TELEMETRY_INTERVAL": "5s", "CAMNODE_RECONNECT_MAX": "5s"}
	for k, v := range defaults {
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	os.Unsetenv("CAMNODE_MQTT_URL")
	// The embedded ingest's address is known only once it listens: a placeholder until then,
	// so that autostart finds a destination.
	os.Setenv("CAMNODE_RTMP_URL", "rtmp://127.0.0.1/live/demo")
	cfg, code := loadConfig(stderr)
	if cfg == nil {
		return code
	}
	log := cfg.NewLogger(stderr)
	quiet := slog.New(demoQuiet{log.Handler()})

	ln, fellBack, err := demo.Listen(*mqttAddr)
	if err != nil {
		fmt.Fprintf(stderr, "camnode demo: MQTT broker: %v\n", err)
		return 1
	}
	if fellBack {
		fmt.Fprintf(stdout, "Port %s is taken (another broker?); the demo broker uses %s instead.\n", *mqttAddr, ln.Addr())
	}
	broker, err := demo.StartBroker(ln, quiet)
	if err != nil {
		fmt.Fprintf(stderr, "camnode demo: MQTT broker: %v\n", err)
		return 1
	}
	defer broker.Close()

	recDir, _ := filepath.Abs(*dir)
	recorded := make(chan ingest.Recording, 16)
	ingestOpts := ingest.Options{Dir: recDir, Logger: quiet, OnRecording: func(r ingest.Recording) {
		select {
		case recorded <- r:
		default:
		}
	}}
	srv, err := ingest.Listen(*rtmpAddr, ingestOpts)
	if err != nil {
		srv, err = ingest.Listen(net.JoinHostPort(hostOf(*rtmpAddr), "0"), ingestOpts)
		if err != nil {
			fmt.Fprintf(stderr, "camnode demo: RTMP ingest: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "Port %s is taken (another RTMP server?); the demo ingest uses %s instead.\n", *rtmpAddr, srv.Addr())
	}

	if cfg.HTTP == "" {
		// The player's port is taken the way the other listeners' are: a free one if it
		// is busy. The probe's socket is closed for the node to bind the address again.
		pl, fellBack, err := demo.Listen(*httpAddr)
		if err != nil {
			fmt.Fprintf(stderr, "camnode demo: player: %v\n", err)
			return 1
		}
		cfg.HTTP = pl.Addr().String()
		pl.Close()
		if fellBack {
			fmt.Fprintf(stdout, "Port %s is taken (another web server?); the player uses %s instead.\n", *httpAddr, cfg.HTTP)
		}
	}
	node.Version = version
	cfg.MQTTURL = "tcp://" + broker.Addr()
	cfg.RTMPURL = "rtmp://" + srv.Addr().String() + "/live/" + cfg.NodeID
	n, err := node.New(cfg, log)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "camnode demo: bad setting %s\n", ce)
			return 2
		}
		fmt.Fprintf(stderr, "camnode demo: %v\n", err)
		return 1
	}

	ctx, stop := signalContext()
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	serveDone := make(chan struct{})
	ingestCtx, stopIngest := context.WithCancel(context.Background())
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ingestCtx); err != nil {
			fmt.Fprintf(stderr, "camnode demo: %v\n", err)
			stop()
		}
	}()

	host, port, _ := net.SplitHostPort(broker.Addr())
	base := n.Topics().Base
	mq := fmt.Sprintf("-h %s -p %s", host, port)
	fmt.Fprintf(stdout, `
camnode demo: everything runs on this machine, nothing to set up.
  MQTT broker  tcp://%s            (embedded)
  RTMP ingest  rtmp://%s/live      (embedded, records to %s)
  node         %q streaming %s
  player       %s       (open it in a browser: the picture with its chat)

Try in another terminal:
  mosquitto_sub %s -v -t '%s/#'
  mosquitto_pub %s -t %s/stream/set -m OFF
  mosquitto_pub %s -t %s/stream/set -m ON
  mosquitto_pub %s -t %s/keyframe/set -m PRESS
  mosquitto_pub %s -t %s/chat -m 'hello from MQTT'
Each recording is printed here when it ends; watch one with: ffplay <file>.flv
Ctrl-C stops the demo.

`, broker.Addr(), srv.Addr(), recDir, cfg.NodeID, cfg.Source, n.PlayerURL(), mq, base, mq, base, mq, base, mq, base, mq, base)

	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for {
			select {
			case r := <-recorded:
				fmt.Fprintf(stdout, "recorded %s (%d video tags, %dx%d, %s)\n", r.Path, r.VideoTags, r.Width, r.Height,
					r.Ended.Sub(r.Started).Round(100*time.Millisecond))
			case <-serveDone:
				return
			}
		}
	}()

	err = n.Run(ctx)
	// The node has closed its connection: let the ingest read what is still on its way and
	// finish the recording itself, rather than cut it when it stops.
	recordingsEnded(srv, 2*time.Second)
	stopIngest()
	<-serveDone
	<-printed
	for {
		select {
		case r := <-recorded:
			fmt.Fprintf(stdout, "recorded %s (%d video tags, %dx%d)\n", r.Path, r.VideoTags, r.Width, r.Height)
			continue
		default:
		}
		break
	}
	if err != nil {
		fmt.Fprintf(stderr, "camnode demo: %v\n", err)
		return 1
	}
	return 0
}

// recordingsEnded waits, at most timeout, until srv has no recording in progress.
func recordingsEnded(srv *ingest.Server, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(srv.Recordings(), func(r ingest.Recording) bool { return r.Ended.IsZero() }) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1"
	}
	return h
}

// demoQuiet keeps the embedded peers' chatter out of the demo's terminal: their info lines
// become debug lines.
type demoQuiet struct{ slog.Handler }

func (q demoQuiet) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelWarn {
		l = slog.LevelDebug
	}
	return q.Handler.Enabled(ctx, l)
}
