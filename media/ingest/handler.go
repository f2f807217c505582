//go:build !(386 || arm || mips || mipsle)

package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/camnode/camnode/media/flv"
)

// passThroughData are the data messages, besides @setDataFrame, that are recorded as script
// tags: metadata sent without @setDataFrame, timed text (camnode's chat), cue points and
// captions.
var passThroughData = []string{"onMetaData", "onTextData", "onCuePoint", "onCaption", "onCaptionInfo", "onFI"}

// go-rtmp v0.0.7 drops a data message whose name it does not know: it decodes the body and
// discards it with a warning before any handler sees it. A decoder registered for the name
// that leaves the body unread makes the publish state hand the message to
// OnUnknownDataMessage with the body intact. The table is global and only read after init,
// so registering here is race-free; other go-rtmp users in the binary (the publisher) only
// see these messages reach their OnUnknownDataMessage instead of being dropped.
func init() {
	for _, name := range passThroughData {
		if _, ok := message.DataBodyDecoders[name]; !ok {
			message.DataBodyDecoders[name] = func(io.Reader, message.AMFDecoder, *message.AMFConvertible) error {
				return nil
			}
		}
	}
}

// handler serves one RTMP connection. go-rtmp calls it from the connection's goroutine only;
// it publishes at most one stream at a time, because go-rtmp's media callbacks do not say
// which stream a message belongs to.
type handler struct {
	rtmp.DefaultHandler
	s      *Server
	remote string
	app    string

	rec      *recorder
	streamID uint32
	body     bytes.Buffer // the current message body, reused
}

var _ rtmp.Handler = (*handler)(nil)

func (h *handler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.app = withoutQuery(cmd.Command.App)
	return nil
}

func (h *handler) OnPublish(ctx *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	if h.rec != nil {
		return fmt.Errorf("ingest: publish on stream %d: this connection already publishes on stream %d", ctx.StreamID, h.streamID)
	}
	name := withoutQuery(cmd.PublishingName)
	if name == "" {
		return errors.New("ingest: publish: empty stream name")
	}
	rec, err := h.s.startRecording(h.app, name)
	if err != nil {
		h.s.log.Warn("publish refused", "app", h.app, "stream", "****", "remote", h.remote, "err", err)
		return err
	}
	h.rec, h.streamID = rec, ctx.StreamID
	h.s.log.Info("publish started", "app", h.app, "stream", "****", "dir", h.s.dir, "remote", h.remote)
	return nil
}

func (h *handler) OnSetDataFrame(timestamp uint32, data *message.NetStreamSetDataFrame) error {
	if h.rec == nil {
		return nil
	}
	// The payload is what followed "@setDataFrame": "onMetaData" and its array, exactly the
	// script tag body nginx-rtmp and ffmpeg store.
	return h.rec.writeData(timestamp, data.Payload)
}

func (h *handler) OnUnknownDataMessage(timestamp uint32, data *message.DataMessage) error {
	if h.rec == nil {
		return nil
	}
	// go-rtmp has consumed the name: the script tag body is the name again, then the values.
	h.body.Reset()
	h.body.Write(flv.AppendAMFString(h.body.AvailableBuffer(), data.Name))
	if _, err := h.body.ReadFrom(data.Body); err != nil {
		return fmt.Errorf("ingest: read %s data message: %w", data.Name, err)
	}
	return h.rec.writeData(timestamp, h.body.Bytes())
}

func (h *handler) OnVideo(timestamp uint32, payload io.Reader) error {
	return h.writeMedia(flv.TagVideo, timestamp, payload)
}

func (h *handler) OnAudio(timestamp uint32, payload io.Reader) error {
	return h.writeMedia(flv.TagAudio, timestamp, payload)
}

func (h *handler) writeMedia(tagType byte, timestamp uint32, payload io.Reader) error {
	if h.rec == nil {
		return nil
	}
	h.body.Reset()
	if _, err := h.body.ReadFrom(payload); err != nil {
		return fmt.Errorf("ingest: read media message: %w", err)
	}
	if tagType == flv.TagVideo {
		return h.rec.writeVideo(timestamp, h.body.Bytes())
	}
	return h.rec.writeAudio(timestamp, h.body.Bytes())
}

func (h *handler) OnDeleteStream(_ uint32, cmd *message.NetStreamDeleteStream) error {
	if h.rec != nil && cmd.StreamID == h.streamID {
		h.finish()
	}
	return nil
}

// OnClose runs when the connection ends for any reason (the publisher left, the network
// dropped, shutdown, a protocol error). go-rtmp calls it outside its own panic recovery.
func (h *handler) OnClose() {
	defer func() {
		if p := recover(); p != nil {
			h.s.log.Error("panic while closing a connection", "remote", h.remote, "panic", p)
		}
	}()
	if h.rec != nil {
		h.finish()
	}
	h.s.log.Debug("connection closed", "remote", h.remote)
}

func (h *handler) finish() {
	rec := h.rec
	h.rec = nil
	h.s.finishRecording(rec, h.remote)
}

// withoutQuery cuts "?query" off an app or stream name (ffmpeg passes the URL's query on in
// the stream name); the query is secret in real use and means nothing to the recorder.
func withoutQuery(s string) string {
	name, _, _ := strings.Cut(s, "?")
	return name
}
