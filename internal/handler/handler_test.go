package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/memstore"
)

// The connection ID of testdata/message.json, default.json, disconnect.json
// and connect.json.
const alice = "Bq3xTdT+joECFJw="

// event reads a golden API Gateway event from testdata.
func event(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return req
}

// recorder is the chat.Sender of the tests: it records the frames per
// connection, and the requests SenderFunc was asked for.
type recorder struct {
	mu       sync.Mutex
	frames   map[string][][]byte
	requests []*events.APIGatewayWebsocketProxyRequest
	errs     map[string]error
	deadline time.Time // of the last post's context
}

func newRecorder() *recorder {
	return &recorder{frames: map[string][][]byte{}, errs: map[string]error{}}
}

func (r *recorder) senders(req *events.APIGatewayWebsocketProxyRequest) chat.Sender {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	return r
}

func (r *recorder) Post(ctx context.Context, id string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadline, _ = ctx.Deadline()
	if err := r.errs[id]; err != nil {
		return err
	}
	r.frames[id] = append(r.frames[id], append([]byte(nil), data...))
	return nil
}

func (r *recorder) receivers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.frames {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *recorder) only(t *testing.T, id string, v any) {
	t.Helper()
	if got := r.receivers(); !slices.Equal(got, []string{id}) {
		t.Fatalf("frames went to %q, want %s alone", got, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frames[id]) != 1 {
		t.Fatalf("%s got %d frames, want 1", id, len(r.frames[id]))
	}
	if err := json.Unmarshal(r.frames[id][0], v); err != nil {
		t.Fatalf("frame %q: %v", r.frames[id][0], err)
	}
}

// brokenStore fails every call.
type brokenStore struct{}

var errStore = errors.New("store unavailable")

func (brokenStore) Put(context.Context, chat.Connection) error { return errStore }
func (brokenStore) Get(context.Context, string) (chat.Connection, error) {
	return chat.Connection{}, errStore
}
func (brokenStore) Delete(context.Context, string) (chat.Connection, error) {
	return chat.Connection{}, errStore
}
func (brokenStore) Rename(context.Context, string, string) (chat.Connection, error) {
	return chat.Connection{}, errStore
}
func (brokenStore) SetClock(context.Context, string, chat.Clock, time.Time, time.Time) (bool, error) {
	return false, errStore
}
func (brokenStore) DeleteStale(context.Context, string, time.Time) (bool, error) {
	return false, errStore
}
func (brokenStore) Members(context.Context, string, time.Time) ([]chat.Member, error) {
	return nil, errStore
}

func newHandler(store chat.Store, rec *recorder) *handler.Handler {
	return &handler.Handler{Store: store, Messages: memstore.NewHistory(), Senders: rec.senders, Logger: slog.New(slog.DiscardHandler)}
}

// populated returns a store with alice (the sender of the golden events),
// bob and carol in general, and dave in another room.
func populated(t *testing.T) *memstore.Store {
	t.Helper()
	s := memstore.New()
	now := time.Now()
	for _, c := range []chat.Connection{
		{ID: alice, Room: "general", Name: "alice"},
		{ID: "bob=", Room: "general", Name: "bob"},
		{ID: "carol/+", Room: "general", Name: "carol"},
		{ID: "dave", Room: "other", Name: "dave"},
	} {
		// Connected a minute ago: past chat.ConnectGrace, so a 410 proves them gone.
		c.ConnectedAt, c.ExpiresAt = now.Add(-time.Minute), now.Add(chat.TTL)
		if err := s.Put(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestGoldenEvents(t *testing.T) {
	tests := []struct {
		file, routeKey, eventType string
	}{
		{"connect.json", "$connect", "CONNECT"},
		{"connect-guest.json", "$connect", "CONNECT"},
		{"connect-bad-room.json", "$connect", "CONNECT"},
		{"connect-signed-in.json", "$connect", "CONNECT"},
		{"message.json", "chat message", "MESSAGE"},
		{"default.json", "$default", "MESSAGE"},
		{"disconnect.json", "$disconnect", "DISCONNECT"},
		{"history.json", "history", "MESSAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rc := event(t, tt.file).RequestContext
			if rc.RouteKey != tt.routeKey || rc.EventType != tt.eventType {
				t.Errorf("routeKey, eventType = %q, %q; want %q, %q", rc.RouteKey, rc.EventType, tt.routeKey, tt.eventType)
			}
			if rc.ConnectionID == "" || rc.APIID == "" || rc.Stage == "" || rc.RequestID == "" || rc.ConnectedAt == 0 {
				t.Errorf("requestContext lacks connectionId, apiId, stage, requestId or connectedAt: %+v", rc)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		query      map[string]string // replaces the event's, if set
		store      chat.Store
		wantStatus int
		wantName   string // "guest-" means any guest name
		wantRoom   string
		wantInBody string
		headers    map[string]string // replace the event's
		setup      func(h *handler.Handler, s *memstore.Store)
	}{
		{name: "signed in: the name comes from the authorizer", file: "connect-signed-in.json",
			query:      map[string]string{"room": "general", "name": "mallory", "token": "x"},
			wantStatus: http.StatusOK, wantName: "Alice Smith", wantRoom: "general"},
		{name: "allowed origin", file: "connect.json", wantStatus: http.StatusOK, wantName: "alice", wantRoom: "general",
			setup: func(h *handler.Handler, _ *memstore.Store) {
				h.Origins = handler.OriginPolicy{Allowed: []string{"https://chat.example.com"}}
			}},
		{name: "origin in another case", file: "connect.json", wantStatus: http.StatusOK, wantName: "alice", wantRoom: "general",
			headers: map[string]string{"origin": "https://CHAT.example.com"},
			setup: func(h *handler.Handler, _ *memstore.Store) {
				h.Origins = handler.OriginPolicy{Allowed: []string{"https://chat.example.com"}}
			}},
		{name: "wrong origin", file: "connect.json", wantStatus: http.StatusForbidden,
			headers: map[string]string{"Origin": "https://evil.example"},
			setup: func(h *handler.Handler, _ *memstore.Store) {
				h.Origins = handler.OriginPolicy{Allowed: []string{"https://chat.example.com"}, AllowMissing: true}
			}},
		{name: "no origin, allowed", file: "connect.json", wantStatus: http.StatusOK, wantName: "alice", wantRoom: "general",
			headers: map[string]string{},
			setup: func(h *handler.Handler, _ *memstore.Store) {
				h.Origins = handler.OriginPolicy{Allowed: []string{"https://chat.example.com"}, AllowMissing: true}
			}},
		{name: "no origin, refused", file: "connect.json", wantStatus: http.StatusForbidden,
			headers: map[string]string{},
			setup: func(h *handler.Handler, _ *memstore.Store) {
				h.Origins = handler.OriginPolicy{Allowed: []string{"https://chat.example.com"}}
			}},
		{name: "full room", file: "connect.json", wantStatus: http.StatusTooManyRequests, wantInBody: chat.CodeRoomFull,
			setup: func(h *handler.Handler, s *memstore.Store) {
				h.RoomCap = 2
				for _, id := range []string{"x", "y"} {
					s.Put(context.Background(), chat.Connection{ID: id, Room: "general", Name: id, ExpiresAt: time.Now().Add(time.Hour)})
				}
			}},
		{name: "name and room", file: "connect.json", wantStatus: http.StatusOK, wantName: "alice", wantRoom: "general"},
		{name: "guest", file: "connect-guest.json", wantStatus: http.StatusOK, wantName: "guest-", wantRoom: "general"},
		{name: "other room", file: "connect.json", query: map[string]string{"name": "Zoë", "room": "room-2"},
			wantStatus: http.StatusOK, wantName: "Zoë", wantRoom: "room-2"},
		{name: "bad room", file: "connect-bad-room.json", wantStatus: http.StatusBadRequest, wantInBody: chat.CodeInvalidRoom},
		{name: "long name", file: "connect.json", query: map[string]string{"name": strings.Repeat("n", 33)},
			wantStatus: http.StatusBadRequest, wantInBody: chat.CodeInvalidName},
		{name: "control character in name", file: "connect.json", query: map[string]string{"name": "a\u0007"},
			wantStatus: http.StatusBadRequest, wantInBody: chat.CodeInvalidName},
		{name: "store failure", file: "connect.json", store: brokenStore{}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := event(t, tt.file)
			if tt.query != nil {
				req.QueryStringParameters = tt.query
			}
			if tt.headers != nil {
				req.Headers = tt.headers
			}
			store := tt.store
			mem := memstore.New()
			if store == nil {
				store = mem
			}
			rec := newRecorder()
			h := newHandler(store, rec)
			if tt.setup != nil {
				tt.setup(h, mem)
			}
			resp, err := h.Connect(context.Background(), req)
			if err != nil {
				t.Fatalf("Connect() error = %v, want nil (failures are status codes)", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, resp.Body, tt.wantStatus)
			}
			if !strings.Contains(resp.Body, tt.wantInBody) {
				t.Errorf("body = %q, want it to contain %q", resp.Body, tt.wantInBody)
			}
			if tt.wantStatus == http.StatusInternalServerError && strings.Contains(resp.Body, errStore.Error()) {
				t.Errorf("body = %q reveals the internal error", resp.Body)
			}
			if r := rec.receivers(); len(r) != 0 {
				t.Errorf("frames went to %q during $connect, want none (the connection does not exist yet)", r)
			}
			c, err := mem.Get(context.Background(), req.RequestContext.ConnectionID)
			if tt.wantStatus != http.StatusOK {
				if !errors.Is(err, chat.ErrNotFound) {
					t.Errorf("stored %+v, want nothing", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("connection not stored: %v", err)
			}
			if c.Room != tt.wantRoom || !(c.Name == tt.wantName || tt.wantName == "guest-" && strings.HasPrefix(c.Name, "guest-")) {
				t.Errorf("stored %+v, want name %q in room %q", c, tt.wantName, tt.wantRoom)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	rec := newRecorder()
	store := populated(t)
	resp, err := newHandler(store, rec).Message(context.Background(), event(t, "message.json"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Message() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	if got, want := rec.receivers(), []string{"bob=", "carol/+"}; !slices.Equal(got, want) {
		t.Fatalf("frames went to %q, want %q", got, want)
	}
	var m chat.Message
	if err := json.Unmarshal(rec.frames["bob="][0], &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != chat.TypeChatMessage || m.From != "alice" || m.Room != "general" || m.Text != "hello, room 👋" || m.ID == "" {
		t.Errorf("frame = %+v, want alice's message to general", m)
	}
	if _, err := time.Parse(time.RFC3339, m.SentAt); err != nil || !strings.HasSuffix(m.SentAt, "Z") || len(m.SentAt) != len("2026-11-24T15:00:00.000Z") {
		t.Errorf("sentAt = %q, want RFC 3339 UTC with milliseconds", m.SentAt)
	}
	if len(rec.requests) != 1 || rec.requests[0].RequestContext.APIID != "a1b2c3d4e5" || rec.requests[0].RequestContext.Stage != "prod" {
		t.Errorf("SenderFunc got %d requests, want the event with its apiId and stage", len(rec.requests))
	}
}

func TestMessageRefused(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode string
	}{
		{name: "no text", body: `{"action":"chat message"}`, wantCode: chat.CodeEmptyText},
		{name: "blank", body: `{"action":"chat message","text":"  \n "}`, wantCode: chat.CodeEmptyText},
		{name: "text object", body: `{"action":"chat message","text":{"a":1}}`, wantCode: chat.CodeInvalidField},
		{name: "too long", body: `{"action":"chat message","text":"` + strings.Repeat("é", 2001) + `"}`, wantCode: chat.CodeTextTooLong},
		{name: "lone surrogate", body: `{"action":"chat message","text":"\ud83d"}`, wantCode: chat.CodeInvalidUTF8},
		{name: "invalid UTF-8", body: "{\"action\":\"chat message\",\"text\":\"\xfe\"}", wantCode: chat.CodeInvalidUTF8},
		{name: "trailing garbage", body: `{"action":"chat message","text":"hi"}}`, wantCode: chat.CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := event(t, "message.json")
			req.Body = tt.body
			rec := newRecorder()
			resp, err := newHandler(populated(t), rec).Message(context.Background(), req)
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("Message() = %d %q, %v; want 400", resp.StatusCode, resp.Body, err)
			}
			var f chat.ErrorFrame
			rec.only(t, alice, &f)
			if f.Type != chat.TypeError || f.Code != tt.wantCode || f.Message == "" {
				t.Errorf("error frame = %+v, want code %q", f, tt.wantCode)
			}
		})
	}
}

// A server failure answers 500 and tells the sender alone ("internal"),
// so that its page keeps the message for resending; a sender that is not
// stored is told to reconnect (not_connected).
func TestMessageServerErrors(t *testing.T) {
	tests := []struct {
		name       string
		store      chat.Store
		wantStatus int
		wantCode   string
	}{
		{name: "store failure", store: brokenStore{}, wantStatus: http.StatusInternalServerError, wantCode: chat.CodeInternal},
		{name: "sender unknown", store: memstore.New(), wantStatus: http.StatusBadRequest, wantCode: chat.CodeNotConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			resp, err := newHandler(tt.store, rec).Message(context.Background(), event(t, "message.json"))
			if err != nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("Message() = %d %q, %v; want %d", resp.StatusCode, resp.Body, err, tt.wantStatus)
			}
			var f chat.ErrorFrame
			rec.only(t, alice, &f)
			if f.Code != tt.wantCode {
				t.Errorf("error frame = %+v, want code %q", f, tt.wantCode)
			}
		})
	}
}

// Without a messages table, messages fail with "internal", never silently.
func TestMessageWithoutHistory(t *testing.T) {
	rec := newRecorder()
	h := newHandler(populated(t), rec)
	h.Messages = nil
	resp, _ := h.Message(context.Background(), event(t, "message.json"))
	var f chat.ErrorFrame
	rec.only(t, alice, &f)
	if resp.StatusCode != http.StatusInternalServerError || f.Code != chat.CodeInternal {
		t.Errorf("Message() = %d, frame %+v; want 500 and code internal", resp.StatusCode, f)
	}
}

func TestHistory(t *testing.T) {
	rec := newRecorder()
	h := newHandler(populated(t), rec)
	if resp, err := h.Message(context.Background(), event(t, "message.json")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Message() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	rec = newRecorder()
	h.Senders = rec.senders
	req := event(t, "history.json")
	resp, err := h.History(context.Background(), req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("History() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	var frame chat.HistoryFrame
	rec.only(t, alice, &frame)
	if frame.Type != chat.TypeHistory || len(frame.Messages) != 1 || frame.Messages[0].Seq != 1 || frame.Messages[0].From != "alice" {
		t.Errorf("history frame = %+v, want alice's message, seq 1", frame)
	}

	rec = newRecorder()
	h.Senders = rec.senders
	req.Body = `{"action":"history","since":"x"}`
	resp, _ = h.History(context.Background(), req)
	var f chat.ErrorFrame
	rec.only(t, alice, &f)
	if resp.StatusCode != http.StatusBadRequest || f.Code != chat.CodeInvalidField {
		t.Errorf("History(bad) = %d, frame %+v; want 400 and invalid_field", resp.StatusCode, f)
	}
}

// Failed posts are the broadcast's business: the route still answers 200,
// and gone recipients leave the store.
func TestMessageRecipientsFail(t *testing.T) {
	rec := newRecorder()
	rec.errs["bob="] = chat.ErrGone
	rec.errs["carol/+"] = errors.New("throttled for good")
	store := populated(t)
	resp, err := newHandler(store, rec).Message(context.Background(), event(t, "message.json"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Message() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	if _, err := store.Get(context.Background(), "bob="); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("gone bob still stored (%v)", err)
	}
	if _, err := store.Get(context.Background(), "carol/+"); err != nil {
		t.Errorf("carol removed after a non-gone failure: %v", err)
	}
}

func TestMessageDeadlineMargin(t *testing.T) {
	rec := newRecorder()
	h := newHandler(populated(t), rec)
	h.DeadlineMargin = 3 * time.Second
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if resp, err := h.Message(ctx, event(t, "message.json")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Message() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	if want := deadline.Add(-3 * time.Second); !rec.deadline.Equal(want) {
		t.Errorf("posts had deadline %v, want %v (the margin before the invocation's)", rec.deadline, want)
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name     string
		body     *string // replaces the golden body if set
		wantCode string
	}{
		{name: "golden: not JSON", wantCode: chat.CodeInvalidJSON},
		{name: "unknown action", body: ptr(`{"action":"shout","text":"hi"}`), wantCode: chat.CodeUnknownAction},
		{name: "no action", body: ptr(`{"text":"hi"}`), wantCode: chat.CodeUnknownAction},
		{name: "action number", body: ptr(`{"action":7}`), wantCode: chat.CodeInvalidField},
		{name: "array", body: ptr(`[]`), wantCode: chat.CodeInvalidJSON},
		{name: "empty", body: ptr(``), wantCode: chat.CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := event(t, "default.json")
			if tt.body != nil {
				req.Body = *tt.body
			}
			rec := newRecorder()
			resp, err := newHandler(populated(t), rec).Default(context.Background(), req)
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("Default() = %d %q, %v; want 400", resp.StatusCode, resp.Body, err)
			}
			var f chat.ErrorFrame
			rec.only(t, alice, &f)
			if f.Type != chat.TypeError || f.Code != tt.wantCode {
				t.Errorf("error frame = %+v, want code %q", f, tt.wantCode)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	rec := newRecorder()
	store := populated(t)
	resp, err := newHandler(store, rec).Disconnect(context.Background(), event(t, "disconnect.json"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Disconnect() = %d %q, %v; want 200", resp.StatusCode, resp.Body, err)
	}
	if _, err := store.Get(context.Background(), alice); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("alice still stored after $disconnect (%v)", err)
	}
	if _, err := store.Get(context.Background(), "bob="); err != nil {
		t.Errorf("bob removed: %v", err)
	}
	// Again, as a retried or duplicate $disconnect: still fine.
	if resp, err := newHandler(store, rec).Disconnect(context.Background(), event(t, "disconnect.json")); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("second Disconnect() = %d, %v; want 200", resp.StatusCode, err)
	}

	resp, err = newHandler(brokenStore{}, rec).Disconnect(context.Background(), event(t, "disconnect.json"))
	if err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("Disconnect() with a broken store = %d, %v; want 500", resp.StatusCode, err)
	}
	// The rest of alice's room is told, once (the second $disconnect
	// found nothing to delete); dave, in another room, is not.
	if got, want := rec.receivers(), []string{"bob=", "carol/+"}; !slices.Equal(got, want) {
		t.Fatalf("frames went to %q, want %q", got, want)
	}
	var left chat.PresenceFrame
	rec.mu.Lock()
	frames := rec.frames["bob="]
	rec.mu.Unlock()
	if len(frames) != 1 || json.Unmarshal(frames[0], &left) != nil || left != (chat.PresenceFrame{Type: chat.TypeLeft, Name: "alice", Count: 2}) {
		t.Errorf("bob got %q, want one left notice for alice with count 2", frames)
	}
}

// Every log line of a request carries routeKey, connectionId and
// apiRequestId (API Gateway's request ID; in Lambda, requestId is Lambda's).
func TestLogKeys(t *testing.T) {
	var buf bytes.Buffer
	rec := newRecorder()
	h := newHandler(memstore.New(), rec)
	h.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	if _, err := h.Connect(context.Background(), event(t, "connect.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Connect(context.Background(), event(t, "connect-bad-room.json")); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("logged %q, want a line per request", buf.String())
	}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for _, key := range []string{"routeKey", "connectionId", "apiRequestId"} {
			if s, _ := rec[key].(string); s == "" {
				t.Errorf("log line %q lacks %s", line, key)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
