package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// frameKind says what a received frame is.
type frameKind int

const (
	frameOther   frameKind = iota // anything else (ignored)
	frameChat                     // a chat message; text is set
	frameError                    // an error frame (apigw) or a connect error (socketio)
	framePing                     // an Engine.IO ping: answer with pong()
	frameClosing                  // the server is closing the session (Engine.IO close, Socket.IO disconnect)
)

// protocol is the wire format of one server kind.
type protocol interface {
	// URL is where client i connects.
	URL(base *url.URL, client int) string
	// Open completes the session after the WebSocket handshake.
	Open(ctx context.Context, c messenger) error
	// Encode returns the frame that sends text as a chat message.
	Encode(text string) []byte
	// Decode classifies a received frame and returns a chat message's text.
	Decode(frame []byte) (frameKind, string)
	// Pong is the answer to a framePing.
	Pong() []byte
}

func newProtocol(name, room string, acks bool) (protocol, error) {
	switch name {
	case "apigw", "ceiling":
		// ceiling is bench/ceiling, which speaks the project's protocol
		// (and ignores clientMsgId): its runs are labelled apart.
		return apigw{room: room, acks: acks}, nil
	case "socketio":
		return socketio{}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q (want apigw, ceiling or socketio)", name)
}

// defaultURL is the default server address of each protocol.
func defaultURL(proto string) string {
	if proto == "socketio" {
		return "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
	}
	return "ws://127.0.0.1:8080/local"
}

// apigw is the project's protocol (docs/protocol.md): name and room in the
// connection URL, {"action":"chat message","text":...} up,
// {"type":"chat message",...,"text":...} down.
type apigw struct {
	room string
	// acks sends each message with a clientMsgId, so that the project
	// stores it once and acks it: its whole send path, as the page uses it.
	acks bool
}

// clientMsgIDs numbers the messages of this process for -acks.
var clientMsgIDs atomic.Int64

func (p apigw) URL(base *url.URL, client int) string {
	u := *base
	q := u.Query()
	q.Set("name", "lg"+strconv.Itoa(client))
	if p.room != "" {
		q.Set("room", p.room)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (apigw) Open(context.Context, messenger) error { return nil }

func (p apigw) Encode(text string) []byte {
	b := make([]byte, 0, len(text)+72)
	b = append(b, `{"action":"chat message","text":`...)
	b = strconv.AppendQuote(b, text) // text is ASCII: Go quoting is JSON quoting
	if p.acks {
		b = append(b, `,"clientMsgId":"lg`...)
		b = strconv.AppendInt(b, clientMsgIDs.Add(1), 10)
		b = append(b, '"')
	}
	return append(b, '}')
}

func (apigw) Decode(frame []byte) (frameKind, string) {
	typ, ok := jsonStringField(frame, "type")
	if !ok {
		return frameOther, ""
	}
	switch typ {
	case "chat message":
		text, ok := jsonStringField(frame, "text")
		if !ok {
			return frameOther, ""
		}
		return frameChat, text
	case "error":
		return frameError, ""
	}
	return frameOther, ""
}

func (apigw) Pong() []byte { return nil }

// jsonStringField returns the string value of a top-level key of a JSON
// object. The fast path scans for "key":"...", which is how encoding/json
// writes it; anything unusual (escapes, spaces) falls back to decoding.
func jsonStringField(frame []byte, key string) (string, bool) {
	pat := make([]byte, 0, len(key)+5)
	pat = append(pat, '"')
	pat = append(pat, key...)
	pat = append(pat, `":"`...)
	if i := bytes.Index(frame, pat); i >= 0 {
		rest := frame[i+len(pat):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			return string(rest[:j]), true
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		return "", false
	}
	var s string
	if err := json.Unmarshal(m[key], &s); err != nil {
		return "", false
	}
	return s, true
}

// socketio is Socket.IO v4 over Engine.IO v4 on a bare WebSocket (no
// polling): the server opens with `0{...}`, the client connects to the main
// namespace with `40` and gets `40{"sid":...}`; events are
// `42["name",args...]`; the server pings with `2` and the client answers `3`.
type socketio struct{}

func (socketio) URL(base *url.URL, _ int) string { return base.String() }

// Open reads the Engine.IO open packet, connects to the main namespace and
// waits for the server to confirm it.
func (socketio) Open(ctx context.Context, c messenger) error {
	b, err := c.ReadMessage(ctx)
	if err != nil {
		return fmt.Errorf("read engine.io open packet: %w", err)
	}
	if _, err := parseEngineOpen(b); err != nil {
		return err
	}
	if err := c.WriteText(ctx, []byte("40")); err != nil {
		return fmt.Errorf("send socket.io connect: %w", err)
	}
	for range 8 { // a few pings may come first; never loop unbounded
		b, err := c.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("read socket.io connect answer: %w", err)
		}
		switch {
		case bytes.HasPrefix(b, []byte("40")):
			return nil
		case bytes.HasPrefix(b, []byte("44")):
			return fmt.Errorf("socket.io connect refused: %s", b[2:])
		case string(b) == "2":
			if err := c.WriteText(ctx, []byte("3")); err != nil {
				return fmt.Errorf("send pong: %w", err)
			}
		}
	}
	return errors.New("socket.io connect: no answer to 40")
}

// engineOpen is the payload of the Engine.IO open packet.
type engineOpen struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"` // ms
	PingTimeout  int      `json:"pingTimeout"`  // ms
	MaxPayload   int      `json:"maxPayload"`
}

func parseEngineOpen(b []byte) (engineOpen, error) {
	var o engineOpen
	if len(b) == 0 || b[0] != '0' {
		return o, fmt.Errorf("engine.io: want open packet 0{...}, got %.40q", b)
	}
	if err := json.Unmarshal(b[1:], &o); err != nil {
		return o, fmt.Errorf("engine.io open packet: %w", err)
	}
	if o.SID == "" {
		return o, errors.New("engine.io open packet: no sid")
	}
	return o, nil
}

func (socketio) Encode(text string) []byte {
	b := make([]byte, 0, len(text)+24)
	b = append(b, `42["chat message",`...)
	b = strconv.AppendQuote(b, text)
	return append(b, ']')
}

var sioChatPrefix = []byte(`42["chat message","`)

func (socketio) Decode(frame []byte) (frameKind, string) {
	if len(frame) == 0 {
		return frameOther, ""
	}
	switch frame[0] {
	case '2':
		if len(frame) == 1 {
			return framePing, ""
		}
		return frameOther, "" // a ping probe ("2probe") is for upgrades only
	case '1':
		return frameClosing, ""
	case '4':
	default:
		return frameOther, ""
	}
	// An Engine.IO message: a Socket.IO packet follows.
	if len(frame) < 2 {
		return frameOther, ""
	}
	switch frame[1] {
	case '1':
		return frameClosing, ""
	case '4':
		return frameError, ""
	case '2':
	default:
		return frameOther, ""
	}
	if bytes.HasPrefix(frame, sioChatPrefix) && bytes.HasSuffix(frame, []byte(`"]`)) {
		text := frame[len(sioChatPrefix) : len(frame)-2]
		if bytes.IndexByte(text, '"') < 0 && bytes.IndexByte(text, '\\') < 0 {
			return frameChat, string(text)
		}
	}
	// General form: 42[<event>,<args>...], optionally with a namespace
	// ("42/ns,") or an ack id ("4212[") before the array.
	body := frame[2:]
	i := bytes.IndexByte(body, '[')
	if i < 0 {
		return frameOther, ""
	}
	var args []json.RawMessage
	if err := json.Unmarshal(body[i:], &args); err != nil || len(args) < 2 {
		return frameOther, ""
	}
	var event, text string
	if json.Unmarshal(args[0], &event) != nil || event != "chat message" {
		return frameOther, ""
	}
	if json.Unmarshal(args[1], &text) != nil {
		return frameOther, ""
	}
	return frameChat, text
}

func (socketio) Pong() []byte { return []byte("3") }

// payload is what a load generator message carries in its text:
// "lg <run> <sender> <seq> <unix ns of the scheduled send> <unix ns of the
// actual send>" and optional padding ("." characters) up to a size.
type payload struct {
	Run         string
	Sender      int
	Seq         int64
	ScheduledAt time.Time
	SentAt      time.Time
}

func (p payload) encode(size int) string {
	var b strings.Builder
	b.Grow(max(size, 64))
	b.WriteString("lg ")
	b.WriteString(p.Run)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(p.Sender))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(p.Seq, 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(p.ScheduledAt.UnixNano(), 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(p.SentAt.UnixNano(), 10))
	if pad := size - b.Len(); pad > 0 {
		b.WriteByte(' ')
		for range pad - 1 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

var errNotPayload = errors.New("not a load generator message")

func parsePayload(text string) (payload, error) {
	var p payload
	rest, ok := strings.CutPrefix(text, "lg ")
	if !ok {
		return p, errNotPayload
	}
	var fields [5]string
	for i := range fields {
		f, r, _ := strings.Cut(rest, " ")
		if f == "" {
			return p, errNotPayload
		}
		fields[i], rest = f, r
	}
	sender, err1 := strconv.Atoi(fields[1])
	seq, err2 := strconv.ParseInt(fields[2], 10, 64)
	sched, err3 := strconv.ParseInt(fields[3], 10, 64)
	sent, err4 := strconv.ParseInt(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return p, errNotPayload
	}
	return payload{Run: fields[0], Sender: sender, Seq: seq, ScheduledAt: time.Unix(0, sched), SentAt: time.Unix(0, sent)}, nil
}
