package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// fakeStore is a chat.Store keeping connections in insertion order, with
// errors to inject and a record of deletions.
type fakeStore struct {
	mu         sync.Mutex
	conns      []chat.Connection
	putErr     error
	getErr     error
	membersErr error
	deleteErr  error
	deleted    []string
	gets       int
	membersAt  []time.Time
}

func (s *fakeStore) Put(_ context.Context, c chat.Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.conns = slices.DeleteFunc(s.conns, func(o chat.Connection) bool { return o.ID == c.ID })
	s.conns = append(s.conns, c)
	return nil
}

func (s *fakeStore) Get(_ context.Context, id string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.getErr != nil {
		return chat.Connection{}, s.getErr
	}
	for _, c := range s.conns {
		if c.ID == id {
			return c, nil
		}
	}
	return chat.Connection{}, chat.ErrNotFound
}

func (s *fakeStore) Delete(_ context.Context, id string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, id)
	if s.deleteErr != nil {
		return chat.Connection{}, s.deleteErr
	}
	var old chat.Connection
	s.conns = slices.DeleteFunc(s.conns, func(o chat.Connection) bool {
		if o.ID == id {
			old = o
		}
		return o.ID == id
	})
	return old, nil
}

func (s *fakeStore) Rename(_ context.Context, id, name string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return chat.Connection{}, s.getErr
	}
	for i, c := range s.conns {
		if c.ID == id {
			s.conns[i].Name = name
			return c, nil
		}
	}
	return chat.Connection{}, chat.ErrNotFound
}

func (s *fakeStore) SetClock(_ context.Context, id string, clock chat.Clock, prev, next time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.conns {
		if c.ID == id && clock.Of(c).Equal(prev) {
			s.conns[i] = clock.Set(c, next)
			return true, nil
		}
	}
	return false, nil
}

func (s *fakeStore) DeleteStale(_ context.Context, id string, cutoff time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleteErr != nil {
		s.deleted = append(s.deleted, id)
		return false, s.deleteErr
	}
	i := slices.IndexFunc(s.conns, func(c chat.Connection) bool { return c.ID == id })
	if i < 0 || !s.conns[i].ConnectedAt.Before(cutoff) {
		return false, nil // gone already, or young: kept
	}
	s.deleted = append(s.deleted, id)
	s.conns = slices.DeleteFunc(s.conns, func(o chat.Connection) bool { return o.ID == id })
	return true, nil
}

func (s *fakeStore) Members(_ context.Context, room string, now time.Time) ([]chat.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.membersAt = append(s.membersAt, now)
	if s.membersErr != nil {
		return nil, s.membersErr
	}
	var members []chat.Member
	for _, c := range s.conns {
		if c.Room == room && c.ExpiresAt.After(now) {
			members = append(members, chat.Member{ID: c.ID, Name: c.Name, UserID: c.UserID, ConnectedAt: c.ConnectedAt})
		}
	}
	return members, nil
}

func (s *fakeStore) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, c := range s.conns {
		ids = append(ids, c.ID)
	}
	return ids
}

// fakeSender is a chat.Sender recording frames per connection. A post to a
// connection with an error in errs fails with it; before, if set, runs first.
// Like a real client it fails with the context's error once ctx is done.
type fakeSender struct {
	mu       sync.Mutex
	errs     map[string]error
	frames   map[string][][]byte
	order    []string
	inFlight int
	maxIn    int
	before   func(ctx context.Context, id string)
}

func newSender() *fakeSender {
	return &fakeSender{errs: map[string]error{}, frames: map[string][][]byte{}}
}

func (s *fakeSender) Post(ctx context.Context, id string, data []byte) error {
	s.mu.Lock()
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.before != nil {
		s.before(ctx, id)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = append(s.order, id)
	if err := s.errs[id]; err != nil {
		return err
	}
	s.frames[id] = append(s.frames[id], append([]byte(nil), data...))
	return nil
}

// received returns the IDs that got a frame, sorted.
func (s *fakeSender) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.frames {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *fakeSender) frame(t *testing.T, id string, v any) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.frames[id]) != 1 {
		t.Fatalf("%s got %d frames, want 1", id, len(s.frames[id]))
	}
	if err := json.Unmarshal(s.frames[id][0], v); err != nil {
		t.Fatalf("frame to %s = %q: %v", id, s.frames[id][0], err)
	}
}

var now = time.Date(2026, 11, 24, 15, 0, 0, 123_456_789, time.UTC)

// fakeHistory is memstore.History with errors to inject.
type fakeHistory struct {
	*memstore.History
	appendErr, readErr error
	appends            int
}

func newHistory() *fakeHistory { return &fakeHistory{History: memstore.NewHistory()} }

func (h *fakeHistory) Append(ctx context.Context, m chat.Message, expiresAt, now time.Time) (chat.Message, bool, error) {
	h.appends++
	if h.appendErr != nil {
		return chat.Message{}, false, h.appendErr
	}
	return h.History.Append(ctx, m, expiresAt, now)
}

func (h *fakeHistory) Read(ctx context.Context, room string, q chat.Range, now time.Time) ([]chat.Message, bool, error) {
	if h.readErr != nil {
		return nil, false, h.readErr
	}
	return h.History.Read(ctx, room, q, now)
}

func newService(store chat.Store, sender chat.Sender) *chat.Service {
	return &chat.Service{
		Store: store, Sender: sender, History: newHistory(),
		// The clock stands still here: limits_test.go tests the limit.
		SendLimit: chat.RateLimit{Burst: -1},
		Logger:    slog.New(slog.DiscardHandler),
		Now:       func() time.Time { return now },
		NewID:     func() string { return "0123456789abcdefghijklmnop" },
	}
}

// uid is the user ID of the anonymous person whose client's secret is
// made of id: the same person for the same id.
func uid(id string) string {
	return chat.AnonymousUserID("secret-of-the-person-" + id)
}

// room returns a store with the connections in room general, plus one in
// room other.
func room(ids ...string) *fakeStore {
	s := &fakeStore{}
	for _, id := range ids {
		s.conns = append(s.conns, chat.Connection{ID: id, Room: "general", Name: "name-" + id, UserID: uid(id),
			ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	}
	s.conns = append(s.conns, chat.Connection{ID: "elsewhere", Room: "other", Name: "zed", ExpiresAt: now.Add(time.Hour)})
	return s
}

func TestConnect(t *testing.T) {
	storeErr := errors.New("store down")
	tests := []struct {
		name       string
		inName     string
		inRoom     string
		putErr     error
		want       chat.Connection
		wantCode   string
		wantErr    error
		wantStored bool
	}{
		{name: "name and room", inName: "alice", inRoom: "room-1", wantStored: true,
			want: chat.Connection{ID: "c1", Room: "room-1", Name: "alice", ConnectedAt: now, ExpiresAt: now.Add(chat.TTL)}},
		{name: "guest in default room", wantStored: true,
			want: chat.Connection{ID: "c1", Room: "general", Name: "guest-01234", ConnectedAt: now, ExpiresAt: now.Add(chat.TTL)}},
		{name: "unicode name", inName: "Zoë 🙂", wantStored: true,
			want: chat.Connection{ID: "c1", Room: "general", Name: "Zoë 🙂", ConnectedAt: now, ExpiresAt: now.Add(chat.TTL)}},
		{name: "bad room", inName: "alice", inRoom: "Room!", wantCode: chat.CodeInvalidRoom},
		{name: "long name", inName: strings.Repeat("a", 33), wantCode: chat.CodeInvalidName},
		{name: "blank name", inName: "  ", wantCode: chat.CodeInvalidName},
		{name: "control char in name", inName: "a\nb", wantCode: chat.CodeInvalidName},
		{name: "store error", inName: "alice", putErr: storeErr, wantErr: storeErr, wantCode: "not a protocol error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{putErr: tt.putErr}
			sender := newSender()
			got, err := newService(store, sender).Connect(context.Background(), "c1", tt.inName, tt.inRoom)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("Connect() error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Connect() error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if err != nil && tt.wantErr != nil && !strings.Contains(err.Error(), "c1") {
				t.Errorf("Connect() error = %v, want the connection ID in it", err)
			}
			if got.UserID != "" && !chat.IsUserID(got.UserID) {
				t.Errorf("Connect() = %+v, want a user ID", got)
			}
			if tt.want.ID != "" {
				tt.want.UserID = got.UserID // a new anonymous user: random
			}
			if got != tt.want {
				t.Errorf("Connect() = %+v, want %+v", got, tt.want)
			}
			stored, _ := store.Get(context.Background(), "c1")
			if tt.wantStored && stored != tt.want {
				t.Errorf("stored %+v, want %+v", stored, tt.want)
			}
			if !tt.wantStored && len(store.ids()) != 0 {
				t.Errorf("stored %q, want nothing", store.ids())
			}
			if r := sender.received(); len(r) != 0 {
				t.Errorf("frames sent to %q during $connect, want none", r)
			}
		})
	}
}

func TestConnectGuestNames(t *testing.T) {
	s := &chat.Service{Store: &fakeStore{}, Sender: newSender()}
	a, err := s.Connect(context.Background(), "a", "", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Connect(context.Background(), "b", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []chat.Connection{a, b} {
		if !strings.HasPrefix(c.Name, "guest-") || len(c.Name) != len("guest-")+5 || chat.ValidateName(c.Name) != nil {
			t.Errorf("guest name = %q, want guest- and 5 characters", c.Name)
		}
		if c.ExpiresAt.Sub(c.ConnectedAt) != chat.TTL {
			t.Errorf("expiry %v after connecting, want %v", c.ExpiresAt.Sub(c.ConnectedAt), chat.TTL)
		}
	}
	if a.Name == b.Name {
		t.Errorf("two guests both named %q", a.Name)
	}
}

func TestDisconnect(t *testing.T) {
	store := room("a", "b")
	if err := newService(store, newSender()).Disconnect(context.Background(), "a"); err != nil {
		t.Fatalf("Disconnect() error = %v", err)
	}
	if got, want := store.ids(), []string{"b", "elsewhere"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}

	storeErr := errors.New("store down")
	store.deleteErr = storeErr
	err := newService(store, newSender()).Disconnect(context.Background(), "b")
	if !errors.Is(err, storeErr) || !strings.Contains(err.Error(), "b") {
		t.Errorf("Disconnect() error = %v, want it to wrap %v and name the connection", err, storeErr)
	}
}

func TestSendDelivers(t *testing.T) {
	store := room("alice", "bob", "carol")
	sender := newSender()
	d, err := newService(store, sender).Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"héllo 😀"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 2, Delivered: 2}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
	if got, want := sender.received(), []string{"bob", "carol"}; !slices.Equal(got, want) {
		t.Errorf("frames went to %q, want %q (never the sender, never another room)", got, want)
	}
	var m chat.Message
	sender.frame(t, "bob", &m)
	want := chat.Message{Type: "chat message", ID: "0123456789abcdefghijklmnop", Room: "general", Seq: 1, Epoch: m.Epoch,
		From: "name-alice", FromID: uid("alice"), Text: "héllo 😀", SentAt: "2026-11-24T15:00:00.123Z"}
	if !reflect.DeepEqual(m, want) || m.Epoch == "" {
		t.Errorf("frame = %+v, want %+v", m, want)
	}
	if len(store.membersAt) != 1 || !store.membersAt[0].Equal(now) {
		t.Errorf("Members called at %v, want once at %v", store.membersAt, now)
	}
	// The frame carries exactly the protocol's fields.
	var fields map[string]any
	sender.frame(t, "carol", &fields)
	if len(fields) != 9 {
		t.Errorf("frame fields = %v, want type, id, room, seq, epoch, from, fromId, text, sentAt", fields)
	}
}

func TestSendAlone(t *testing.T) {
	sender := newSender()
	d, err := newService(room("alice"), sender).Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"anyone?"}`))
	if err != nil || d != (chat.Delivery{Seq: 1}) {
		t.Errorf("Send() = %+v, %v; want nothing delivered and no error", d, err)
	}
	if r := sender.received(); len(r) != 0 {
		t.Errorf("frames went to %q, want none", r)
	}
}

// failingRoom is alice's room where posts to two members find them gone,
// one fails and one is too large; bob, carol and dave receive.
func failingRoom() (*fakeStore, *fakeSender) {
	store := room("alice", "bob", "gone1", "carol", "broken", "large", "gone2", "dave")
	sender := newSender()
	sender.errs["gone1"] = fmt.Errorf("post to connection gone1: %w", chat.ErrGone)
	sender.errs["gone2"] = fmt.Errorf("post to connection gone2: %w", chat.ErrGone)
	sender.errs["broken"] = errors.New("connection reset")
	sender.errs["large"] = fmt.Errorf("post: %w", chat.ErrPayloadTooLarge)
	return store, sender
}

func TestSendFailures(t *testing.T) {
	store, sender := failingRoom()
	svc := newService(store, sender)
	svc.Workers = 2
	svc.PresenceLimit = -1 // the broadcast alone: no left notices for the gone

	d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 7, Delivered: 3, Gone: 2, Failed: 2}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
	if got, want := sender.received(), []string{"bob", "carol", "dave"}; !slices.Equal(got, want) {
		t.Errorf("delivered to %q, want %q", got, want)
	}
	deleted := slices.Sorted(slices.Values(store.deleted))
	if want := []string{"gone1", "gone2"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %q, want only the gone ones %q", deleted, want)
	}
	if got, want := store.ids(), []string{"alice", "bob", "carol", "broken", "large", "dave", "elsewhere"}; !slices.Equal(got, want) {
		t.Errorf("store keeps %q, want %q", got, want)
	}
}

// With Workers == 1 a broadcast posts on the calling goroutine, one
// recipient after the other in the store's order, with the same outcomes
// as the concurrent path.
func TestSendSequential(t *testing.T) {
	store, sender := failingRoom()
	svc := newService(store, sender)
	svc.Workers = 1
	svc.PresenceLimit = -1 // the broadcast alone: no left notices for the gone
	before := runtime.NumGoroutine()
	var during []int
	sender.before = func(context.Context, string) { during = append(during, runtime.NumGoroutine()) }

	d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 7, Delivered: 3, Gone: 2, Failed: 2}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
	if got, want := sender.order, []string{"bob", "gone1", "carol", "broken", "large", "gone2", "dave"}; !slices.Equal(got, want) {
		t.Errorf("posted to %q, want %q in the store's order", got, want)
	}
	if got, want := slices.Sorted(slices.Values(store.deleted)), []string{"gone1", "gone2"}; !slices.Equal(got, want) {
		t.Errorf("deleted %q, want %q", got, want)
	}
	for i, n := range during {
		if n > before {
			t.Errorf("post %d ran with %d goroutines, %d before Send: want no new goroutine", i, n, before)
		}
	}
	if sender.maxIn != 1 {
		t.Errorf("%d posts at once, want 1", sender.maxIn)
	}
}

func TestSendGoneDeleteFails(t *testing.T) {
	store := room("alice", "gone", "bob")
	store.deleteErr = errors.New("store down")
	sender := newSender()
	sender.errs["gone"] = chat.ErrGone
	d, err := newService(store, sender).Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 2, Delivered: 1, Gone: 1}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
}

// A failure before the message is stored answers the sender alone with the
// "internal" error frame and stores and broadcasts nothing; the message can
// be sent again.
func TestSendStoreFailure(t *testing.T) {
	storeErr := errors.New("store down")
	tests := []struct {
		name      string
		getErr    error
		appendErr error
	}{
		{name: "get fails", getErr: storeErr},
		{name: "append fails", appendErr: storeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := room("alice", "bob")
			store.getErr = tt.getErr
			history := newHistory()
			history.appendErr = tt.appendErr
			sender := newSender()
			svc := newService(store, sender)
			svc.History = history
			body := []byte(`{"action":"chat message","text":"hi","clientMsgId":"m1"}`)
			d, err := svc.Send(context.Background(), "alice", body)
			if !errors.Is(err, storeErr) || codeOf(err) != "not a protocol error" {
				t.Errorf("Send() error = %v, want a server error wrapping %v", err, storeErr)
			}
			if err != nil && !strings.Contains(err.Error(), "alice") {
				t.Errorf("Send() error = %v, want the connection ID in it", err)
			}
			if d != (chat.Delivery{}) {
				t.Errorf("Send() = %+v, want nothing", d)
			}
			if got := sender.received(); !slices.Equal(got, []string{"alice"}) {
				t.Fatalf("frames went to %q, want the sender alone", got)
			}
			var f chat.ErrorFrame
			sender.frame(t, "alice", &f)
			if f.Code != chat.CodeInternal {
				t.Errorf("error frame = %+v, want code %q", f, chat.CodeInternal)
			}

			// After recovery the resend is stored and delivered once.
			store.getErr, history.appendErr = nil, nil
			sender = newSender()
			svc.Sender = sender
			if d, err := svc.Send(context.Background(), "alice", body); err != nil || d.Delivered != 1 {
				t.Fatalf("resend: Send() = %+v, %v; want delivered to bob", d, err)
			}
			if d, err := svc.Send(context.Background(), "alice", body); err != nil || !d.Duplicate || d.Delivered != 0 {
				t.Fatalf("second resend: Send() = %+v, %v; want a duplicate, not delivered", d, err)
			}
			if n := len(sender.frames["bob"]); n != 1 {
				t.Errorf("bob got %d frames, want 1", n)
			}
		})
	}
}

// The message is stored and acked before the room is listed: a failure to
// list it is a server error, and the members catch up from history.
func TestSendMembersFailure(t *testing.T) {
	storeErr := errors.New("store down")
	store := room("alice", "bob")
	store.membersErr = storeErr
	sender := newSender()
	svc := newService(store, sender)
	d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi","clientMsgId":"m1"}`))
	if !errors.Is(err, storeErr) || d.Seq != 1 {
		t.Errorf("Send() = %+v, %v; want seq 1 and an error wrapping %v", d, err, storeErr)
	}
	var ack chat.Ack
	sender.frame(t, "alice", &ack)
	if ack.Type != chat.TypeAck || ack.Seq != 1 {
		t.Errorf("sender got %+v, want the ack of seq 1", ack)
	}
	msgs, _, _ := svc.History.Read(context.Background(), "general", chat.Range{Limit: 10}, now)
	if len(msgs) != 1 {
		t.Errorf("history holds %d messages, want 1", len(msgs))
	}
}

// A sender whose connection is not stored (dropped as stale, or expired)
// gets not_connected, so that its page reconnects; nothing is stored.
func TestSendNotConnected(t *testing.T) {
	store := room("bob")
	sender := newSender()
	svc := newService(store, sender)
	_, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if codeOf(err) != chat.CodeNotConnected {
		t.Fatalf("Send() error = %v, want code %q", err, chat.CodeNotConnected)
	}
	var f chat.ErrorFrame
	sender.frame(t, "alice", &f)
	if f.Code != chat.CodeNotConnected {
		t.Errorf("error frame = %+v, want code %q", f, chat.CodeNotConnected)
	}
	if got := sender.received(); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("frames went to %q, want alice alone", got)
	}
}

func TestSendBadInput(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode string
	}{
		{name: "not JSON", body: "hello", wantCode: chat.CodeInvalidJSON},
		{name: "no text", body: `{"action":"chat message"}`, wantCode: chat.CodeEmptyText},
		{name: "blank", body: `{"action":"chat message","text":" "}`, wantCode: chat.CodeEmptyText},
		{name: "number", body: `{"action":"chat message","text":7}`, wantCode: chat.CodeInvalidField},
		{name: "too long", body: `{"action":"chat message","text":"` + strings.Repeat("x", 2001) + `"}`, wantCode: chat.CodeTextTooLong},
		{name: "lone surrogate", body: `{"action":"chat message","text":"\udc00"}`, wantCode: chat.CodeInvalidUTF8},
		{name: "invalid UTF-8", body: "{\"action\":\"chat message\",\"text\":\"\xc3\"}", wantCode: chat.CodeInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := room("alice", "bob")
			sender := newSender()
			d, err := newService(store, sender).Send(context.Background(), "alice", []byte(tt.body))
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("Send() error = %v, want code %q", err, tt.wantCode)
			}
			if d != (chat.Delivery{}) {
				t.Errorf("Send() = %+v, want nothing", d)
			}
			if got := sender.received(); !slices.Equal(got, []string{"alice"}) {
				t.Fatalf("frames went to %q, want the sender alone", got)
			}
			var f chat.ErrorFrame
			sender.frame(t, "alice", &f)
			if f.Type != chat.TypeError || f.Code != tt.wantCode || f.Message == "" {
				t.Errorf("error frame = %+v, want type error, code %q and a message", f, tt.wantCode)
			}
			if store.gets != 0 || len(store.membersAt) != 0 {
				t.Errorf("store read %d/%d times for bad input, want 0", store.gets, len(store.membersAt))
			}
		})
	}
}

// A broadcast cut by its deadline stops posting and counts the rest skipped.
func TestSendDeadline(t *testing.T) {
	store := room("alice", "bob", "carol", "dave", "erin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender := newSender()
	sender.before = func(_ context.Context, id string) {
		if id == "bob" {
			cancel() // the deadline passes while bob's post is under way
		}
	}
	svc := newService(store, sender)
	svc.Workers = 1

	d, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 4, Skipped: 4}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
	if len(store.deleted) != 0 {
		t.Errorf("deleted %q, want nothing", store.deleted)
	}
}

func TestSendDeadlineMidway(t *testing.T) {
	store := room("alice", "bob", "carol", "dave", "erin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender := newSender()
	svc := newService(store, sender)
	svc.Workers = 1
	sender.before = func(_ context.Context, id string) {
		if id == "dave" {
			cancel()
		}
	}
	d, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if want := (chat.Delivery{Seq: 1, Recipients: 4, Delivered: 2, Skipped: 2}); d != want {
		t.Errorf("Send() = %+v, want %+v", d, want)
	}
}

func TestSendWorkers(t *testing.T) {
	tests := []struct {
		workers, want int
	}{
		{workers: 0, want: chat.DefaultWorkers},
		{workers: 1, want: 1},
		{workers: 8, want: 8},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.workers), func(t *testing.T) {
			ids := []string{"sender"}
			for i := range 200 {
				ids = append(ids, fmt.Sprintf("c%03d", i))
			}
			store := room(ids...)
			sender := newSender()
			// Each post waits until `want` posts are in flight (or a
			// while has passed) so that the bound is reached if allowed.
			var mu sync.Mutex
			cond := sync.NewCond(&mu)
			waiting := 0
			sender.before = func(context.Context, string) {
				mu.Lock()
				defer mu.Unlock()
				waiting++
				cond.Broadcast()
				deadline := time.Now().Add(2 * time.Second)
				for waiting < tt.want && time.Now().Before(deadline) {
					timer := time.AfterFunc(10*time.Millisecond, cond.Broadcast)
					cond.Wait()
					timer.Stop()
				}
			}
			svc := newService(store, sender)
			svc.Workers = tt.workers
			before := runtime.NumGoroutine()

			d, err := svc.Send(context.Background(), "sender", []byte(`{"action":"chat message","text":"hi"}`))
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			if d.Delivered != 200 {
				t.Errorf("Send() = %+v, want 200 delivered", d)
			}
			if sender.maxIn > tt.want {
				t.Errorf("%d posts at once, want at most %d", sender.maxIn, tt.want)
			}
			if sender.maxIn < tt.want {
				t.Errorf("%d posts at once, want %d: the broadcast is not concurrent", sender.maxIn, tt.want)
			}
			checkNoLeak(t, before)
		})
	}
}

// checkNoLeak fails if goroutines started during the test are still running.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines running, %d before: leak", runtime.NumGoroutine(), before)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReject(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode string
	}{
		{name: "not JSON", body: "hi there", wantCode: chat.CodeInvalidJSON},
		{name: "array", body: `[1]`, wantCode: chat.CodeInvalidJSON},
		{name: "unknown action", body: `{"action":"dance"}`, wantCode: chat.CodeUnknownAction},
		{name: "no action", body: `{"text":"hi"}`, wantCode: chat.CodeUnknownAction},
		{name: "action number", body: `{"action":5}`, wantCode: chat.CodeInvalidField},
		{name: "invalid UTF-8", body: "\xff", wantCode: chat.CodeInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := room("alice", "bob")
			sender := newSender()
			err := newService(store, sender).Reject(context.Background(), "alice", []byte(tt.body))
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("Reject() = %v, want code %q", err, tt.wantCode)
			}
			if got := sender.received(); !slices.Equal(got, []string{"alice"}) {
				t.Fatalf("frames went to %q, want the sender alone", got)
			}
			var f chat.ErrorFrame
			sender.frame(t, "alice", &f)
			if f != (chat.ErrorFrame{Type: chat.TypeError, Code: tt.wantCode, Message: f.Message}) || f.Message == "" {
				t.Errorf("error frame = %+v, want code %q", f, tt.wantCode)
			}
		})
	}
}

// The error frame cannot be delivered (the sender left): Reject still
// returns the protocol error and does not touch the store.
func TestRejectSenderGone(t *testing.T) {
	store := room("alice")
	sender := newSender()
	sender.errs["alice"] = chat.ErrGone
	err := newService(store, sender).Reject(context.Background(), "alice", []byte("nope"))
	if codeOf(err) != chat.CodeInvalidJSON {
		t.Errorf("Reject() = %v, want code %q", err, chat.CodeInvalidJSON)
	}
	if len(store.deleted) != 0 {
		t.Errorf("deleted %q, want nothing", store.deleted)
	}
}
