// Package config is camnode's settings: one struct read from CAMNODE_* environment
// variables, its validation, and the redaction of the secrets it holds.
package config

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kelseyhightower/envconfig"

	"github.com/camnode/camnode/chat/platform"
	"github.com/camnode/camnode/internal/cafile"
	"github.com/camnode/camnode/internal/redact"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source"
)

// Prefix is the prefix of every camnode environment variable.
const Prefix = "CAMNODE"

// Config is every setting of a node. The envconfig tags name the variables (a contract:
// see DESIGN.md); desc is what `camnode --help` prints.
type Config struct {
	NodeID string `envconfig:"NODE_ID" desc:"the node's name in every topic; default: the hostname, sanitised to [a-z0-9_-]"`

	MQTTURL           string        `envconfig:"MQTT_URL" default:"tcp://127.0.0.1:1883" desc:"broker: tcp://, ssl://, mqtts://, ws://, wss://"`
	MQTTUsername      string        `envconfig:"MQTT_USERNAME" desc:"broker user name"`
	MQTTPassword      string        `envconfig:"MQTT_PASSWORD" desc:"broker password (secret: never printed)"`
	MQTTCAFile        string        `envconfig:"MQTT_CA_FILE" desc:"PEM file of CAs to trust for ssl:// and wss://"`
	MQTTCertFile      string        `envconfig:"MQTT_CERT_FILE" desc:"PEM client certificate for TLS"`
	MQTTKeyFile       string        `envconfig:"MQTT_KEY_FILE" desc:"PEM key of the client certificate"`
	MQTTTopicPrefix   string        `envconfig:"MQTT_TOPIC_PREFIX" default:"camnode" desc:"first topic level"`
	MQTTKeepAlive     time.Duration `envconfig:"MQTT_KEEPALIVE" default:"30s" desc:"MQTT keepalive; the broker publishes offline after 1.5x this when the node freezes"`
	HADiscovery       bool          `envconfig:"HA_DISCOVERY" default:"true" desc:"publish Home Assistant MQTT discovery"`
	HADiscoveryPrefix string        `envconfig:"HA_DISCOVERY_PREFIX" default:"homeassistant" desc:"Home Assistant discovery prefix"`
	RTMPURL           string        `envconfig:"RTMP_URL" desc:"ingest(s): rtmp://host[:port]/app/streamkey or rtmps://..., several separated by whitespace; every platform's form, Bilibili's .../live-bvc/?streamname=...&key=... included (required to stream; key and query are secret)"`
	RTMPCAFile        string        `envconfig:"RTMP_CA_FILE" desc:"PEM file of CAs to trust for rtmps:// besides the system's (the certificate is always verified)"`
	RTMPTimeout       time.Duration `envconfig:"RTMP_TIMEOUT" default:"10s" desc:"limit for each step of connecting to the ingest, and for each write"`
	ReconnectMin      time.Duration `envconfig:"RECONNECT_MIN" default:"500ms" desc:"first delay before reconnecting to the ingest"`
	ReconnectMax      time.Duration `envconfig:"RECONNECT_MAX" default:"30s" desc:"cap of the exponential reconnect delay to the ingest (jitter added) and to the MQTT broker"`
	SendBuffer        time.Duration `envconfig:"SEND_BUFFER" default:"4s" desc:"most stream time queued for a slow network before whole GOPs are dropped"`
	Source            string        `envconfig:"SOURCE" default:"auto" desc:"auto (the Pi camera through rpicam-vid where there is one, else the first V4L2 camera), rpicam[:N], v4l2:///dev/videoN, file:///path.h264, exec:<command>, testsrc"`
	SourceFormat      string        `envconfig:"SOURCE_FORMAT" default:"h264" desc:"what an exec: source writes: h264, or raw frames of WIDTH x HEIGHT: yuv420, nv12, yuyv, mjpeg"`
	Audio             string        `envconfig:"AUDIO" default:"silent" desc:"audio track: silent (AAC silence, so every platform takes the stream), none, or exec:<command> writing ADTS AAC"`
	AudioRate         int           `envconfig:"AUDIO_RATE" default:"48000" desc:"sample rate of the silent track: 48000 or 44100"`
	Encoder           string        `envconfig:"ENCODER" default:"auto" desc:"H.264 encoder for raw frames: auto (the board's hardware encoder, else x264), x264, v4l2m2m or v4l2m2m:/dev/videoN"`
	X264Preset        string        `envconfig:"X264_PRESET" default:"veryfast" desc:"x264 preset: ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow (ultrafast or superfast on a Pi 3/4)"`
	X264Profile       string        `envconfig:"X264_PROFILE" default:"high" desc:"x264 profile: baseline, main or high"`
	Rotate            int           `envconfig:"ROTATE" default:"0" desc:"rotate the picture: 0, 90, 180 or 270 degrees (camera control where present, else in the raw path)"`
	Flip              string        `envconfig:"FLIP" desc:"mirror the picture: h, v or hv; empty for none"`
	SnapshotInterval  time.Duration `envconfig:"SNAPSHOT_INTERVAL" default:"10s" desc:"period of the retained JPEG on <base>/snapshot while live; 0 = off"`
	HTTP              string        `envconfig:"HTTP" desc:"host:port of the local player (/) and HTTP-FLV (/live.flv); empty = off; beyond loopback CAMNODE_HTTP_TOKEN is required"`
	HTTPToken         string        `envconfig:"HTTP_TOKEN" desc:"token the local player asks for, at least 8 characters (secret: never printed)"`
	RTSP              string        `envconfig:"RTSP" desc:"host:port of the RTSP server (rtsp://HOST:PORT/live: H.264 + AAC over TCP and UDP, e.g. :8554); empty = off; beyond loopback CAMNODE_RTSP_USERNAME and _PASSWORD are required"`
	RTSPUsername      string        `envconfig:"RTSP_USERNAME" desc:"user name of RTSP and ONVIF clients"`
	RTSPPassword      string        `envconfig:"RTSP_PASSWORD" desc:"password of RTSP and ONVIF clients, at least 8 characters (secret: never printed)"`
	ONVIF             bool          `envconfig:"ONVIF" default:"false" desc:"ONVIF Profile S device and media services on the CAMNODE_HTTP listener, and WS-Discovery on UDP 3702, so that Home Assistant finds the camera (needs CAMNODE_RTSP and CAMNODE_HTTP)"`
	Width             int           `envconfig:"WIDTH" default:"1280" desc:"capture or encode width"`
	Height            int           `envconfig:"HEIGHT" default:"720" desc:"capture or encode height"`
	FPS               float64       `envconfig:"FPS" default:"30" desc:"capture or encode frame rate"`
	Bitrate           Bitrate       `envconfig:"BITRATE" default:"2500k" desc:"target video bitrate where the source/encoder takes one (bits/s; k and M suffixes)"`
	GOP               GOP           `envconfig:"GOP" default:"2s" desc:"keyframe interval: a duration (2s) or a frame count (60)"`
	Autostart         bool          `envconfig:"AUTOSTART" default:"false" desc:"start streaming at boot without a command"`
	TelemetryInterval time.Duration `envconfig:"TELEMETRY_INTERVAL" default:"10s" desc:"period of telemetry messages"`
	Danmaku           Carriers      `envconfig:"DANMAKU" default:"auto" desc:"where chat goes: any of sei, cc, amf, burn (comma separated), none, or auto: burn + sei where camnode encodes and a CJK font is there, sei + amf + cc where the H.264 passes through"`
	ChatMaxRunes      int           `envconfig:"CHAT_MAX_RUNES" default:"100" desc:"longest chat message in runes after trimming"`
	ChatBlocklist     []string      `envconfig:"CHAT_BLOCKLIST" desc:"words that get a chat message rejected, comma separated, any case (ASCII words match whole words, others anywhere)"`
	ChatRate          ChatRate      `envconfig:"CHAT_RATE" default:"20/s" desc:"most chat messages the node takes, N/duration with bursts of N (20/s, 100/1m), or 0 for no limit"`
	ChatUserRate      ChatRate      `envconfig:"CHAT_USER_RATE" default:"3/5s" desc:"most chat messages one user may send, N/duration, or 0 for no limit"`
	ChatQueue         int           `envconfig:"CHAT_QUEUE" default:"64" desc:"chat messages that may wait for the next frame; beyond, new ones are dropped"`
	DanmakuCCRows     int           `envconfig:"DANMAKU_CC_ROWS" default:"2" desc:"rows of roll-up captions for the cc carrier: 2 or 3"`
	DanmakuFont       string        `envconfig:"DANMAKU_FONT" desc:"font file(s) for burn (.ttf, .otf, .ttc), several separated by ':' (the first that has a character draws it); default: Noto Sans CJK or WenQuanYi if installed, else Go's Latin font"`
	DanmakuSize       float64       `envconfig:"DANMAKU_SIZE" default:"0.05" desc:"burn: font size as a share of the picture height (0.01 to 0.5)"`
	DanmakuArea       float64       `envconfig:"DANMAKU_AREA" default:"0.5" desc:"burn: share of the picture height, from the top, for scrolling comments (0.1 to 1)"`
	DanmakuOpacity    float64       `envconfig:"DANMAKU_OPACITY" default:"1" desc:"burn: opacity of the comments (0.1 to 1)"`
	LogLevel          string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat         string        `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`

	// Chat from the platforms: the rooms and endpoints are parsed by chat/platform alone.
	ChatFrom         platform.Rooms     `envconfig:"CHAT_FROM" desc:"platform live chat the node reads itself, whitespace-separated: bilibili:ROOM, bilibili-open:IDENTITY_CODE (secret), twitch:CHANNEL, youtube:VIDEO_ID, douyu:ROOM"`
	ChatEndpoints    platform.Endpoints `envconfig:"CHAT_ENDPOINTS" desc:"endpoint overrides of those readers, whitespace-separated name=URL: twitch=irc://, ircs://, ws://, wss://; bilibili=ws(s)://; bilibili_api=http(s)://; bilibili_open=http(s)://; douyu=ws(s)://; youtube=http(s)://"`
	TwitchOAuthToken string             `envconfig:"TWITCH_OAUTH_TOKEN" desc:"OAuth token to read Twitch chat as a named account; empty reads anonymously (secret: never printed)"`
	BilibiliCookie   string             `envconfig:"BILIBILI_COOKIE" desc:"a logged-in Bilibili cookie (SESSDATA=...; buvid3=...); without it Bilibili masks user names (secret: never printed)"`
	YouTubeAPIKey    string             `envconfig:"YOUTUBE_API_KEY" desc:"YouTube Data API key, required for youtube: rooms (secret: never printed)"`

	// Bilibili's open-live API, for bilibili-open:IDENTITY_CODE rooms.
	BilibiliAppID        int64  `envconfig:"BILIBILI_APP_ID" desc:"project id of an app on open-live.bilibili.com, required for bilibili-open: rooms"`
	BilibiliAccessKey    string `envconfig:"BILIBILI_ACCESS_KEY" desc:"that app's access_key_id, required for bilibili-open: rooms (secret: never printed)"`
	BilibiliAccessSecret string `envconfig:"BILIBILI_ACCESS_SECRET" desc:"that app's access_key_secret, required for bilibili-open: rooms (secret: never printed)"`
}

// Error is a bad setting: the variable and what is wrong with it. It never holds a secret's value.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load reads the configuration from the environment. A misspelled CAMNODE_ variable, a value
// that does not parse and a value out of range are all an *Error naming the variable and
// what it accepts.
//
// An empty value means the default (CAMNODE_FPS= in an env file), and a yes/no setting takes
// yes/no, on/off, true/false and 1/0 in any case. Load writes those back to the environment
// in the form envconfig reads (unset, and true/false), so a child process sees the same.
func Load() (*Config, error) {
	var c Config
	if err := envconfig.CheckDisallowed(Prefix, &c); err != nil {
		// envconfig says "unknown environment variable CAMNODE_X"
		name := strings.TrimSpace(strings.TrimPrefix(err.Error(), "unknown environment variable"))
		return nil, &Error{Var: name, Msg: "unknown setting (misspelled? see camnode --help)"}
	}
	if err := normalizeEnv(&c); err != nil {
		return nil, err
	}
	if err := envconfig.Process(Prefix, &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, parseError(pe)
		}
		return nil, &Error{Var: Prefix + "_*", Msg: err.Error()}
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = SanitizeID(host)
		if c.NodeID == "" {
			c.NodeID = "camnode"
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// normalizeEnv unsets empty CAMNODE_ variables and rewrites the yes/no forms of booleans.
func normalizeEnv(c *Config) error {
	for key, f := range settings() {
		v, ok := os.LookupEnv(key)
		if !ok {
			continue
		}
		if strings.TrimSpace(v) == "" {
			os.Unsetenv(key)
			continue
		}
		if f.Type.Kind() != reflect.Bool {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "yes", "on", "true", "1", "y":
			os.Setenv(key, "true")
		case "no", "off", "false", "0", "n":
			os.Setenv(key, "false")
		default:
			return &Error{Var: key, Msg: fmt.Sprintf("cannot parse %q: use true or false (also yes/no, on/off, 1/0)", v)}
		}
	}
	return nil
}

// accepts says what a number setting takes, for the error of a value that does not parse;
// Validate checks the same ranges.
var accepts = map[string]string{
	"WIDTH": "an even number from 16 to 7680", "HEIGHT": "an even number from 16 to 4320",
	"FPS": "1 to 240 (frames per second, e.g. 30 or 29.97)", "CHAT_MAX_RUNES": "1 to 1000",
	"CHAT_QUEUE": "1 to 10000", "DANMAKU_CC_ROWS": "2 or 3", "DANMAKU_AREA": "0.1 to 1 (a share of the picture height)",
	"DANMAKU_OPACITY": "0.1 to 1", "DANMAKU_SIZE": "0.01 to 0.5 (a share of the picture height)",
	"AUDIO_RATE": "48000 or 44100", "ROTATE": "0, 90, 180 or 270",
	"MQTT_KEEPALIVE": "a duration from 5s to 30m", "RTMP_TIMEOUT": "a duration from 100ms to 5m",
	"RECONNECT_MIN": "a duration like 500ms", "RECONNECT_MAX": "a duration up to 1h",
	"SEND_BUFFER": "a duration from 500ms to 1m", "TELEMETRY_INTERVAL": "a duration from 1s to 24h",
	"SNAPSHOT_INTERVAL": "a duration like 10s, or 0 for off",
	"BILIBILI_APP_ID":   "the project id of the app on open-live.bilibili.com, a number",
}

// parseError is the *Error of a value envconfig could not parse: the value, and what the
// setting accepts rather than Go's parser message.
func parseError(pe *envconfig.ParseError) *Error {
	what := accepts[strings.TrimPrefix(pe.KeyName, Prefix+"_")]
	msg := pe.Err.Error()
	var ne *strconv.NumError
	if errors.As(pe.Err, &ne) {
		msg = "not a number"
	}
	if what != "" {
		msg += ": use " + what
	}
	if pe.KeyName == Prefix+"_CHAT_FROM" {
		// The value may hold an identity code; chat/platform quotes the bad entry safely.
		return &Error{Var: pe.KeyName, Msg: msg}
	}
	return &Error{Var: pe.KeyName, Msg: fmt.Sprintf("cannot parse %q: %s", pe.Value, msg)}
}

var idPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// SanitizeID lowercases s and replaces everything outside [a-z0-9_-] with '-'.
func SanitizeID(s string) string {
	s = strings.ToLower(s)
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i] // a FQDN's first label is the host's name
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// Validate checks ranges and forms that the types alone do not.
func (c *Config) Validate() error {
	bad := func(v, format string, args ...any) error {
		return &Error{Var: Prefix + "_" + v, Msg: fmt.Sprintf(format, args...)}
	}
	if !idPattern.MatchString(c.NodeID) {
		return bad("NODE_ID", "%q: use 1-64 of a-z, 0-9, _ and -", c.NodeID)
	}
	if c.MQTTTopicPrefix == "" || strings.ContainsAny(c.MQTTTopicPrefix, "#+\x00") || strings.HasPrefix(c.MQTTTopicPrefix, "/") || strings.HasSuffix(c.MQTTTopicPrefix, "/") {
		return bad("MQTT_TOPIC_PREFIX", "%q is not a usable topic prefix (no #, +, leading or trailing /)", c.MQTTTopicPrefix)
	}
	if c.HADiscoveryPrefix == "" || strings.ContainsAny(c.HADiscoveryPrefix, "#+\x00") {
		return bad("HA_DISCOVERY_PREFIX", "%q is not a usable topic prefix", c.HADiscoveryPrefix)
	}
	if !strings.Contains(c.MQTTURL, "://") {
		// 127.0.0.1:1883 or homeassistant.local:1883: url.Parse would call the host a scheme.
		if strings.Contains(c.MQTTURL, "@") {
			return bad("MQTT_URL", "no scheme: write tcp://host:1883 (or ssl://, mqtts://, ws://, wss://)")
		}
		return bad("MQTT_URL", "%q has no scheme: use tcp://%s (or ssl://, mqtts://, ws://, wss://)", c.MQTTURL, c.MQTTURL)
	}
	u, err := url.Parse(c.MQTTURL)
	if err != nil {
		return bad("MQTT_URL", "not a URL: %s", RedactURL(c.MQTTURL))
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "mqtts", "tls", "ws", "wss":
	default:
		return bad("MQTT_URL", "scheme %q: use tcp://, ssl://, mqtts://, ws:// or wss://", u.Scheme)
	}
	if u.Host == "" {
		return bad("MQTT_URL", "%s has no host", RedactURL(c.MQTTURL))
	}
	if (c.MQTTCertFile == "") != (c.MQTTKeyFile == "") {
		return bad("MQTT_KEY_FILE", "a client certificate needs both CAMNODE_MQTT_CERT_FILE and CAMNODE_MQTT_KEY_FILE")
	}
	for v, path := range map[string]string{"MQTT_CA_FILE": c.MQTTCAFile, "MQTT_CERT_FILE": c.MQTTCertFile, "MQTT_KEY_FILE": c.MQTTKeyFile} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				return bad(v, "cannot read %s: %v", path, errors.Unwrap(err))
			}
		}
	}
	if c.MQTTCAFile != "" || c.MQTTCertFile != "" {
		switch u.Scheme {
		case "ssl", "mqtts", "tls", "wss":
		default:
			v := "MQTT_CA_FILE"
			if c.MQTTCAFile == "" {
				v = "MQTT_CERT_FILE"
			}
			return bad(v, "TLS files are for a TLS broker, and CAMNODE_MQTT_URL is %s://: use ssl://, mqtts:// or wss://", u.Scheme)
		}
	}
	if c.MQTTKeepAlive < 5*time.Second || c.MQTTKeepAlive > 30*time.Minute {
		return bad("MQTT_KEEPALIVE", "%v: use 5s to 30m", c.MQTTKeepAlive)
	}
	if msg := splitPaste(c.RTMPURL); msg != "" {
		return bad("RTMP_URL", "%s", msg)
	}
	for i, raw := range strings.Fields(c.RTMPURL) {
		// The one parser the publisher uses: what is accepted here is what is sent.
		if _, err := rtmp.ParseURL(raw); err != nil {
			which := ""
			if len(strings.Fields(c.RTMPURL)) > 1 {
				which = fmt.Sprintf("URL %d, ", i+1)
			}
			why := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "rtmp: "), rtmp.ErrURL.Error()+": ")
			if i := strings.Index(why, "://"); i > 0 && !strings.Contains(why[:i], " ") {
				_, why, _ = strings.Cut(why, ": ") // "rtmp://host: want ..." repeats the URL shown before it
			}
			return bad("RTMP_URL", "%s%s: %s", which, RedactURL(raw), why)
		}
	}
	if c.Autostart && strings.TrimSpace(c.RTMPURL) == "" && c.HTTP == "" && c.RTSP == "" {
		return bad("RTMP_URL", "CAMNODE_AUTOSTART is on but no ingest and no local output is set: set rtmp://host/app/streamkey, or CAMNODE_HTTP or CAMNODE_RTSP for a preview (or switch autostart off)")
	}
	if c.RTMPCAFile != "" {
		if err := checkPEMCertificates(c.RTMPCAFile); err != "" {
			return bad("RTMP_CA_FILE", "%s", err)
		}
	}
	if c.RTMPTimeout < 100*time.Millisecond || c.RTMPTimeout > 5*time.Minute {
		return bad("RTMP_TIMEOUT", "%v: use 100ms to 5m", c.RTMPTimeout)
	}
	if c.ReconnectMin <= 0 || c.ReconnectMin > c.ReconnectMax {
		return bad("RECONNECT_MIN", "%v must be above 0 and at most CAMNODE_RECONNECT_MAX (%v)", c.ReconnectMin, c.ReconnectMax)
	}
	if c.ReconnectMax > time.Hour {
		return bad("RECONNECT_MAX", "%v: at most 1h", c.ReconnectMax)
	}
	if c.SendBuffer < 500*time.Millisecond || c.SendBuffer > time.Minute {
		return bad("SEND_BUFFER", "%v: use 500ms to 1m", c.SendBuffer)
	}
	src, err := source.Parse(c.Source)
	if err != nil {
		return bad("SOURCE", "%v", err)
	}
	switch c.SourceFormat {
	case "h264":
	case "yuv420", "nv12", "yuyv", "mjpeg":
		if d := src.Describe(); !strings.HasPrefix(d, "exec:") {
			return bad("SOURCE_FORMAT", "%s is for an exec: source; CAMNODE_SOURCE %s tells its own format: leave this h264", c.SourceFormat, d)
		}
	default:
		return bad("SOURCE_FORMAT", "%q: use h264, yuv420, nv12, yuyv or mjpeg", c.SourceFormat)
	}
	switch {
	case c.Audio == "silent", c.Audio == "none":
	case strings.HasPrefix(c.Audio, "exec:"):
		if strings.TrimSpace(strings.TrimPrefix(c.Audio, "exec:")) == "" {
			return bad("AUDIO", "exec: needs a command writing ADTS AAC, e.g. exec:ffmpeg -f alsa -i hw:1,0 -c:a aac -b:a 96k -f adts -")
		}
	default:
		return bad("AUDIO", "%q: use silent, none or exec:<command>", c.Audio)
	}
	if c.AudioRate != 48000 && c.AudioRate != 44100 {
		return bad("AUDIO_RATE", "%d: use 48000 or 44100", c.AudioRate)
	}
	switch {
	case c.Encoder == "auto", c.Encoder == "x264", c.Encoder == "v4l2m2m":
	case strings.HasPrefix(c.Encoder, "v4l2m2m:"):
		if !strings.HasPrefix(strings.TrimPrefix(c.Encoder, "v4l2m2m:"), "/dev/") {
			return bad("ENCODER", "%q: v4l2m2m: takes a device path, e.g. v4l2m2m:/dev/video11", c.Encoder)
		}
	default:
		return bad("ENCODER", "%q: use auto, x264, v4l2m2m or v4l2m2m:/dev/videoN", c.Encoder)
	}
	switch c.X264Preset {
	case "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo":
	default:
		return bad("X264_PRESET", "%q: use ultrafast, superfast, veryfast, faster, fast, medium, slow, slower or veryslow", c.X264Preset)
	}
	switch c.X264Profile {
	case "baseline", "main", "high":
	default:
		return bad("X264_PROFILE", "%q: use baseline, main or high", c.X264Profile)
	}
	switch c.Rotate {
	case 0, 90, 180, 270:
	default:
		return bad("ROTATE", "%d: use 0, 90, 180 or 270", c.Rotate)
	}
	switch c.Flip {
	case "", "h", "v", "hv":
	default:
		return bad("FLIP", "%q: use h, v or hv (or leave it empty)", c.Flip)
	}
	if c.SnapshotInterval != 0 && (c.SnapshotInterval < time.Second || c.SnapshotInterval > 24*time.Hour) {
		return bad("SNAPSHOT_INTERVAL", "%v: use 1s to 24h, or 0 for off", c.SnapshotInterval)
	}
	if err := checkHTTP(c.HTTP, c.HTTPToken); err != "" {
		if strings.HasPrefix(err, "token") {
			return bad("HTTP_TOKEN", "%s", err)
		}
		return bad("HTTP", "%s", err)
	}
	if v, err := checkRTSP(c.RTSP, c.RTSPUsername, c.RTSPPassword); err != "" {
		return bad(v, "%s", err)
	}
	if c.ONVIF && (c.RTSP == "" || c.HTTP == "") {
		return bad("ONVIF", "true needs CAMNODE_RTSP (the stream ONVIF clients are given) and CAMNODE_HTTP (where the ONVIF services answer)")
	}
	if c.Width < 16 || c.Width > 7680 || c.Width%2 != 0 {
		return bad("WIDTH", "%d: use an even number from 16 to 7680", c.Width)
	}
	if c.Height < 16 || c.Height > 4320 || c.Height%2 != 0 {
		return bad("HEIGHT", "%d: use an even number from 16 to 4320", c.Height)
	}
	if c.FPS < 1 || c.FPS > 240 {
		return bad("FPS", "%v: use 1 to 240", c.FPS)
	}
	if c.Bitrate < 16_000 || c.Bitrate > 200_000_000 {
		return bad("BITRATE", "%d bit/s: use 16k to 200M", int(c.Bitrate))
	}
	if frames := c.GOP.Frames(c.FPS); frames < 1 || frames > 3600 {
		return bad("GOP", "%s is %d frames at %v fps: use 1 to 3600 frames", c.GOP, frames, c.FPS)
	}
	if c.TelemetryInterval < time.Second || c.TelemetryInterval > 24*time.Hour {
		return bad("TELEMETRY_INTERVAL", "%v: use 1s to 24h", c.TelemetryInterval)
	}
	if c.ChatMaxRunes < 1 || c.ChatMaxRunes > 1000 {
		return bad("CHAT_MAX_RUNES", "%d: use 1 to 1000", c.ChatMaxRunes)
	}
	if len(c.ChatBlocklist) > 10000 {
		return bad("CHAT_BLOCKLIST", "%d words: at most 10000", len(c.ChatBlocklist))
	}
	for _, w := range c.ChatBlocklist {
		if n := utf8.RuneCountInString(strings.TrimSpace(w)); n > 100 {
			return bad("CHAT_BLOCKLIST", "a word of %d characters: at most 100 each", n)
		}
	}
	for v, r := range map[string]ChatRate{"CHAT_RATE": c.ChatRate, "CHAT_USER_RATE": c.ChatUserRate} {
		if err := r.check(); err != "" {
			return bad(v, "%s: %s", r, err)
		}
	}
	if c.ChatQueue < 1 || c.ChatQueue > 10000 {
		return bad("CHAT_QUEUE", "%d: use 1 to 10000", c.ChatQueue)
	}
	if c.DanmakuCCRows != 2 && c.DanmakuCCRows != 3 {
		return bad("DANMAKU_CC_ROWS", "%d: use 2 or 3", c.DanmakuCCRows)
	}
	for _, font := range c.DanmakuFonts() {
		if st, err := os.Stat(font); err != nil {
			return bad("DANMAKU_FONT", "cannot read %s: %v", font, errors.Unwrap(err))
		} else if st.IsDir() {
			return bad("DANMAKU_FONT", "%s is a directory: name a .ttf, .otf, .ttc or .otc file", font)
		}
	}
	if !(c.DanmakuSize >= 0.01 && c.DanmakuSize <= 0.5) {
		return bad("DANMAKU_SIZE", "%v: use 0.01 to 0.5 (a share of the picture height; 0.05 is 36 px at 720p)", c.DanmakuSize)
	}
	if !(c.DanmakuArea >= 0.1 && c.DanmakuArea <= 1) {
		return bad("DANMAKU_AREA", "%v: use 0.1 to 1 (a share of the picture height)", c.DanmakuArea)
	}
	if !(c.DanmakuOpacity >= 0.1 && c.DanmakuOpacity <= 1) {
		return bad("DANMAKU_OPACITY", "%v: use 0.1 to 1", c.DanmakuOpacity)
	}
	for _, r := range c.ChatFrom {
		if r.Platform == platform.YouTube && c.YouTubeAPIKey == "" {
			return bad("YOUTUBE_API_KEY", "%s needs a YouTube Data API key (console.cloud.google.com, YouTube Data API v3)", r)
		}
		if r.Platform != platform.BilibiliOpen {
			continue
		}
		const app = "needs the app of open-live.bilibili.com that reads it: its project id, access_key_id and access_key_secret"
		switch {
		case c.BilibiliAppID <= 0:
			return bad("BILIBILI_APP_ID", "%s %s (the project id is a positive number)", r, app)
		case c.BilibiliAccessKey == "":
			return bad("BILIBILI_ACCESS_KEY", "%s %s", r, app)
		case c.BilibiliAccessSecret == "":
			return bad("BILIBILI_ACCESS_SECRET", "%s %s", r, app)
		}
	}
	if strings.ContainsAny(c.BilibiliCookie, "\r\n") {
		return bad("BILIBILI_COOKIE", "a line break in the cookie: give the Cookie header's value on one line (SESSDATA=...; buvid3=...)")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return bad("LOG_LEVEL", "%q: use debug, info, warn or error", c.LogLevel)
	}
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		return bad("LOG_FORMAT", "%q: use text or json", c.LogFormat)
	}
	return nil
}

// checkHTTP says what is wrong with the local player's address and token; a message about
// the token starts with "token".
func checkHTTP(addr, token string) string {
	if addr == "" {
		if token != "" {
			return "token is set but CAMNODE_HTTP is empty: set CAMNODE_HTTP too, e.g. 127.0.0.1:8080"
		}
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q: use host:port, e.g. 127.0.0.1:8080 or :8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port is a number from 1 to 65535", addr)
	}
	switch {
	case !httpflv.Loopback(host) && token == "":
		return fmt.Sprintf("token required: %s listens beyond loopback; set CAMNODE_HTTP_TOKEN (8 characters or more), or listen on 127.0.0.1", addr)
	case token != "" && utf8.RuneCountInString(token) < 8:
		return "token of fewer than 8 characters: use 8 or more"
	}
	return ""
}

// checkRTSP says what is wrong with the RTSP server's address and credentials, and which
// variable (without the prefix) to change.
func checkRTSP(addr, user, password string) (string, string) {
	if addr == "" {
		if user != "" || password != "" {
			return "RTSP", "credentials are set but CAMNODE_RTSP is empty: set CAMNODE_RTSP too, e.g. :8554"
		}
		return "", ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "RTSP", fmt.Sprintf("%q: use host:port, e.g. 127.0.0.1:8554 or :8554", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "RTSP", fmt.Sprintf("%q: the port is a number from 1 to 65535", addr)
	}
	loopback := httpflv.Loopback(host)
	switch {
	case (user == "") != (password == ""):
		if user == "" {
			return "RTSP_USERNAME", "a password is set without a user name: set both, or neither"
		}
		return "RTSP_PASSWORD", "a user name is set without a password: set both, or neither"
	case !loopback && user == "":
		return "RTSP_USERNAME", fmt.Sprintf("credentials required: %s listens beyond loopback; set CAMNODE_RTSP_USERNAME and CAMNODE_RTSP_PASSWORD (8 characters or more), or listen on 127.0.0.1", addr)
	case password != "" && utf8.RuneCountInString(password) < 8:
		return "RTSP_PASSWORD", "password of fewer than 8 characters: use 8 or more"
	case strings.ContainsAny(user, ":@/") || strings.ContainsFunc(user+password, unicode.IsControl):
		return "RTSP_USERNAME", "the user name may not hold ':', '@' or '/', nor either of them a control character"
	}
	return "", ""
}

// splitPaste says what is wrong when CAMNODE_RTMP_URL holds a server URL followed, after a
// space, by a word without a scheme: the server URL and the stream key of a platform's
// page, pasted as two (whitespace separates destinations). The word is not shown: it is
// the key.
func splitPaste(setting string) string {
	fields := strings.Fields(setting)
	for i := 1; i < len(fields); i++ {
		if strings.Contains(fields[i], "://") || !strings.Contains(fields[i-1], "://") {
			continue
		}
		server := RedactURL(fields[i-1])
		if _, err := rtmp.ParseURL(fields[i-1]); err != nil {
			// A server URL alone does not parse, and its redaction hides the app: show it
			// up to the host.
			if scheme, rest, ok := strings.Cut(fields[i-1], "://"); ok {
				host, _, _ := strings.Cut(rest, "/")
				server = scheme + "://" + host + "/…"
			}
		}
		return fmt.Sprintf("%s is followed by a word without rtmp:// (%d characters): a server URL and its stream key pasted with a space between? Write them as one URL, rtmp://host/app/streamkey (Bilibili: the server URL then its ?streamname=… part, no space); several destinations are full URLs separated by spaces",
			server, len(fields[i]))
	}
	return ""
}

// Targets are the destinations of CAMNODE_RTMP_URL, parsed by the publisher's own parser, in
// the order given. A Config that passed Validate has one for every URL in the setting.
func (c *Config) Targets() []rtmp.URL {
	var out []rtmp.URL
	for _, raw := range strings.Fields(c.RTMPURL) {
		if u, err := rtmp.ParseURL(raw); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// DanmakuFonts are the font files of CAMNODE_DANMAKU_FONT, in order (separated by ':').
func (c *Config) DanmakuFonts() []string {
	var out []string
	for _, f := range strings.Split(c.DanmakuFont, ":") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkPEMCertificates says what is wrong with a CA file: unreadable, or no PEM
// certificate that parses in it.
func checkPEMCertificates(path string) string {
	err := cafile.Check(path)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, cafile.ErrNoCertificate):
		return fmt.Sprintf("%s holds no PEM certificate (want -----BEGIN CERTIFICATE-----)", path)
	}
	return fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))
}

// Bitrate is bits per second, written as 2500000, 2500k or 2.5M.
type Bitrate int

// Decode implements envconfig.Decoder.
func (b *Bitrate) Decode(s string) error {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return fmt.Errorf("want bits per second like 2500k or 4M")
	}
	*b = Bitrate(f * mult)
	return nil
}

// GOP is the keyframe interval: a duration ("2s") or a number of frames ("60").
type GOP struct {
	Duration time.Duration
	Count    int
}

// Decode implements envconfig.Decoder.
func (g *GOP) Decode(s string) error {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return fmt.Errorf("want a positive frame count or a duration like 2s")
		}
		*g = GOP{Count: n}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a duration like 2s or a frame count like 60")
	}
	*g = GOP{Duration: d}
	return nil
}

// Frames is the interval in frames at fps.
func (g GOP) Frames(fps float64) int {
	if g.Count > 0 {
		return g.Count
	}
	return int(g.Duration.Seconds()*fps + 0.5)
}

func (g GOP) String() string {
	if g.Count > 0 {
		return strconv.Itoa(g.Count)
	}
	return g.Duration.String()
}

// ChatRate is a chat rate limit: N messages per Per, in bursts of up to N. The zero value
// (written "0", "off" or "none") is no limit.
type ChatRate struct {
	N   int
	Per time.Duration
}

// Decode implements envconfig.Decoder: "20/s", "3/5s", "100/1m", "1/min", "0".
func (r *ChatRate) Decode(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "0", "off", "none", "":
		*r = ChatRate{}
		return nil
	}
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if !ok || err != nil || n < 0 {
		return fmt.Errorf("want messages per duration like 20/s or 3/5s, or 0 for no limit")
	}
	per = strings.TrimSpace(per)
	var d time.Duration
	switch per {
	case "s", "sec", "second":
		d = time.Second
	case "m", "min", "minute":
		d = time.Minute
	case "h", "hour":
		d = time.Hour
	default:
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return fmt.Errorf("want messages per duration like 20/s or 3/5s, or 0 for no limit")
		}
	}
	*r = ChatRate{N: n, Per: d}
	if n == 0 {
		*r = ChatRate{}
	}
	return nil
}

func (r ChatRate) String() string {
	if r.N == 0 {
		return "0"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

func (r ChatRate) check() string {
	switch {
	case r.N == 0:
		return ""
	case r.N > 10000:
		return "at most 10000 messages"
	case r.Per < 100*time.Millisecond || r.Per > 24*time.Hour:
		return "use a duration from 100ms to 24h"
	}
	return ""
}

// Carrier is one way chat reaches the stream.
type Carrier string

// The danmaku carriers of DESIGN.md.
const (
	CarrierSEI  Carrier = "sei"
	CarrierCC   Carrier = "cc"
	CarrierAMF  Carrier = "amf"
	CarrierBurn Carrier = "burn"
	// CarrierAuto is CAMNODE_DANMAKU=auto, alone in its set: the carriers are chosen when
	// the source opens (Carriers.Resolve).
	CarrierAuto Carrier = "auto"
)

// Carriers is the set of carriers switched on.
type Carriers []Carrier

// Decode implements envconfig.Decoder.
func (cs *Carriers) Decode(s string) error {
	var out Carriers
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == string(CarrierAuto) {
			if len(strings.Split(s, ",")) > 1 {
				return fmt.Errorf("auto stands alone: use auto, or a list of sei, cc, amf, burn")
			}
			*cs = Carriers{CarrierAuto}
			return nil
		}
		switch Carrier(f) {
		case CarrierSEI, CarrierCC, CarrierAMF, CarrierBurn:
			if !out.Has(Carrier(f)) {
				out = append(out, Carrier(f))
			}
		case "", "none":
		default:
			return fmt.Errorf("unknown carrier %q: use sei, cc, amf, burn, none or auto", f)
		}
	}
	*cs = out
	return nil
}

// Resolve is the set of carriers of a stream whose pictures are drawn into (burn-in
// works: camnode encodes, and for auto a CJK font is there) or not: for CAMNODE_DANMAKU=auto, burn + sei
// where drawn, else sei + amf + cc (the H.264 goes through, and captions are what platforms
// show); any other setting as it is, without burn where not drawn.
func (cs Carriers) Resolve(drawn bool) Carriers {
	switch {
	case cs.Auto() && drawn:
		return Carriers{CarrierBurn, CarrierSEI}
	case cs.Auto():
		return Carriers{CarrierSEI, CarrierAMF, CarrierCC}
	case drawn:
		return cs
	}
	return slices.DeleteFunc(slices.Clone(cs), func(c Carrier) bool { return c == CarrierBurn })
}

// Auto reports whether the carriers are chosen when the source opens (CAMNODE_DANMAKU=auto).
func (cs Carriers) Auto() bool { return cs.Has(CarrierAuto) }

// May reports whether c may carry chat: it is switched on, or auto may choose it.
func (cs Carriers) May(c Carrier) bool { return cs.Has(c) || cs.Auto() }

// Has reports whether c is switched on by name.
func (cs Carriers) Has(c Carrier) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// RedactURL hides, by structure, the secrets of a URL setting: for rtmp:// and rtmps:// the
// stream key, the query values and the fragment (see rtmp.URL.Redacted); for any other URL the
// password of its user info, its query values and fragment, and unless it is an MQTT broker's
// the last path element (a key given where an RTMP URL belongs). Several URLs separated by
// whitespace are redacted each. It never fails: what does not parse is hidden whole.
func RedactURL(raw string) string {
	fields := strings.Fields(raw)
	if len(fields) != 1 {
		for i, f := range fields {
			fields[i] = RedactURL(f)
		}
		return strings.Join(fields, " ")
	}
	raw = fields[0]
	if scheme, _, ok := strings.Cut(raw, "://"); ok && (strings.EqualFold(scheme, "rtmp") || strings.EqualFold(scheme, "rtmps")) {
		return rtmp.RedactText(raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || !strings.Contains(raw, "://") {
		return "****"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxx")
		}
	}
	q := ""
	if u.RawQuery != "" {
		q = "?" + redact.Query(u.RawQuery)
	}
	frag := ""
	if u.Fragment != "" {
		frag = "#****"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	if !isMQTTScheme(u.Scheme) {
		path := strings.TrimRight(u.Path, "/")
		if i := strings.LastIndexByte(path, '/'); i >= 0 && i+1 < len(path) {
			u.Path = path[:i+1] + "KEY"
			u.RawPath = ""
		}
	}
	s := strings.Replace(u.String(), ":xxxx@", ":****@", 1)
	s = strings.Replace(s, "/KEY", "/****", 1)
	return s + q + frag
}

func isMQTTScheme(s string) bool {
	switch strings.ToLower(s) {
	case "tcp", "mqtt", "ssl", "mqtts", "tls", "ws", "wss":
		return true
	}
	return false
}

// Redacted returns a copy whose secrets are replaced by ****, for logs and state payloads.
func (c Config) Redacted() Config {
	if c.MQTTPassword != "" {
		c.MQTTPassword = "****"
	}
	if c.HTTPToken != "" {
		c.HTTPToken = "****"
	}
	for _, f := range []*string{&c.RTSPPassword, &c.TwitchOAuthToken, &c.BilibiliCookie, &c.YouTubeAPIKey, &c.BilibiliAccessKey, &c.BilibiliAccessSecret} {
		if *f != "" {
			*f = "****"
		}
	}
	c.ChatFrom = slices.Clone(c.ChatFrom)
	for i, r := range c.ChatFrom {
		if r.Secret() != "" {
			c.ChatFrom[i].ID = "****"
		}
	}
	c.MQTTURL = RedactURL(c.MQTTURL)
	if c.RTMPURL != "" {
		c.RTMPURL = RedactURL(c.RTMPURL)
	}
	return c
}

// Secrets lists the secret values set in c: the MQTT password (also one in the broker URL),
// the HTTP token, the RTSP password, and every target's stream name, key, query and query values. Scrub hides
// those of MinScrubLen bytes or more wherever they occur in free text; the shorter ones are
// safe only where they are printed by structure (rtmp.URL, RedactURL), which is why every
// URL is printed so.
func (c *Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(c.MQTTPassword)
	add(c.HTTPToken)
	add(c.RTSPPassword)
	add(c.TwitchOAuthToken)
	add(strings.TrimPrefix(c.TwitchOAuthToken, "oauth:"))
	add(c.YouTubeAPIKey)
	add(c.BilibiliAccessKey)
	add(c.BilibiliAccessSecret)
	for _, r := range c.ChatFrom {
		add(r.Secret()) // a bilibili-open identity code
	}
	add(c.BilibiliCookie)
	for _, kv := range strings.Split(c.BilibiliCookie, ";") {
		_, v, _ := strings.Cut(kv, "=")
		add(strings.TrimSpace(v))
	}
	for _, u := range c.ChatEndpoints {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
	}
	if u, err := url.Parse(c.MQTTURL); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		add(pw)
	}
	for _, raw := range strings.Fields(c.RTMPURL) {
		if u, err := rtmp.ParseURL(raw); err == nil {
			for _, s := range u.Secrets() {
				add(s)
			}
			continue
		}
		// Not a URL the publisher takes (Validate says so): hide all but the scheme and host.
		_, rest, _ := strings.Cut(raw, "://")
		if _, path, ok := strings.Cut(rest, "/"); ok {
			add(path)
		}
	}
	return out
}

// Usage writes every setting with its variable, default and meaning. It reads the tags
// itself: envconfig.Usagef's text/template looks methods up by name, which makes the
// linker keep every exported method of every type (2 MB of the binary, resident).
func Usage(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for key, f := range settings() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", key, f.Tag.Get("default"), f.Tag.Get("desc"))
	}
	return tw.Flush()
}

// settings are the fields of Config with their CAMNODE_ variables, in order.
func settings() iter.Seq2[string, reflect.StructField] {
	return func(yield func(string, reflect.StructField) bool) {
		t := reflect.TypeFor[Config]()
		for i := range t.NumField() {
			f := t.Field(i)
			if !yield(Prefix+"_"+f.Tag.Get("envconfig"), f) {
				return
			}
		}
	}
}
