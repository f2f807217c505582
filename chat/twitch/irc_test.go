package twitch

import (
	"testing"

	"github.com/camnode/camnode/chat"
)

// The example lines of Twitch's IRC documentation (dev.twitch.tv/docs/irc/tags,
// "PRIVMSG tags"), and what a viewer sees of each.
func TestTwitchDocumentationLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want chat.Message
	}{
		{`@badge-info=;badges=turbo/1;color=#0D4200;display-name=ronni;emotes=25:0-4,12-16/1902:6-10;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=1337;subscriber=0;tmi-sent-ts=1507246572675;turbo=1;user-id=1337;user-type=global_mod :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa Keepo Kappa`,
			chat.Message{Text: "Kappa Keepo Kappa", User: "ronni", Color: 0x0d4200, ID: "b34ccfc7-4977-403a-8a94-33c6bac34fb8", Source: "twitch", TS: 1507246572675}},
		{`@badge-info=;badges=staff/1,bits/1000;bits=100;color=;display-name=ronni;emotes=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=12345678;subscriber=0;tmi-sent-ts=1507246572675;turbo=1;user-id=12345678;user-type=staff :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :cheer100`,
			chat.Message{Text: "cheer100", User: "ronni", Color: chat.DefaultColor, ID: "b34ccfc7-4977-403a-8a94-33c6bac34fb8", Source: "twitch", TS: 1507246572675}},
		// A display name with an escaped space, a /me action, no tags at all (plain IRC).
		{`@display-name=Lovely\sName;color=#FF69B4;id=x1 :lovely!lovely@lovely.tmi.twitch.tv PRIVMSG #chan :` + "\x01ACTION waves\x01",
			chat.Message{Text: "waves", User: "Lovely Name", Color: 0xff69b4, ID: "x1", Source: "twitch"}},
		{`:viewer!~viewer@127.0.0.1 PRIVMSG #chan :hello there`,
			chat.Message{Text: "hello there", User: "viewer", Color: chat.DefaultColor, Source: "twitch"}},
	} {
		l, err := ParseLine(tc.line)
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		m, ok := l.Message()
		if !ok || m != tc.want {
			t.Errorf("%s\n got %+v (%v)\nwant %+v", tc.line, m, ok, tc.want)
		}
	}
}

func TestParseLineForms(t *testing.T) {
	l, err := ParseLine("PING :tmi.twitch.tv\r\n")
	if err != nil || l.Command != "PING" || len(l.Params) != 1 || l.Params[0] != "tmi.twitch.tv" {
		t.Fatalf("PING: %+v %v", l, err)
	}
	l, _ = ParseLine(":tmi.twitch.tv CAP * NAK :twitch.tv/tags twitch.tv/commands")
	if l.Command != "CAP" || len(l.Params) != 3 || l.Params[1] != "NAK" {
		t.Fatalf("CAP NAK: %+v", l)
	}
	l, _ = ParseLine(`@msg-id=x\:y\\z\ :tmi.twitch.tv NOTICE * :Login authentication failed`)
	if l.Tags["msg-id"] != `x;y\z` || l.Params[1] != "Login authentication failed" {
		t.Fatalf("NOTICE: %+v", l)
	}
	for _, bad := range []string{"", "@a=b", ":prefix", "   "} {
		if _, err := ParseLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if l, _ := ParseLine(":x PRIVMSG #c :\x01VERSION\x01"); func() bool { _, ok := l.Message(); return ok }() {
		t.Error("a CTCP VERSION is not chat")
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add(`@badge-info=;badges=turbo/1;color=#0D4200;display-name=ronni;id=b3;tmi-sent-ts=1507246572675 :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa Keepo Kappa`)
	f.Add("PING :tmi.twitch.tv")
	f.Add(`@a=\ :x PRIVMSG #c :` + "\x01ACTION hi\x01")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if l.Command == "" {
			t.Fatal("a parsed line without a command")
		}
		m, ok := l.Message()
		if ok && m.Source != "twitch" {
			t.Fatal("source lost")
		}
	})
}
