package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/testenv"
)

// The reliable-delivery guarantee in the page, against the local adapter
// in DynamoDB mode, so that a restart keeps the room's history: a tab
// whose server went away comes back and shows every message it missed,
// once and in order; a message typed meanwhile is sent after the
// reconnect and shown once by everyone; a late joiner sees the history.
func TestReliableDelivery(t *testing.T) {
	endpoint := testenv.DynamoDB(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	srv := startServer(t, "-dynamodb-endpoint", endpoint, "-table", "web-conns-"+suffix, "-messages-table", "web-msgs-"+suffix)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("one")
	bob.waitMessage("one")

	// The server dies; alice's network goes away too and she types.
	srv.stop()
	alice.waitState("reconnecting")
	alice.setNetwork(false)
	alice.waitState("offline")
	alice.send("typed while offline")
	// The server comes back (same tables); bob reconnects and talks while
	// alice is still offline.
	srv.start()
	bob.waitOnline()
	bob.send("two")
	bob.send("three")
	alice.setNetwork(true)
	alice.waitOnline()
	alice.waitMessage("three")
	bob.waitMessage("typed while offline")
	alice.waitFor("the offline message acked", `!document.querySelector('#messages li.pending')`)

	texts := func(p *chatPage) []string {
		var out []string
		for _, m := range p.messages() {
			out = append(out, m.Text)
		}
		return out
	}
	if got, want := strings.Join(texts(alice), "|"), "one|two|three|typed while offline"; got != want {
		t.Errorf("alice shows %q, want %q (every missed message once, in order)", got, want)
	}
	if got, want := strings.Join(texts(bob), "|"), "one|two|three|typed while offline"; got != want {
		t.Errorf("bob shows %q, want %q", got, want)
	}

	// A late joiner sees the recent history, in order.
	carol := newPage(t, browser, "carol")
	carol.open(srv.URL(), "Carol")
	carol.waitMessage("typed while offline")
	if got, want := strings.Join(texts(carol), "|"), "one|two|three|typed while offline"; got != want {
		t.Errorf("the late joiner shows %q, want the history %q", got, want)
	}

	// A frame delivered twice (an SDK retry after a lost response) is
	// shown once: the same bytes posted again through @connections.
	id := eval[string](bob, `[...document.querySelectorAll('#messages li[data-seq]')].at(-1)?.dataset.id ?? ''`)
	seq := eval[string](bob, `[...document.querySelectorAll('#messages li[data-seq]')].at(-1)?.dataset.seq ?? ''`)
	if id == "" || seq == "" {
		t.Fatalf("no shown message with an id and a seq")
	}
	connID := srv.connectionID("Alice")
	frame := fmt.Sprintf(`{"type":"chat message","id":"dup-%s","room":"general","seq":%s0,"from":"Bob","text":"sent twice","sentAt":"2026-11-24T15:00:00.000Z"}`, id, seq)
	for range 2 {
		resp, err := http.Post(srv.URL()+"local/@connections/"+connID, "application/json", strings.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST @connections: %d %s", resp.StatusCode, b)
		}
	}
	alice.waitMessage("sent twice")
	if all, _ := alice.count("sent twice"); all != 1 {
		t.Errorf("a frame delivered twice is shown %d times, want once", all)
	}
}

// connectionID returns the connection ID of the last connection named name,
// from the adapter's log of $connect ("connected ... name=...").
func (s *server) connectionID(name string) string {
	s.t.Helper()
	id := ""
	for _, line := range strings.Split(testenv.ReadLog(s.log), "\n") {
		if !strings.Contains(line, "msg=connected") || !strings.Contains(line, " name="+name) {
			continue
		}
		if _, rest, ok := strings.Cut(line, `connectionId="`); ok {
			id, _, _ = strings.Cut(rest, `"`)
		} else if _, rest, ok := strings.Cut(line, "connectionId="); ok {
			id, _, _ = strings.Cut(rest, " ")
		}
	}
	if id == "" {
		s.t.Fatalf("no connection of %s in the adapter's log", name)
	}
	return id
}
