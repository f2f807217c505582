package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A source program that prints the URL it reads, password and all (ffmpeg's "rtsp://
// user:password@…"), shows no password in camnode's log at debug, whatever the scheme; the
// rest of its line stays readable.
func TestSourceProgramUserInfoNotLogged(t *testing.T) {
	r := newRig(t, "userinfo", "")
	script := filepath.Join(t.TempDir(), "source.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"+
		"echo '[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized rtsp://admin:hunter2pw@192.168.1.20:554/stream1' >&2\n"+
		"echo \"Input #0, rtsp, from 'rtsps://viewer:hunter2pw@cam.lan/live':\" >&2\n"+
		"echo 'srt://cam.lan:9000?passphrase=hunter2pw&latency=200: refused' >&2\n"+
		"exit 1\n"), 0o755)
	r.env["CAMNODE_SOURCE"] = "exec:" + script
	r.env["CAMNODE_AUTOSTART"] = "true"
	node := startCamnode(t, r.env)
	defer node.cmd.Process.Kill()
	r.await(t, 0, "event", eventIs("source_failed"), "source_failed")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(node.Log(), "passphrase=") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	log := node.Log()
	if strings.Contains(log, "hunter2pw") {
		t.Fatalf("the log shows the source program's password:\n%s", log)
	}
	for _, want := range []string{"rtsp://admin:****@192.168.1.20:554/stream1", "rtsps://viewer:****@cam.lan/live", "passphrase=****", "method DESCRIBE failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
