package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

var now = time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)

func conn(id, room string) chat.Connection {
	return chat.Connection{ID: id, Room: room, Name: "name-" + id, ConnectedAt: now, ExpiresAt: now.Add(chat.TTL)}
}

func members(t *testing.T, s *memstore.Store, room string, at time.Time) []string {
	t.Helper()
	ids, err := memberIDs(s.Members(context.Background(), room, at))
	if err != nil {
		t.Fatalf("Members(%q) error = %v", room, err)
	}
	slices.Sort(ids)
	return ids
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	want := conn("a=", "general")
	if err := s.Put(ctx, want); err != nil {
		t.Fatalf("Put() error = %v", err)
	}
	got, err := s.Get(ctx, "a=")
	if err != nil || got != want {
		t.Errorf("Get() = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Get(ctx, "unknown"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Get(unknown) error = %v, want %v", err, chat.ErrNotFound)
	}
}

func TestPutReplacesAndMovesRoom(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	for _, c := range []chat.Connection{conn("a", "general"), conn("b", "general")} {
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	moved := conn("a", "other")
	moved.Name = "renamed"
	if err := s.Put(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || got != moved {
		t.Errorf("Get() = %+v, %v; want %+v", got, err, moved)
	}
	if got, want := members(t, s, "general", now), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("general = %q, want %q", got, want)
	}
	if got, want := members(t, s, "other", now), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("other = %q, want %q", got, want)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	for _, c := range []chat.Connection{conn("a", "general"), conn("b", "general"), conn("c", "other")} {
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete() error = %v", err)
	}
	if _, err := s.Delete(ctx, "never-there"); err != nil {
		t.Errorf("Delete(unknown) error = %v, want nil", err)
	}
	if _, err := s.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete() twice error = %v, want nil", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Get(deleted) error = %v, want %v", err, chat.ErrNotFound)
	}
	if got, want := members(t, s, "general", now), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("general = %q, want %q", got, want)
	}
	if _, err := s.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := members(t, s, "other", now); len(got) != 0 {
		t.Errorf("other = %q, want empty", got)
	}
}

func TestMembers(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	expiring := conn("old", "general")
	expiring.ExpiresAt = now.Add(time.Minute)
	noExpiry := conn("forever", "general")
	noExpiry.ExpiresAt = time.Time{}
	for _, c := range []chat.Connection{conn("a", "general"), conn("b", "general"), conn("x", "other"), expiring, noExpiry} {
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		room string
		at   time.Time
		want []string
	}{
		{name: "all live", room: "general", at: now, want: []string{"a", "b", "forever", "old"}},
		{name: "at the expiry", room: "general", at: now.Add(time.Minute), want: []string{"a", "b", "forever"}},
		{name: "after the expiry", room: "general", at: now.Add(time.Hour), want: []string{"a", "b", "forever"}},
		{name: "after the TTL", room: "general", at: now.Add(chat.TTL + time.Second), want: []string{"forever"}},
		{name: "other room", room: "other", at: now, want: []string{"x"}},
		{name: "empty room", room: "nobody-here", at: now, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := members(t, s, tt.room, tt.at); !slices.Equal(got, tt.want) {
				t.Errorf("Members(%q, %v) = %q, want %q", tt.room, tt.at, got, tt.want)
			}
		})
	}
	// An expired connection is hidden from rooms, not forgotten.
	if _, err := s.Get(ctx, "old"); err != nil {
		t.Errorf("Get(expired) error = %v, want it still there", err)
	}
}

// Concurrent use from many goroutines, as in a broadcast deleting stale
// connections while others connect: run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	const workers, perWorker = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("w%d-%d", w, i)
				room := fmt.Sprintf("room-%d", i%4)
				if err := s.Put(ctx, conn(id, room)); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Get(ctx, id); err != nil {
					t.Error(err)
					return
				}
				if _, err := memberIDs(s.Members(ctx, room, now)); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 1 {
					if _, err := s.Delete(ctx, id); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for r := range 4 {
		total += len(members(t, s, fmt.Sprintf("room-%d", r), now))
	}
	if want := workers * perWorker / 2; total != want {
		t.Errorf("%d members left, want %d", total, want)
	}
}

// memberIDs keeps the IDs of Members' answer.
func memberIDs(members []chat.Member, err error) ([]string, error) {
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	return ids, err
}
