package bilibili

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// command is the JSON body of an OpMessage packet. cmd may carry suffixes
// ("DANMU_MSG:4:0:2:2:2:0").
type command struct {
	Cmd  string          `json:"cmd"`
	Info json.RawMessage `json:"info"` // DANMU_MSG
	Data json.RawMessage `json:"data"` // SUPER_CHAT_MESSAGE and the open platform's commands
}

// Message maps the body of an OpMessage packet onto a chat message: DANMU_MSG (a viewer's
// danmaku) and SUPER_CHAT_MESSAGE (a paid message, shown fixed at the top so that it stays
// on screen longer than a scrolling one). ok is false for every other command (gifts,
// entries, rankings), and for a body that is not what it claims to be. The open-live API's
// socket sends the same two as LIVE_OPEN_PLATFORM_DM and LIVE_OPEN_PLATFORM_SUPER_CHAT
// (see openMessage).
//
// DANMU_MSG's info, as the web room sends it:
//
//	info[0] [_, mode (1 scroll, 4 bottom, 5 top), font size, colour (0xRRGGBB as a number),
//	         ms timestamp, random, _, user hash, ..., info[0][15] {"extra": "{\"id_str\":...}"}]
//	info[1] text
//	info[2] [uid, user name (masked without a logged-in cookie), ...]
//	info[9] {"ts": s, "ct": check code}
func Message(body []byte) (m chat.Message, ok bool) {
	var c command
	if json.Unmarshal(body, &c) != nil {
		return m, false
	}
	cmd, _, _ := strings.Cut(c.Cmd, ":")
	switch cmd {
	case "DANMU_MSG":
		return danmu(c.Info)
	case "SUPER_CHAT_MESSAGE":
		return superChat(c.Data)
	case "LIVE_OPEN_PLATFORM_DM":
		return openMessage(c.Data, false)
	case "LIVE_OPEN_PLATFORM_SUPER_CHAT":
		return openMessage(c.Data, true)
	}
	return m, false
}

func danmu(raw json.RawMessage) (m chat.Message, ok bool) {
	var info []json.RawMessage
	if json.Unmarshal(raw, &info) != nil || len(info) < 3 {
		return m, false
	}
	var meta []json.RawMessage
	var text string
	var user []json.RawMessage
	if json.Unmarshal(info[0], &meta) != nil || json.Unmarshal(info[1], &text) != nil || json.Unmarshal(info[2], &user) != nil {
		return m, false
	}
	m = chat.Message{Text: text, Color: chat.DefaultColor, Source: platform.Bilibili}
	if len(user) > 1 {
		json.Unmarshal(user[1], &m.User)
	}
	num := func(i int) (int64, bool) {
		if i >= len(meta) {
			return 0, false
		}
		var v json.Number
		if json.Unmarshal(meta[i], &v) != nil {
			return 0, false
		}
		n, err := v.Int64()
		return n, err == nil
	}
	switch mode, _ := num(1); mode {
	case 4:
		m.Mode = chat.ModeBottom
	case 5:
		m.Mode = chat.ModeTop
	}
	if c, ok := num(3); ok && c >= 0 && c <= 0xffffff {
		m.Color = chat.Color(c)
	}
	ts, _ := num(4)
	if ts > 0 {
		m.TS = ts
	}
	// The message's own id where the room sends one (extra.id_str), else one made of its
	// timestamp, random number and check code: the same message resent is the same id.
	if len(meta) > 15 {
		var x struct {
			Extra string `json:"extra"`
		}
		var e struct {
			IDStr string `json:"id_str"`
		}
		if json.Unmarshal(meta[15], &x) == nil && json.Unmarshal([]byte(x.Extra), &e) == nil && e.IDStr != "" {
			m.ID = e.IDStr
		}
	}
	if m.ID == "" && ts > 0 {
		rnd, _ := num(5)
		var check struct {
			CT string `json:"ct"`
		}
		if len(info) > 9 {
			json.Unmarshal(info[9], &check)
		}
		m.ID = strconv.FormatInt(ts, 10) + "-" + strconv.FormatInt(rnd, 10) + "-" + check.CT
	}
	if len(m.ID) > chat.MaxIDBytes {
		m.ID = m.ID[:chat.MaxIDBytes]
	}
	return m, true
}

func superChat(raw json.RawMessage) (m chat.Message, ok bool) {
	var d struct {
		ID        json.Number `json:"id"`
		Message   string      `json:"message"`
		Price     json.Number `json:"price"`
		StartTime int64       `json:"start_time"` // s
		Color     string      `json:"background_bottom_color"`
		UserInfo  struct {
			Uname string `json:"uname"`
		} `json:"user_info"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Message == "" {
		return m, false
	}
	m = chat.Message{Text: d.Message, User: d.UserInfo.Uname, Color: chat.DefaultColor, Mode: chat.ModeTop,
		Source: platform.Bilibili, TS: d.StartTime * 1000}
	if d.ID != "" {
		m.ID = "sc-" + d.ID.String()
	}
	if c, found := strings.CutPrefix(d.Color, "#"); found && len(c) == 6 {
		if v, err := strconv.ParseUint(c, 16, 32); err == nil {
			m.Color = chat.Color(v)
		}
	}
	return m, true
}

// openMessage maps the data of the open platform's danmaku or Super Chat:
//
//	LIVE_OPEN_PLATFORM_DM          {"uname", "open_id" (or "uid" before 2024), "msg",
//	                                "msg_id", "timestamp" (s), "room_id", "dm_type"
//	                                (0 text, 1 an emoticon named by msg), "fans_medal_*", ...}
//	LIVE_OPEN_PLATFORM_SUPER_CHAT  {"uname", "open_id", "message", "message_id", "rmb",
//	                                "msg_id", "timestamp", "start_time", "end_time", ...}
//
// Neither carries a colour; a Super Chat is shown fixed at the top, as on the web room.
func openMessage(raw json.RawMessage, paid bool) (m chat.Message, ok bool) {
	var d struct {
		Uname     string      `json:"uname"`
		Msg       string      `json:"msg"`
		Message   string      `json:"message"`
		MsgID     string      `json:"msg_id"`
		MessageID json.Number `json:"message_id"`
		Timestamp int64       `json:"timestamp"` // s
	}
	if json.Unmarshal(raw, &d) != nil {
		return m, false
	}
	m = chat.Message{Text: d.Msg, User: d.Uname, Color: chat.DefaultColor, Source: platform.Bilibili, ID: d.MsgID}
	if paid {
		m.Text, m.Mode = d.Message, chat.ModeTop
		if m.ID == "" && d.MessageID != "" {
			m.ID = "sc-" + d.MessageID.String()
		}
	}
	if m.Text == "" {
		return m, false
	}
	if d.Timestamp > 0 && d.Timestamp < 1<<40 {
		m.TS = d.Timestamp * 1000
	}
	if len(m.ID) > chat.MaxIDBytes {
		m.ID = m.ID[:chat.MaxIDBytes]
	}
	return m, true
}
