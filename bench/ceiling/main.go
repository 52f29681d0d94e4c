// Command ceiling is the smallest Go WebSocket chat server that does what
// the load generator asks of the project (bench/loadgen -proto apigw): every
// "chat message" frame a client sends goes to every other client, as
// {"type":"chat message","text":...}. No storage, no seq, no acks, no limits:
// it is the ceiling of a Go WebSocket broadcast server on this machine, the
// third server bench/run.sh compares (with the local adapter and the
// Socket.io tutorial's server).
//
//	go run ./bench/ceiling -addr 127.0.0.1:14000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strconv"
	"sync"

	"github.com/coder/websocket"
)

// client is one connection and the frames waiting for it: a slow reader
// never holds the others up (its queue fills and it is dropped, as the
// local adapter drops a client that does not read).
type client struct {
	conn *websocket.Conn
	out  chan []byte
}

type hub struct {
	mu      sync.RWMutex
	clients map[*client]struct{}
}

func (h *hub) broadcast(from *client, frame []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		if c == from {
			continue
		}
		select {
		case c.out <- frame:
		default:
			c.conn.CloseNow() // too far behind
		}
	}
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(128 << 10)
	c := &client{conn: conn, out: make(chan []byte, 4096)}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer func() {
		cancel()
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
		conn.CloseNow()
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case frame := <-c.out:
				if conn.Write(ctx, websocket.MessageText, frame) != nil {
					cancel()
					return
				}
			}
		}
	}()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var in struct {
			Action string `json:"action"`
			Text   string `json:"text"`
		}
		if json.Unmarshal(data, &in) != nil || in.Action != "chat message" {
			continue
		}
		frame := strconv.AppendQuote([]byte(`{"type":"chat message","text":`), in.Text)
		h.broadcast(c, append(frame, '}'))
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:14000", "listen address")
	flag.Parse()
	h := &hub{clients: map[*client]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			_, _ = w.Write([]byte("ceiling\n"))
			return
		}
		h.serve(w, r)
	})
	log.Printf("ceiling: listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
