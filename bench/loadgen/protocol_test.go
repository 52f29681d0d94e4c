package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSocketIODecode(t *testing.T) {
	tests := []struct {
		name     string
		frame    string
		wantKind frameKind
		wantText string
	}{
		{"event", `42["chat message","lg a 1 2 3"]`, frameChat, "lg a 1 2 3"},
		{"event with escapes", `42["chat message","say \"hi\"\n"]`, frameChat, "say \"hi\"\n"},
		{"event with extra args", `42["chat message","x",{"a":1}]`, frameChat, "x"},
		{"event with ack id", `4217["chat message","x"]`, frameChat, "x"},
		{"event in a namespace", `42/chat,["chat message","x"]`, frameChat, "x"},
		{"other event", `42["typing","x"]`, frameOther, ""},
		{"event without text", `42["chat message"]`, frameOther, ""},
		{"non-string text", `42["chat message",42]`, frameOther, ""},
		{"broken json", `42["chat message","x"`, frameOther, ""},
		{"ping", `2`, framePing, ""},
		{"probe is not a ping", `2probe`, frameOther, ""},
		{"pong", `3`, frameOther, ""},
		{"engine close", `1`, frameClosing, ""},
		{"socket.io disconnect", `41`, frameClosing, ""},
		{"connect error", `44{"message":"nope"}`, frameError, ""},
		{"connect ack", `40{"sid":"abc"}`, frameOther, ""},
		{"noop", `6`, frameOther, ""},
		{"empty", ``, frameOther, ""},
		{"lone 4", `4`, frameOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, text := socketio{}.Decode([]byte(tt.frame))
			if kind != tt.wantKind || text != tt.wantText {
				t.Errorf("Decode(%q) = %v, %q; want %v, %q", tt.frame, kind, text, tt.wantKind, tt.wantText)
			}
		})
	}
}

func TestParseEngineOpen(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		wantSID string
		wantErr bool
	}{
		{"socket.io 4 open", `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, "lv_VI97HAXpY6yYWAAAC", false},
		{"not an open packet", `40`, "", true},
		{"empty", ``, "", true},
		{"bad json", `0{"sid":`, "", true},
		{"no sid", `0{"pingInterval":25000}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseEngineOpen([]byte(tt.frame))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseEngineOpen(%q) error = %v, want error %v", tt.frame, err, tt.wantErr)
			}
			if o.SID != tt.wantSID {
				t.Errorf("sid = %q, want %q", o.SID, tt.wantSID)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	if got, want := string(socketio{}.Encode("lg a 0 1")), `42["chat message","lg a 0 1"]`; got != want {
		t.Errorf("socketio Encode = %s, want %s", got, want)
	}
	if got, want := string(apigw{}.Encode("lg a 0 1")), `{"action":"chat message","text":"lg a 0 1"}`; got != want {
		t.Errorf("apigw Encode = %s, want %s", got, want)
	}
	// What one side encodes, the other decodes.
	if kind, text := (socketio{}).Decode(socketio{}.Encode("lg x 3 4")); kind != frameChat || text != "lg x 3 4" {
		t.Errorf("socketio round trip = %v, %q", kind, text)
	}
}

func TestAPIGWDecode(t *testing.T) {
	tests := []struct {
		name     string
		frame    string
		wantKind frameKind
		wantText string
	}{
		{"chat message", `{"type":"chat message","id":"1","room":"general","from":"al","text":"lg a 1 2 3","sentAt":"2025-01-01T00:00:00.000Z"}`, frameChat, "lg a 1 2 3"},
		{"fields in another order", `{"text":"hi","type":"chat message"}`, frameChat, "hi"},
		{"escaped text", `{"type":"chat message","text":"a \"b\" \u00e9"}`, frameChat, `a "b" é`},
		{"spaces", `{ "type" : "chat message", "text" : "hi" }`, frameChat, "hi"},
		{"error frame", `{"type":"error","code":"empty_text","message":"text is required"}`, frameError, ""},
		{"unknown type", `{"type":"presence"}`, frameOther, ""},
		{"no text", `{"type":"chat message"}`, frameOther, ""},
		{"not json", `hello`, frameOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, text := apigw{}.Decode([]byte(tt.frame))
			if kind != tt.wantKind || text != tt.wantText {
				t.Errorf("Decode(%q) = %v, %q; want %v, %q", tt.frame, kind, text, tt.wantKind, tt.wantText)
			}
		})
	}
}

func TestAPIGWURL(t *testing.T) {
	base, _ := url.Parse("ws://127.0.0.1:8080/local")
	if got, want := (apigw{room: "bench"}).URL(base, 7), "ws://127.0.0.1:8080/local?name=lg7&room=bench"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		size int
	}{{"no padding", 0}, {"padded", 200}, {"size below header", 10}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := payload{Run: "abcd1234", Sender: 3, Seq: 42, ScheduledAt: at, SentAt: at.Add(time.Millisecond)}.encode(tt.size)
			if tt.size > 70 && len(text) != tt.size {
				t.Errorf("len(text) = %d, want %d", len(text), tt.size)
			}
			p, err := parsePayload(text)
			if err != nil {
				t.Fatalf("parsePayload(%q): %v", text, err)
			}
			if p.Run != "abcd1234" || p.Sender != 3 || p.Seq != 42 || !p.ScheduledAt.Equal(at) || !p.SentAt.Equal(at.Add(time.Millisecond)) {
				t.Errorf("parsePayload = %+v", p)
			}
		})
	}
}

func TestParsePayloadRejects(t *testing.T) {
	for _, text := range []string{"", "hello", "lg ", "lg a 1 2", "lg a 1 2 3", "lg a x 2 3 4", "lg a 1 y 3 4", "lg a 1 2 z 4", "lg a 1 2 3 z", strings.Repeat("lg ", 10)} {
		if _, err := parsePayload(text); err == nil {
			t.Errorf("parsePayload(%q) = nil error, want one", text)
		}
	}
}

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{"ws://127.0.0.1:8080/local", true},
		{"ws://127.0.0.2:8080/local", true},
		{"ws://localhost:3000/socket.io/?EIO=4&transport=websocket", true},
		{"ws://[::1]:8080/local", true},
		{"ws://10.0.0.1:8080/local", false},
		{"ws://192.168.1.2/local", false},
		{"ws://example.com/local", false},
		{"wss://127.0.0.1/local", false},
		{"http://127.0.0.1/local", false},
		{"::", false},
	}
	for _, tt := range tests {
		if _, err := loopbackURL(tt.raw); (err == nil) != tt.ok {
			t.Errorf("loopbackURL(%q) error = %v, want ok %v", tt.raw, err, tt.ok)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\nThreads:\t11\n"
	m, err := parseProcStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKiB != 70000 || m.PeakKiB != 81234 {
		t.Errorf("got %+v, want RSS 70000 peak 81234", m)
	}
	if _, err := parseProcStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS: want an error")
	}
	if _, err := parseProcStatus([]byte("VmRSS:\t12 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("status with unexpected units: want an error")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults with clients", Config{Clients: 10, Senders: 2, Duration: time.Second}, true},
		{"messages instead of duration", Config{Clients: 10, Senders: 2, Messages: 5}, true},
		{"one client", Config{Clients: 1, Senders: 1, Duration: time.Second}, false},
		{"more senders than clients", Config{Clients: 2, Senders: 3, Duration: time.Second}, false},
		{"no bound", Config{Clients: 10, Senders: 2}, false},
		{"remote host", Config{Clients: 10, Senders: 2, Duration: time.Second, URL: "ws://10.1.2.3:8080/local"}, false},
		{"bad proto", Config{Proto: "mqtt", Clients: 10, Senders: 2, Duration: time.Second}, false},
		{"negative rate", Config{Clients: 10, Senders: 2, Duration: time.Second, Rate: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.setDefaults()
			if err := tt.cfg.validate(); (err == nil) != tt.ok {
				t.Errorf("validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "22991 (my (odd) cmd) R 22982 22982 6856 0 -1 4194304 124 0 0 0 250 50 0 0 20 0 1 0 83354 3133440 389"
	got, err := parseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	if _, err := parseProcStat([]byte("1 (x) R 1 2")); err == nil {
		t.Error("short stat: want an error")
	}
}
