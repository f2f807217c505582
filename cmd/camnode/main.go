// Command camnode turns a computer with a camera into a live-streaming node driven over MQTT.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/node"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usageText = `camnode: an MQTT-controlled live-streaming node.

Usage:
  camnode [run]          run the node, configured from CAMNODE_* environment variables
  camnode demo [flags]   everything embedded: MQTT broker, RTMP ingest that records, a node
  camnode probe [dev]    list cameras, their formats, sizes, rates and controls
  camnode check          say line by line whether this node will work, and what to fix
  camnode forget [flags] clear the node's Home Assistant discovery from the broker
  camnode version        print the version and what this machine gives camnode
  camnode --help         this text and every setting

Exit codes: 0 clean stop (SIGINT/SIGTERM), 2 bad configuration, 1 anything else.

Settings (environment):
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		if len(args) > 0 {
			// camnode run takes its settings from the environment only: a flag here is a
			// mistake (camnode run --source=testsrc), not something to ignore.
			fmt.Fprintf(stderr, "camnode run: unexpected argument %q: the node's settings are CAMNODE_* environment variables (see camnode --help)\n", args[0])
			return 2
		}
		return runNode(stderr)
	case "check":
		return runCheck(args, stdout, stderr)
	case "demo":
		return runDemo(args, stdout, stderr)
	case "probe":
		return runProbe(args, stdout, stderr)
	case "forget":
		return runForget(args, stdout, stderr)
	case "version", "--version", "-version":
		versionReport(stdout)
		return 0
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usageText)
		if err := config.Usage(stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "camnode: unknown command %q (see camnode --help)\n", cmd)
		return 2
	}
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

// signalContext ends on SIGINT or SIGTERM: the clean stop that exits 0.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// loadConfig reads the settings; a bad one is reported naming its variable, exit code 2.
func loadConfig(stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "camnode: bad setting %s\n", err)
			return nil, 2
		}
		fmt.Fprintf(stderr, "camnode: %v\n", err)
		return nil, 1
	}
	return cfg, 0
}

func runNode(stderr io.Writer) int {
	// From the start: a SIGTERM right after the first log line (a service manager, a test)
	// is the clean stop, not the default action's kill.
	ctx, stop := signalContext()
	defer stop()
	cfg, code := loadConfig(stderr)
	if cfg == nil {
		return code
	}
	log := cfg.NewLogger(stderr)
	warnings, err := preflight(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "camnode: bad setting %s\n", config.Scrub(err.Error(), cfg.Secrets()))
		return 2
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	node.Version = version
	n, err := node.New(cfg, log)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "camnode: bad setting %s\n", config.Scrub(ce.Error(), cfg.Secrets()))
			return 2
		}
		// Not a setting (DESIGN: exit 1 for anything else).
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := n.Run(ctx); err != nil {
		log.Error("node failed", "err", err)
		return 1
	}
	return 0
}
