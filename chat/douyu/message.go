package douyu

import (
	"strconv"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// colors are the danmaku colours a Douyu viewer picks (col 1 to 6; 0 or absent: white).
var colors = map[string]chat.Color{
	"1": 0xff0000, // red
	"2": 0x1e87f0, // blue
	"3": 0x7ac84b, // green
	"4": 0xff7f00, // orange
	"5": 0x9b39f4, // purple
	"6": 0xff69b4, // pink
}

// Message maps a chatmsg onto a chat message: nn the user, txt the text, col the colour,
// cid the message id, cst the time (ms). ok is false for any other type.
func Message(m map[string]string) (chat.Message, bool) {
	if m["type"] != "chatmsg" || m["txt"] == "" {
		return chat.Message{}, false
	}
	msg := chat.Message{Text: m["txt"], User: m["nn"], Color: chat.DefaultColor, ID: m["cid"], Source: platform.Douyu}
	if c, ok := colors[m["col"]]; ok {
		msg.Color = c
	}
	if ts, err := strconv.ParseInt(m["cst"], 10, 64); err == nil && ts > 0 {
		msg.TS = ts
	}
	if len(msg.ID) > chat.MaxIDBytes {
		msg.ID = msg.ID[:chat.MaxIDBytes]
	}
	return msg, true
}
