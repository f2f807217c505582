package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/mqtt"
	"github.com/camnode/camnode/node"
)

const checkUsage = `Usage: camnode check [-env /etc/camnode/garden.env] [-timeout 15s]

Says line by line whether this node will work with its CAMNODE_* settings: the settings,
the camera (it opens and gives a picture), the encoder (it opens), the fonts (for burn-in),
the broker (it takes the credentials), each ingest (RTMP connect and publish, nothing
streamed) and the local ports. Each failure says what to change. Exit 0 only when every
line passes, 2 when a setting is bad, 1 otherwise.

Flags:
`

// checker prints the lines of camnode check and remembers whether one failed.
type checker struct {
	w      io.Writer
	failed bool
	scrub  func(string) string
}

// pass prints a line that passed.
func (c *checker) pass(what, format string, args ...any) {
	fmt.Fprintf(c.w, "✓ %s: %s\n", what, c.scrub(fmt.Sprintf(format, args...)))
}

// fail prints a failed line, naming the setting to change (variable, may be empty) and how.
func (c *checker) fail(what, variable, problem, fix string) {
	c.failed = true
	if variable != "" {
		what += " (" + variable + ")"
	}
	fmt.Fprintf(c.w, "✗ %s: %s\n", what, c.scrub(problem))
	if fix != "" {
		fmt.Fprintf(c.w, "    fix: %s\n", c.scrub(fix))
	}
}

// note prints a line that does not fail the check: something a user may want to know.
func (c *checker) note(what, msg string) {
	fmt.Fprintf(c.w, "! %s: %s\n", what, c.scrub(msg))
}

// runCheck is `camnode check`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camnode check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 15*time.Second, "limit for each line: the camera's first picture, the broker's and each ingest's answer")
	envFile := fs.String("env", "", "read the settings from this file too (the service's EnvironmentFile: VARIABLE=value lines), over the environment")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseCommand(fs, args, stderr); !ok {
		return code
	}
	c := &checker{w: stdout, scrub: func(s string) string { return s }}
	if *envFile != "" {
		if err := loadEnvFile(*envFile); err != nil {
			c.fail("settings", "", err.Error(), "")
			return 2
		}
	}
	cfg, err := config.Load()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			c.fail("settings", ce.Var, ce.Msg, "see camnode --help for what "+ce.Var+" takes")
			return 2
		}
		c.fail("settings", "", err.Error(), "")
		return 1
	}
	secrets := cfg.Secrets()
	c.scrub = func(s string) string { return config.Scrub(s, secrets) }
	warnings, err := preflight(cfg)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			c.fail("settings", ce.Var, ce.Msg, "")
			return 2
		}
		c.fail("settings", "", err.Error(), "")
		return 2
	}
	c.pass("settings", "source %s, %dx%d at %v fps, %d ingest(s), broker %s", source.Describe(cfg.Source),
		cfg.Width, cfg.Height, cfg.FPS, len(cfg.Targets()), config.RedactURL(cfg.MQTTURL))
	for _, w := range warnings {
		c.note("settings", w)
	}

	burn := cfg.Danmaku.Has(config.CarrierBurn)
	enc := encoder.Options{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: int(cfg.Bitrate),
		GOP: cfg.GOP.Frames(cfg.FPS), Preset: cfg.X264Preset, Profile: cfg.X264Profile}
	encName, encErr := pipeline.CheckEncoder(cfg.Encoder, enc)
	raw := checkCamera(c, cfg, encErr == nil, burn, *timeout)
	switch {
	case encErr == nil && (raw || burn):
		c.pass("encoder", "%s opens and codes %dx%d", encName, cfg.Width, cfg.Height)
	case encErr != nil && (raw || burn):
		c.fail("encoder", "CAMNODE_ENCODER", fmt.Sprintf("%s: %v", cfg.Encoder, encErr),
			"CAMNODE_ENCODER=x264 with libx264 installed (sudo apt install libx264-164), or v4l2m2m:/dev/videoN from camnode probe")
	case encErr == nil:
		c.pass("encoder", "%s opens (not needed: the camera's H.264 goes through)", encName)
	default:
		c.note("encoder", fmt.Sprintf("none (%v): not needed while the camera's H.264 goes through, but burn-in and raw cameras need one", encErr))
	}
	if burn {
		checkFonts(c, cfg)
	}
	checkBroker(c, cfg, *timeout)
	checkIngests(c, cfg, *timeout)
	checkPorts(c, cfg)
	if c.failed {
		return 1
	}
	return 0
}

// loadEnvFile sets the variables of a systemd EnvironmentFile: VARIABLE=value lines,
// blank lines and comments (# or ;) ignored, a value in matching quotes unquoted.
func loadEnvFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("%s line %d: want VARIABLE=value", path, n+1)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		os.Setenv(k, v)
	}
	return nil
}

// errGotPicture ends a source's run at its first picture.
var errGotPicture = errors.New("got a picture")

// checkCamera opens the source as the pipeline would and waits for its first picture; it
// tells whether the source gave raw pictures (which need the encoder).
func checkCamera(c *checker, cfg *config.Config, canEncode, burn bool, timeout time.Duration) (raw bool) {
	spec, err := source.Parse(cfg.Source)
	if err != nil {
		c.fail("camera", "CAMNODE_SOURCE", err.Error(), "")
		return false
	}
	turn, _ := picture.ParseOrientation(cfg.Rotate, cfg.Flip)
	opts := source.Options{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: int(cfg.Bitrate),
		GOP: cfg.GOP.Frames(cfg.FPS), Profile: cfg.X264Profile, Format: cfg.SourceFormat, Orientation: turn,
		CanEncode: canEncode, WantRaw: burn}
	o, err := spec.Open(opts)
	if err != nil {
		c.fail("camera", "CAMNODE_SOURCE", fmt.Sprintf("%s does not open: %v", spec.Describe(), err), cameraFix(cfg.Source))
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	var got string
	if o.Frames != nil {
		err = o.Frames.RunFrames(ctx, func(f *media.Frame) error {
			got = fmt.Sprintf("%dx%d raw pictures", f.Width, f.Height)
			return errGotPicture
		})
	} else {
		err = o.H264.Run(ctx, func(au *media.AccessUnit) error {
			for _, n := range au.NALUs {
				if h264.NALType(n) == h264.TypeSPS {
					if sps, err := h264.ParseSPS(n); err == nil {
						got = fmt.Sprintf("%dx%d H.264", sps.Width, sps.Height)
						return errGotPicture
					}
				}
			}
			return nil
		})
	}
	switch {
	case got != "":
		c.pass("camera", "%s gives %s (first picture after %.1f s)", spec.Describe(), got, time.Since(start).Seconds())
	case err == nil || ctx.Err() != nil:
		c.fail("camera", "CAMNODE_SOURCE", fmt.Sprintf("%s gave no picture within %v", spec.Describe(), timeout), cameraFix(cfg.Source))
	default:
		c.fail("camera", "CAMNODE_SOURCE", fmt.Sprintf("%s: %v", spec.Describe(), err), cameraFix(cfg.Source))
	}
	return o.Frames != nil
}

func cameraFix(uri string) string {
	return "camnode probe lists the cameras here; CAMNODE_SOURCE=" + strings.TrimSpace(uri) + " must name one of them (or use auto)"
}

// checkFonts says which font burn-in draws chat with.
func checkFonts(c *checker, cfg *config.Config) {
	if fonts := cfg.DanmakuFonts(); len(fonts) > 0 {
		c.pass("fonts", "%s (CAMNODE_DANMAKU_FONT)", strings.Join(fonts, ", "))
		return
	}
	for _, f := range render.SystemFonts {
		if _, err := os.Stat(f); err == nil {
			c.pass("fonts", "burn-in draws with %s", f)
			return
		}
	}
	c.fail("fonts", "CAMNODE_DANMAKU_FONT", "no CJK font found: Chinese and Japanese chat would be drawn as boxes",
		"sudo apt install fonts-noto-cjk, or name a .ttf/.otf/.ttc file in CAMNODE_DANMAKU_FONT")
}

// brokerWait bounds the broker line.
const brokerWait = 5 * time.Second

// checkBroker connects to the broker with the node's settings and credentials.
func checkBroker(c *checker, cfg *config.Config, timeout time.Duration) {
	topics := mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID+"-check", cfg.HADiscoveryPrefix)
	if topics.DiscoveryPrefix == "" {
		topics.DiscoveryPrefix = "homeassistant"
	}
	// A broker answers CONNECT at once; a port that does not within brokerWait is no broker.
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, brokerWait))
	defer cancel()
	_, err := mqtt.RetainedDiscovery(ctx, node.BrokerConfig(cfg, topics))
	broker := config.RedactURL(cfg.MQTTURL)
	if err == nil {
		c.pass("broker", "%s takes the node's connection", broker)
		return
	}
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case ctx.Err() != nil:
		c.fail("broker", "CAMNODE_MQTT_URL", fmt.Sprintf("%s: no MQTT answer within %v: something listens there but does not speak MQTT", broker, min(timeout, brokerWait)),
			"is that the broker's MQTT port? (1883 plain, 8883 TLS, 9001 MQTT over websockets with the ws scheme)")
	case strings.Contains(low, "not authori") || strings.Contains(low, "bad user name or password"):
		c.fail("broker", "CAMNODE_MQTT_USERNAME", fmt.Sprintf("%s refuses the credentials: %s", broker, msg),
			"set CAMNODE_MQTT_USERNAME and CAMNODE_MQTT_PASSWORD to a user the broker knows")
	case strings.Contains(low, "connection refused"):
		c.fail("broker", "CAMNODE_MQTT_URL", fmt.Sprintf("nothing listens at %s: %s", broker, msg), "start the broker, or correct the host and port")
	case strings.Contains(low, "certificate") || strings.Contains(low, "tls"):
		c.fail("broker", "CAMNODE_MQTT_CA_FILE", msg, "name the CA that signed the broker's certificate in CAMNODE_MQTT_CA_FILE")
	default:
		c.fail("broker", "CAMNODE_MQTT_URL", msg, "is it the broker's MQTT port (1883 plain, 8883 TLS)?")
	}
}

// checkIngests connects and publishes to each ingest, streaming nothing.
func checkIngests(c *checker, cfg *config.Config, timeout time.Duration) {
	targets := cfg.Targets()
	if len(targets) == 0 {
		c.note("ingest", "CAMNODE_RTMP_URL is empty: ON streams only to the local outputs")
		return
	}
	tlsCfg, err := pipeline.RTMPTLSConfig(cfg.RTMPCAFile)
	if err != nil {
		c.fail("ingest", "CAMNODE_RTMP_CA_FILE", err.Error(), "")
		return
	}
	for i, u := range targets {
		what := "ingest"
		if len(targets) > 1 {
			what = fmt.Sprintf("ingest %d", i+1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		conn, err := rtmp.DialURL(ctx, u, rtmp.Options{Timeout: min(cfg.RTMPTimeout, timeout), TLSConfig: tlsCfg})
		cancel()
		if err == nil {
			// A server may confirm the publish and refuse right after (nginx-rtmp's access
			// rules): give it a moment to say so.
			select {
			case <-conn.Done():
				err = conn.Err()
			case <-time.After(500 * time.Millisecond):
			}
			conn.Close()
		}
		if err == nil {
			c.pass(what, "%s takes the publish (nothing streamed)", u.Redacted())
			continue
		}
		fix := "check the server URL and the stream key the platform gave you"
		switch {
		case rtmp.IsRefused(err):
			fix = "the ingest refuses this stream key or app: copy the stream key again (it may have been reset)"
		case errors.Is(err, os.ErrDeadlineExceeded):
			fix = "no RTMP answer: is that the ingest's RTMP port (1935, 443 for rtmps)? a firewall?"
		case strings.Contains(err.Error(), "connection refused"):
			fix = "nothing listens there: check the host and port"
		}
		c.fail(what, "CAMNODE_RTMP_URL", err.Error(), fix)
	}
}

// checkPorts tries the local listeners' addresses.
func checkPorts(c *checker, cfg *config.Config) {
	if cfg.HTTP == "" {
		return
	}
	l, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		c.fail("port", "CAMNODE_HTTP", fmt.Sprintf("%s: %v", cfg.HTTP, err),
			"another program (or a camnode already running) holds it: choose another port")
		return
	}
	l.Close()
	c.pass("port", "%s is free for the player (CAMNODE_HTTP)", cfg.HTTP)
}
