package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// docExcerpts returns the log excerpts of a Markdown page by "### " (or "## ") heading: the
// lines of its ``` blocks, and of its blocks indented by four spaces.
func docExcerpts(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	heading, fenced := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			fenced = !fenced
		case fenced:
			if strings.TrimSpace(line) != "" {
				out[heading] = append(out[heading], line)
			}
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case strings.HasPrefix(line, "    ") && strings.HasPrefix(strings.TrimSpace(line), "camnode"):
			out[heading] = append(out[heading], strings.TrimSpace(line))
		}
	}
	return out
}

// docLine is a documented line as a pattern: "…" stands for whatever a run differs in.
func docLine(line string) *regexp.Regexp {
	parts := strings.Split(line, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

var logTime = regexp.MustCompile(`(?m)^time=\S+ `)

// troubleRun is one real run of the binary for a documented situation: its output, without
// timestamps, with the run's own addresses and paths replaced by the ones the page shows.
type troubleRun struct {
	env   map[string]string
	args  []string
	until string // "": wait for the exit; else stop once the output holds this
	swap  []string
}

func (r troubleRun) output(t *testing.T) string {
	t.Helper()
	p := startCamnode(t, r.env, r.args...)
	if r.until == "" {
		p.wait(t, 60*time.Second)
	} else {
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(p.Log(), r.until) {
			if time.Now().After(deadline) {
				t.Fatalf("camnode did not print %q within 90 s:\n%s", r.until, p.Log())
			}
			select {
			case <-p.done:
				t.Fatalf("camnode ended before printing %q:\n%s", r.until, p.Log())
			case <-time.After(50 * time.Millisecond):
			}
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 60*time.Second)
	}
	return strings.NewReplacer(r.swap...).Replace(logTime.ReplaceAllString(p.Log(), ""))
}

// TestTroubleshootingExcerptsAreReal reproduces every situation whose log lines the docs show
// (docs/raspberry-pi.md, docs/mqtt-broker.md) and checks that each documented line is one
// the binary really prints, so that the excerpts cannot go stale. A new excerpt needs a
// situation here.
func TestTroubleshootingExcerptsAreReal(t *testing.T) {
	peers.Require(t, "mosquitto_passwd", "ffmpeg")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pwFile, "camnode", "the-right-one").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	os.Chmod(pwFile, 0o644)
	guarded := peers.StartMosquitto(t, "password_file "+pwFile)
	broker := peers.StartMosquitto(t)
	ingest := peers.StartNginx(t)
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	missing := filepath.Join(dir, "missing", "clip.h264")
	// The stand-in rpicam-vid, on PATH for its situation only.
	standIn := filepath.Join(dir, "standin")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(standIn, "rpicam-vid"), "../../internal/tools/rpicamvid").CombinedOutput(); err != nil {
		t.Fatalf("building the rpicam-vid stand-in: %v\n%s", err, out)
	}

	node := func(kv ...string) map[string]string {
		env := map[string]string{"CAMNODE_NODE_ID": "garden", "CAMNODE_MQTT_URL": broker.URL(), "CAMNODE_SOURCE": "testsrc"}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	situations := map[string][]troubleRun{
		"Broker refuses the login": {{
			env:   node("CAMNODE_MQTT_URL", guarded.URL(), "CAMNODE_MQTT_USERNAME", "camnode", "CAMNODE_MQTT_PASSWORD", "a-wrong-one"),
			until: "mqtt connect failed", swap: []string{guarded.Addr(), "homeassistant.local:1883"}}},
		"The ingest rejects the stream key": {{
			env:   node("CAMNODE_RTMP_URL", "rtmp://"+ingest.Addr()+"/closed/abcd-efgh-ijkl", "CAMNODE_AUTOSTART", "true"),
			until: "msg=state state=error", swap: []string{ingest.Addr() + "/closed/", "a.rtmp.youtube.com:1935/live2/"}}},
		"The camera is busy or missing": {{
			env: node("CAMNODE_RTMP_URL", ingest.URL("garden"), "CAMNODE_AUTOSTART", "true", "CAMNODE_LOG_LEVEL", "debug",
				"CAMNODE_SOURCE", "exec:ffmpeg -nostdin -f v4l2 -i /dev/video97 -c:v libx264 -f h264 -"),
			until: "event=source_failed", swap: []string{"/dev/video97", "/dev/video0"}}, {
			env:   node("CAMNODE_SOURCE", "v4l2:///dev/video97"),
			until: "is not there now", swap: []string{"/dev/video97", "/dev/video0"}}},
		"The Pi camera is not found": {{
			env: node("CAMNODE_SOURCE", "rpicam", "RPICAM_STANDIN_NO_CAMERA", "1", "PATH", standIn+string(os.PathListSeparator)+os.Getenv("PATH"),
				"CAMNODE_RTMP_URL", ingest.URL("garden"), "CAMNODE_AUTOSTART", "true"),
			until: "event=source_failed"}},
		"A program or file the source needs is missing": {
			{env: node("CAMNODE_SOURCE", "exec:rpicam-vid -t 0 -n --codec h264 --inline -o -")},
			{env: node("CAMNODE_SOURCE", "file://"+missing), swap: []string{missing, "/home/pi/clip.h264"}}},
		"A setting is wrong": {
			{env: node("CAMNODE_WIDHT", "640")},
			{env: node("CAMNODE_FPS", "abc")},
			{env: node("CAMNODE_MQTT_URL", "homeassistant.local:1883")},
			{env: node("CAMNODE_RTMP_URL", "http://x/app/the-key")},
			{env: node("CAMNODE_AUTOSTART", "yes")}},
		"When it does not connect": {
			{env: node("CAMNODE_MQTT_CA_FILE", filepath.Join(dir, "no", "ca.pem")), swap: []string{filepath.Join(dir, "no", "ca.pem"), "/etc/camnode/ca.pem"}},
			{env: node("CAMNODE_MQTT_CA_FILE", notPEM, "CAMNODE_MQTT_URL", "mqtts://127.0.0.1:8883"), swap: []string{notPEM, "/etc/camnode/ca.pem"}}},
	}
	for _, page := range []string{"../../docs/raspberry-pi.md", "../../docs/mqtt-broker.md"} {
		for heading, lines := range docExcerpts(t, page) {
			if !strings.Contains(strings.Join(lines, "\n"), "level=") && !strings.Contains(strings.Join(lines, "\n"), "camnode: ") {
				continue // not a log excerpt (commands, settings)
			}
			t.Run(filepath.Base(page)+"/"+heading, func(t *testing.T) {
				runs, ok := situations[heading]
				if !ok {
					t.Fatalf("%s shows log lines under %q, and no test reproduces them", page, heading)
				}
				var real strings.Builder
				for _, r := range runs {
					real.WriteString(r.output(t))
				}
				realLines := strings.Split(real.String(), "\n")
				for _, line := range lines {
					re := docLine(line)
					found := false
					for _, l := range realLines {
						if re.MatchString(l) {
							found = true
							break
						}
					}
					if !found {
						t.Errorf("%s documents a line camnode does not print:\n  %s\nit printed:\n%s", page, line, real.String())
					}
				}
			})
		}
	}
}
