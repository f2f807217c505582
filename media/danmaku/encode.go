package danmaku

import (
	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media/flv"
)

// AppendTextData appends the body of the AMF0 data message the amf carrier sends:
//
//	string "onTextData"
//	ECMA array(5) { type: "Text", text: string, user: string, color: "#rrggbb", mode: string }
//	00 00 09
//
// type and text come first: that is where ffmpeg's FLV demuxer, which turns onTextData
// into a subtitle stream, looks for them.
func AppendTextData(dst []byte, m *chat.Message) []byte {
	dst = flv.AppendAMFString(dst, "onTextData")
	dst = flv.AppendAMFECMAArrayStart(dst, 5)
	dst = flv.AppendAMFKey(dst, "type")
	dst = flv.AppendAMFString(dst, "Text")
	dst = flv.AppendAMFKey(dst, "text")
	dst = flv.AppendAMFString(dst, m.Text)
	dst = flv.AppendAMFKey(dst, "user")
	dst = flv.AppendAMFString(dst, m.User)
	dst = flv.AppendAMFKey(dst, "color")
	dst = flv.AppendAMFString(dst, m.Color.String())
	dst = flv.AppendAMFKey(dst, "mode")
	dst = flv.AppendAMFString(dst, m.Mode.String())
	return flv.AppendAMFObjectEnd(dst)
}
