package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/redact"
	"github.com/camnode/camnode/media/flv"
)

// platformURLs are the forms platforms hand out, with what OBS and ffmpeg send for each.
var platformURLs = []struct {
	name, raw           string
	app, tcURL, publish string
	redacted            string
}{
	{"nginx", "rtmp://127.0.0.1/live/abc",
		"live", "rtmp://127.0.0.1/live", "abc",
		"rtmp://127.0.0.1:1935/live/****"},
	{"bilibili", "rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1234_5678&key=0123abcd&schedule=rtmp&pflag=1",
		"live-bvc", "rtmp://live-push.bilivideo.com/live-bvc", "?streamname=live_1234_5678&key=0123abcd&schedule=rtmp&pflag=1",
		"rtmp://live-push.bilivideo.com:1935/live-bvc/?streamname=****&key=****&schedule=****&pflag=****"},
	{"douyu", "rtmp://sendtc3.douyu.com/live/9876543rAbCdEf?wsSecret=5f4dcc3b5aa765d6&wsTime=6743e1b0&wsSeek=off&wm=0&tw=0&roirecognition=0&record=flv&origin=tct",
		"live", "rtmp://sendtc3.douyu.com/live", "9876543rAbCdEf?wsSecret=5f4dcc3b5aa765d6&wsTime=6743e1b0&wsSeek=off&wm=0&tw=0&roirecognition=0&record=flv&origin=tct",
		"rtmp://sendtc3.douyu.com:1935/live/****?wsSecret=****&wsTime=****&wsSeek=****&wm=****&tw=****&roirecognition=****&record=****&origin=****"},
	{"youtube", "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst",
		"live2", "rtmp://a.rtmp.youtube.com/live2", "abcd-efgh-ijkl-mnop-qrst",
		"rtmp://a.rtmp.youtube.com:1935/live2/****"},
	{"youtube rtmps", "rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl-mnop-qrst",
		"live2", "rtmps://a.rtmps.youtube.com:443/live2", "abcd-efgh-ijkl-mnop-qrst",
		"rtmps://a.rtmps.youtube.com:443/live2/****"},
	{"twitch", "rtmp://live.twitch.tv/app/live_123456789_AbCdEfGhIjKlMnOp",
		"app", "rtmp://live.twitch.tv/app", "live_123456789_AbCdEfGhIjKlMnOp",
		"rtmp://live.twitch.tv:1935/app/****"},
	{"facebook", "rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbCdEfGh?s_bl=1&s_psm=1&s_sc=1234&a=AbCd",
		"rtmp", "rtmps://live-api-s.facebook.com:443/rtmp", "FB-1234567890-0-AbCdEfGh?s_bl=1&s_psm=1&s_sc=1234&a=AbCd",
		"rtmps://live-api-s.facebook.com:443/rtmp/****?s_bl=****&s_psm=****&s_sc=****&a=****"},
	{"srs vhost query", "rtmp://10.0.0.2:1935/live/cam?vhost=v.example&token=s3cr/et",
		"live", "rtmp://10.0.0.2:1935/live", "cam?vhost=v.example&token=s3cr/et",
		"rtmp://10.0.0.2:1935/live/****?vhost=****&token=****"},
	{"app instance", "RTMP://ingest.example:1936/app/inst/key",
		"app/inst", "rtmp://ingest.example:1936/app/inst", "key",
		"rtmp://ingest.example:1936/app/inst/****"},
	{"ipv6", "rtmp://[::1]:19350/live/k",
		"live", "rtmp://[::1]:19350/live", "k",
		"rtmp://[::1]:19350/live/****"},
	{"trailing slash and spaces", " rtmp://h/live/k/ ",
		"live", "rtmp://h/live", "k",
		"rtmp://h:1935/live/****"},
	{"a # is part of the key", "rtmp://h/live/key#KEYSECRET",
		"live", "rtmp://h/live", "key#KEYSECRET",
		"rtmp://h:1935/live/****"},
	{"bare token query", "rtmp://h/live/key?SECRETTOKEN1",
		"live", "rtmp://h/live", "key?SECRETTOKEN1",
		"rtmp://h:1935/live/****?****"},
}

func TestParseURLPlatforms(t *testing.T) {
	for _, tt := range platformURLs {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.raw, err)
			}
			if u.App != tt.app || u.TCURL != tt.tcURL || u.StreamName != tt.publish {
				t.Errorf("ParseURL(%q): app %q tcUrl %q name %q; want %q %q %q", tt.raw, u.App, u.TCURL, u.StreamName, tt.app, tt.tcURL, tt.publish)
			}
			if got := u.Redacted(); got != tt.redacted {
				t.Errorf("Redacted() = %q, want %q", got, tt.redacted)
			}
			// What goes on the wire: the connect command's app and tcUrl, publish's name.
			app, tcURL, name := sentBy(t, u)
			if app != tt.app || tcURL != tt.tcURL || name != tt.publish {
				t.Errorf("commands send app %q tcUrl %q name %q; want %q %q %q", app, tcURL, name, tt.app, tt.tcURL, tt.publish)
			}
		})
	}
}

// sentBy decodes the connect and publish commands Dial would send for u.
func sentBy(t testing.TB, u URL) (app, tcURL, name string) {
	t.Helper()
	vals, err := flv.DecodeAMFValues(appendConnect(nil, u))
	if err != nil || len(vals) < 3 {
		t.Fatalf("connect command does not decode: %v", err)
	}
	obj := vals[2].(flv.AMFMap)
	vals, err = flv.DecodeAMFValues(appendCall(nil, "publish", txnPublish, u.StreamName, "live"))
	if err != nil || len(vals) < 4 {
		t.Fatalf("publish command does not decode: %v", err)
	}
	return obj.String("app"), obj.String("tcUrl"), vals[3].(string)
}

func TestParseURLErrors(t *testing.T) {
	const key = "SECRETKEY"
	tests := []string{
		"",
		"http://h/live/" + key,
		"rtmp:/h/live/" + key,
		"h/live/" + key,
		"rtmp://h/" + key,
		"rtmp://h/live/",
		"rtmp://h/live-bvc/?",
		"rtmp:///live/" + key,
		"rtmp://h:0/live/" + key,
		"rtmp://h:/live/" + key,
		"rtmp://h:+1/live/" + key,
		"rtmp://h:99999/live/" + key,
		"rtmp://h:x" + key + "/live/k",
		"rtmp://user:" + key + "@h/live/k",
		"rtmp://h/?" + key,
		"rtmp://h//live/" + key,
		"rtmp://h/live/" + key + " rtmp://h/live/" + key,
		"rtmp://h/live/" + key + "\x00",
		"rtmp://h/live/" + key + "\xff",
		"rtmp://::1/live/" + key,
		"rtmp://[nothost]/live/" + key,
		"rtmp://h\"x/live/" + key,
		"rtmp://h/a\"b/" + key,
		"rtmp://h%x/live/" + key,
	}
	for _, raw := range tests {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", raw)
			continue
		}
		if !errors.Is(err, ErrURL) {
			t.Errorf("ParseURL(%q) error %q does not wrap ErrURL", raw, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("ParseURL(%q) error %q shows the secret", raw, err)
		}
	}
}

func TestURLFormattingIsRedacted(t *testing.T) {
	u, err := ParseURL("rtmp://h/live/SECRETKEY?pw=SECRETQUERY#SECRETFRAG")
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "url", u)
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %s %#v", u, u, u, u), logged.String()} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("formatted URL shows a secret: %s", s)
		}
		if !strings.Contains(s, "rtmp://h:1935/live/****?pw=****") {
			t.Errorf("formatted URL %q lacks the redacted form", s)
		}
	}
}

func TestRedactText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no url here: 127.0.0.1 stream_started", "no url here: 127.0.0.1 stream_started"},
		{"rtmp: rtmp://127.0.0.1:19350/live/1: dial: connection refused",
			"rtmp: rtmp://127.0.0.1:19350/live/****: dial: connection refused"},
		{`target="RTMPS://h/live2/x?k=v", then`, `target="rtmps://h:443/live2/****?k=****", then`},
		{"(rtmp://h/live/key).", "(rtmp://h:1935/live/****)."},
		{"two: rtmp://a/live/k1 rtmp://b/app/?streamname=s&key=k2", "two: rtmp://a:1935/live/**** rtmp://b:1935/app/?streamname=****&key=****"},
		{"bad: rtmp://user:pw@h/live/k and rtmp://h/onlykey", "bad: rtmp://****@h/**** and rtmp://h/****"},
		{"idempotent rtmp://h:1935/live/****?a=****", "idempotent rtmp://h:1935/live/****?a=****"},
	}
	for _, tt := range tests {
		if got := RedactText(tt.in); got != tt.want {
			t.Errorf("RedactText(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestStatusErrorScrubsShortAndLongSecrets(t *testing.T) {
	u, _ := ParseURL("rtmp://127.0.0.1/live/1?token=LONGSECRET99")
	info := flv.AMFMap{{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Publish.BadName"},
		{Key: "description", Value: "stream 1 from 127.0.0.1 busy; token LONGSECRET99; url rtmp://127.0.0.1/live/1?token=LONGSECRET99"}}
	got := statusError(info, u.Secrets()...).Error()
	want := "server status error NetStream.Publish.BadName: stream **** from 127.0.0.1 busy; token ****; url rtmp://127.0.0.1:1935/live/****?token=****"
	if got != want {
		t.Errorf("statusError:\n %q\nwant\n %q", got, want)
	}
}

// FuzzParseURL holds the parser to what the publisher sends and to its redaction: whatever
// parses is sent exactly as parsed, re-parses from its own parts, and prints without its
// secret parts.
func FuzzParseURL(f *testing.F) {
	for _, tt := range platformURLs {
		f.Add(tt.raw)
	}
	f.Add("rtmp://h/live/k#f?x")
	f.Add("rtmp://[::1]/a/b/c?d")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrURL) {
				t.Fatalf("error %v does not wrap ErrURL", err)
			}
			return
		}
		app, tcURL, name := sentBy(t, u)
		if app != u.App || tcURL != u.TCURL || name != u.StreamName {
			t.Fatalf("sent app %q tcUrl %q name %q, parsed %q %q %q", app, tcURL, name, u.App, u.TCURL, u.StreamName)
		}
		if u.App == "" || u.Host == "" || u.Port < 1 || u.Port > 65535 || (u.Key() == "" && u.Query() == "") {
			t.Fatalf("ParseURL(%q) accepted an incomplete URL: %#v", raw, []any{u.Scheme, u.Host, u.Port, u.App})
		}
		again, err := ParseURL(u.TCURL + "/" + u.StreamName)
		if err != nil || again != u {
			t.Fatalf("ParseURL(%q) = %+v; from its parts %q: %+v, %v", raw, u, u.TCURL+"/"+u.StreamName, again, err)
		}
		red := u.Redacted()
		if r, err := ParseURL(red); err != nil || r.Host != u.Host || r.Port != u.Port || r.App != u.App {
			t.Fatalf("Redacted %q does not parse back to the same host and app: %v", red, err)
		}
		if RedactText(red) != red {
			t.Fatalf("RedactText(%q) = %q, want it unchanged", red, RedactText(red))
		}
		redText := RedactText("x " + raw + " y")
		// The key and every value are hidden; parameter names are shown by design.
		hidden := []string{u.Key()}
		for _, kv := range strings.Split(u.Query(), "&") {
			if name, v, ok := strings.Cut(kv, "="); ok && isParamName(name) {
				hidden = append(hidden, v)
			} else {
				hidden = append(hidden, kv)
			}
		}
		for _, s := range hidden {
			if len(s) >= 8 && !strings.Contains(u.TCURL, s) && !strings.Contains(redact.Query(u.Query()), s) && (strings.Contains(red, s) || strings.Contains(redText, s)) {
				t.Fatalf("secret %q shows in %q / %q", s, red, redText)
			}
		}
	})
}

func BenchmarkParseURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseURL("rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1234_5678&key=0123abcd&schedule=rtmp&pflag=1")
	}
}

// A server URL without its key says "stream key missing" and names the app; a lone path
// element that may be a key is not shown.
func TestURLKeyMissing(t *testing.T) {
	for raw, want := range map[string]string{
		"rtmp://a.rtmp.youtube.com/live2":      `stream key missing: rtmp://a.rtmp.youtube.com/ names "live2" and no key after it`,
		"rtmp://live.twitch.tv/app/":           `stream key missing: rtmp://live.twitch.tv/ names "app"`,
		"rtmp://h/live_Ab12Cd34Ef56Gh78SECRET": "stream key missing: rtmp://h/ names an app and no key",
	} {
		_, err := ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ParseURL(%q): %v, want %q", raw, err, want)
		}
	}
}

// The platforms of the ingest URLs people paste, and what of chat their viewers see.
func TestPlatform(t *testing.T) {
	for raw, want := range map[string]Platform{
		"rtmp://a.rtmp.youtube.com/live2/abcd-efgh":                        {Name: "YouTube", Captions: true},
		"rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh":                  {Name: "YouTube", Captions: true},
		"rtmp://live.twitch.tv/app/live_123_abc":                           {Name: "Twitch", Captions: true},
		"rtmp://fra05.contribute.live-video.net/app/live_123_abc":          {Name: "Twitch", Captions: true},
		"rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1&key=k": {Name: "Bilibili"},
		"rtmp://sendtc3.douyu.com/live/9876543rAbCdEf?wsSecret=5f":         {Name: "Douyu"},
		"rtmp://127.0.0.1:1935/live/porch":                                 {},
		"rtmp://notyoutube.com/live/porch":                                 {},
		"rtmp://youtube.com.example/live/porch":                            {},
	} {
		u, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Platform(); got != want {
			t.Errorf("%s: %+v, want %+v", u, got, want)
		}
	}
}
