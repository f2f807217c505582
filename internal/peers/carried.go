package peers

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// What ffmpeg's own tools read of the chat a stream carries: the SEI payloads through the
// trace_headers bitstream filter, the onTextData messages through its FLV demuxer as a
// subtitle stream, the captions through its CEA-608 decoder.

var traceByte = regexp.MustCompile(`(uuid_iso_iec_11578|user_data_payload_byte)\[\d+\]\s+[01]+ = (\d+)$`)

// SEIPayloads returns the payloads of the user_data_unregistered SEI messages of the file
// at path whose UUID is uuid, in stream order, as ffmpeg's trace_headers prints them (the
// recipe of ../shared/peers/verify-flv.sh).
func SEIPayloads(t testing.TB, path string, uuid []byte) []string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-map", "0:v", "-c", "copy",
		"-bsf:v", "trace_headers", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg trace_headers %s: %v\n%s", path, err, out)
	}
	var payloads []string
	var id, data []byte
	in := false
	flush := func() {
		if in && bytes.Equal(id, uuid) {
			payloads = append(payloads, string(data))
		}
		in, id, data = false, nil, nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "User Data Unregistered") {
			flush()
			in = true
			continue
		}
		m := traceByte.FindStringSubmatch(strings.TrimSpace(line))
		if !in || m == nil {
			flush()
			continue
		}
		b, _ := strconv.Atoi(m[2])
		if m[1] == "uuid_iso_iec_11578" {
			id = append(id, byte(b))
		} else {
			data = append(data, byte(b))
		}
	}
	flush()
	return payloads
}

// TextData returns the onTextData texts of the FLV file at path as ffmpeg's FLV demuxer
// reads them (a subtitle stream), converted to SRT.
func TextData(t testing.TB, path string) []string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-analyzeduration", "100M", "-probesize", "100M",
		"-i", path, "-map", "0:s", "-f", "srt", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg onTextData to srt %s: %v", path, err)
	}
	return srtLines(string(out))
}

// Captions returns the caption lines ffmpeg's CEA-608 decoder (subcc) prints for the file
// at path.
func Captions(t testing.TB, path string) []string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "movie="+path+"[out0+subcc]",
		"-map", "0:s", "-f", "srt", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg subcc %s: %v", path, err)
	}
	return srtLines(string(out))
}

var srtMarkup = regexp.MustCompile(`<[^>]*>|\{\\[^}]*\}`)

// srtLines returns the text lines of an SRT document, tags removed: each cue is an index
// line, a times line and text lines, and ends at a blank line.
func srtLines(srt string) []string {
	var lines []string
	for _, cue := range strings.Split(strings.ReplaceAll(srt, "\r\n", "\n"), "\n\n") {
		l := strings.Split(strings.Trim(cue, "\n"), "\n")
		if len(l) < 3 || !strings.Contains(l[1], "-->") {
			continue
		}
		for _, text := range l[2:] {
			if text = strings.TrimSpace(srtMarkup.ReplaceAllString(text, "")); text != "" {
				lines = append(lines, text)
			}
		}
	}
	return lines
}
