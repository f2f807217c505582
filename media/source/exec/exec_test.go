package exec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/source/testsrc"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"ffmpeg -i x.h264", []string{"ffmpeg", "-i", "x.h264"}},
		{"  a \t b\n c  ", []string{"a", "b", "c"}},
		{`a 'b c' "d e"`, []string{"a", "b c", "d e"}},
		{`'it''s' x`, []string{"its", "x"}},
		{`"a \"q\" \\ \$HOME \n"`, []string{`a "q" \ $HOME \n`}},
		{`'a \"b'`, []string{`a \"b`}},
		{`a\ b c\"d`, []string{"a b", `c"d`}},
		{`x '' ""`, []string{"x", "", ""}},
		{"a\\\nb", []string{"ab"}},
		{`a|b >c $X`, []string{"a|b", ">c", "$X"}},
		{`pre"mid"'post'`, []string{"premidpost"}},
		{"", nil},
	} {
		got, err := Split(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`a 'b`, `a "b`, `a \`, `"a\"`} {
		if got, err := Split(in); err == nil {
			t.Errorf("Split(%q) = %q, want an error", in, got)
		}
	}
}

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`sh -c "cat x.h264; sleep 30"`, []string{"sh", "-c", "cat x.h264; sleep 30"}},
		{`sh -c 'a | b'`, []string{"sh", "-c", "a | b"}},
		{`sh -c ffmpeg -i in -f h264 - | tee x`, []string{"sh", "-c", "ffmpeg -i in -f h264 - | tee x"}},
		{`/bin/bash -c "echo $HOME"`, []string{"/bin/bash", "-c", "echo $HOME"}},
		{`shx -c y`, []string{"shx", "-c", "y"}},
		{`rpicam-vid -t 0 -o -`, []string{"rpicam-vid", "-t", "0", "-o", "-"}},
	} {
		got, err := Argv(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Argv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := Argv("   "); err == nil {
		t.Error("empty command line accepted")
	}
}

// clipFile writes the test source's clip (60 frames, IDR at 0 and 30) to a temporary file.
func clipFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.h264")
	if err := os.WriteFile(p, testsrc.Clip(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	times []time.Duration
	keys  []int
	err   error
}

func run(t *testing.T, ctx context.Context, commandLine string, opts Options, onFrame func(n int) error) result {
	t.Helper()
	src, err := New(commandLine, opts)
	if err != nil {
		t.Fatal(err)
	}
	var r result
	r.err = src.Run(ctx, func(au *media.AccessUnit) error {
		if au.Keyframe {
			r.keys = append(r.keys, len(r.times))
		}
		r.times = append(r.times, au.Time)
		if onFrame != nil {
			return onFrame(len(r.times))
		}
		return nil
	})
	return r
}

func TestCat(t *testing.T) {
	r := run(t, context.Background(), "cat "+clipFile(t), Options{}, nil)
	if !errors.Is(r.err, io.EOF) || !strings.Contains(r.err.Error(), "cat ended with exit status 0") {
		t.Errorf("Run returned %v, want the end of cat wrapping io.EOF", r.err)
	}
	if len(r.times) != testsrc.Frames {
		t.Errorf("got %d access units, want %d", len(r.times), testsrc.Frames)
	}
	if want := []int{0, 30}; !slices.Equal(r.keys, want) {
		t.Errorf("keyframes at %v, want %v", r.keys, want)
	}
	if !slices.IsSorted(r.times) {
		t.Errorf("times go backwards: %v", r.times)
	}
}

func TestTimeIsArrival(t *testing.T) {
	clip := clipFile(t)
	r := run(t, context.Background(), `sh -c "cat `+clip+`; sleep 0.3; cat `+clip+`"`, Options{}, nil)
	if len(r.times) != 2*testsrc.Frames {
		t.Fatalf("got %d access units, want %d (%v)", len(r.times), 2*testsrc.Frames, r.err)
	}
	if !slices.IsSorted(r.times) {
		t.Errorf("times go backwards: %v", r.times)
	}
	if second := r.times[testsrc.Frames]; second < 300*time.Millisecond {
		t.Errorf("first frame of the second cat at %v, but it was written after a 300 ms sleep", second)
	}
}

func TestExitStatus(t *testing.T) {
	r := run(t, context.Background(), `sh -c "exit 3"`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "sh ended: exit status 3") {
		t.Errorf("Run returned %v, want the exit status", r.err)
	}
	r = run(t, context.Background(), `false --password=hunter2`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "false ended: exit status 1") || strings.Contains(r.err.Error(), "hunter2") {
		t.Errorf("Run returned %v, want the status and no arguments", r.err)
	}
	r = run(t, context.Background(), `/nonexistent/camera-tool --key=hunter2`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "start camera-tool") || strings.Contains(r.err.Error(), "hunter2") {
		t.Errorf("Run returned %v, want the start error without arguments", r.err)
	}
}

// groupAlive lists the processes of a process group that have not exited, from /proc.
func groupAlive(t *testing.T, pgid int) []string {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var alive []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited while we looked
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" {
			continue
		}
		alive = append(alive, p+" "+string(b[:bytes.LastIndexByte(b, ')')+1])+" "+f[0])
	}
	return alive
}

// shellPID runs a script that first writes the shell's pid (its process group: the source
// puts the command in a group of its own) to a file, and returns a function that reads it.
func shellPID(t *testing.T, script string) (commandLine string, pgid func() int) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	commandLine = `sh -c "echo $$ > ` + pidFile + `; ` + script + `"`
	return commandLine, func() int {
		b, err := os.ReadFile(pidFile)
		n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || err2 != nil {
			t.Fatalf("pid file: %v %v", err, err2)
		}
		return n
	}
}

func TestCancelKillsGroup(t *testing.T) {
	line, pgid := shellPID(t, "cat "+clipFile(t)+"; sleep 30")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The last access unit ends only at the end of the stream; 59 arrive before the sleep.
	r := run(t, ctx, line, Options{}, func(n int) error {
		if n == testsrc.Frames-1 {
			if len(groupAlive(t, pgid())) == 0 {
				t.Error("the command's group is not running while it streams")
			}
			cancel()
		}
		return nil
	})
	if r.err != nil {
		t.Errorf("Run after cancel returned %v, want nil", r.err)
	}
	if alive := groupAlive(t, pgid()); len(alive) > 0 {
		t.Errorf("processes of the group survive Run: %q", alive)
	}
}

func TestSIGKILLAfterDelay(t *testing.T) {
	defer func(d time.Duration) { killDelay = d }(killDelay)
	killDelay = 200 * time.Millisecond
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	line, pgid := shellPID(t, "trap '' TERM; echo ready >&2; cat "+clipFile(t)+"; while :; do sleep 0.05; done")
	errStop := errors.New("stop")
	r := run(t, context.Background(), line, Options{Logger: logger}, func(n int) error {
		if n == 10 {
			return errStop
		}
		return nil
	})
	if r.err != errStop {
		t.Errorf("Run returned %v, want deliver's error unchanged", r.err)
	}
	if alive := groupAlive(t, pgid()); len(alive) > 0 {
		t.Errorf("processes of the group survive Run: %q", alive)
	}
	out := logs.String()
	if !strings.Contains(out, "ignores SIGTERM") || !strings.Contains(out, "line=ready") {
		t.Errorf("log lacks the kill warning or the command's stderr:\n%s", out)
	}
}

func TestClosedOutputStops(t *testing.T) {
	defer func(d time.Duration) { drainGrace = d }(drainGrace)
	drainGrace = 100 * time.Millisecond
	line, pgid := shellPID(t, "exec >&-; sleep 30")
	r := run(t, context.Background(), line, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "sh closed its output but did not exit") {
		t.Errorf("Run returned %v", r.err)
	}
	if alive := groupAlive(t, pgid()); len(alive) > 0 {
		t.Errorf("processes of the group survive Run: %q", alive)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestStderrLinesBounded(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := &lineLogger{logger: logger, program: "enc"}
	l.Write([]byte("frame=1\rframe=2\r"))
	l.Write([]byte(strings.Repeat("x", 2000) + "\nlast"))
	l.flush()
	out := logs.String()
	for _, want := range []string{`line="frame=1"`, `line="frame=2"`, "line=" + strings.Repeat("x", maxLine) + " truncated=true", "line=last"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%.300s", want, out)
		}
	}
	if strings.Contains(out, strings.Repeat("x", maxLine+1)) {
		t.Error("a line longer than maxLine was logged whole")
	}
}

// A program's child that calls setsid() leaves the process group; stopping the source
// stops it too (issue 24), and a grandchild in the group as well.
func TestStopEndsEveryDescendant(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	s, err := New(`sh -c 'setsid sleep 1000 & echo $! >> `+pidFile+`; sh -c "sleep 1000" & echo $! >> `+pidFile+`; wait'`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.RunOutput(ctx, func(io.Reader, time.Time) error { <-ctx.Done(); return nil })
	}()
	var pids []int
	for deadline := time.Now().Add(30 * time.Second); len(pids) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the program did not start its children")
		}
		b, _ := os.ReadFile(pidFile)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
	}
	// Both must be below the program before it is stopped.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d := descendants(os.Getpid()); slices.Contains(d, pids[0]) && slices.Contains(d, pids[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children %v not found below camnode", pids)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		for deadline := time.Now().Add(30 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d survived the stop", pid)
			}
		}
	}
}

// alive: the process exists and is not a zombie (an orphan whose reaper is slow).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// Raw pictures or JPEGs from a program without CAMNODE_SOURCE_FORMAT: an error that says
// which setting to change, instead of a source that stays silent.
func TestNotH264SaysWhichSetting(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"head -c 200000 /dev/zero", "set CAMNODE_SOURCE_FORMAT=yuv420, nv12 or yuyv"},
		{"head -c 100 /dev/zero", "set CAMNODE_SOURCE_FORMAT=yuv420, nv12 or yuyv"},
		{`printf '\377\330\377\340JFIF'`, "JPEG pictures; set CAMNODE_SOURCE_FORMAT=mjpeg"},
	} {
		s, err := New(tc.line, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Run(context.Background(), func(*media.AccessUnit) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "is not H.264") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.line, err, tc.want)
		}
	}
}
