package rtmp

import (
	"strings"
	"testing"

	"github.com/camnode/camnode/media/flv"
)

// TestStatusErrorHidesShortKeyNextToPunctuation: an ingest that echoes a short key next to
// '.', '&', '!', '?' or '-' shows it in no error (which the log, the rtmp_rejected event and
// state.targets[].error are made of); an address with the key's digits stays.
func TestStatusErrorHidesShortKeyNextToPunctuation(t *testing.T) {
	u, _ := ParseURL("rtmp://127.0.0.1/live/k7")
	for _, desc := range []string{"stream k7. is busy", "name=k7&app=live", "bad name k7!", "k7?", "k7-publish refused", "(k7.flv)"} {
		info := flv.AMFMap{{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Publish.BadName"}, {Key: "description", Value: desc}}
		if got := statusError(info, u.Secrets()...).Error(); strings.Contains(got, "k7") {
			t.Errorf("description %q: %q shows the key", desc, got)
		}
	}
	u, _ = ParseURL("rtmp://127.0.0.1/live/7")
	info := flv.AMFMap{{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Publish.BadName"}, {Key: "description", Value: "from 127.0.0.1:1935: 7."}}
	if got, want := statusError(info, u.Secrets()...).Error(), "server status error NetStream.Publish.BadName: from 127.0.0.1:1935: ****."; got != want {
		t.Errorf("statusError:\n %q\nwant\n %q", got, want)
	}
}
