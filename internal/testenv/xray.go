package testenv

import (
	"bytes"
	"encoding/json"
	"net"
	"testing"
	"time"
)

// XRayDaemon is a UDP listener standing in for the X-Ray daemon that
// Lambda runs for a function with Tracing: Active.
type XRayDaemon struct{ conn net.PacketConn }

// Subsegment is the part of an X-Ray (sub)segment document tests read.
type Subsegment struct {
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	ID        string         `json:"id"`
	TraceID   string         `json:"trace_id"`
	ParentID  string         `json:"parent_id"`
	Namespace string         `json:"namespace"`
	AWS       map[string]any `json:"aws"`
	Error     bool           `json:"error"`
	Fault     bool           `json:"fault"`
}

// NewXRayDaemon listens on a free UDP port of 127.0.0.1 until the test ends.
func NewXRayDaemon(t testing.TB) *XRayDaemon {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("X-Ray daemon stand-in: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &XRayDaemon{conn: conn}
}

// Addr is the daemon's address, as AWS_XRAY_DAEMON_ADDRESS gives it.
func (d *XRayDaemon) Addr() string { return d.conn.LocalAddr().String() }

// Read returns the documents that arrive until want of them did, or wait
// passes without one. Each datagram must follow the daemon's protocol: a
// JSON header line, {"format":"json","version":1}, then the document.
func (d *XRayDaemon) Read(t testing.TB, want int, wait time.Duration) []Subsegment {
	t.Helper()
	var got []Subsegment
	buf := make([]byte, 64<<10)
	for len(got) < want {
		_ = d.conn.SetReadDeadline(time.Now().Add(wait))
		n, _, err := d.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		head, doc, ok := bytes.Cut(buf[:n], []byte("\n"))
		var h struct {
			Format  string `json:"format"`
			Version int    `json:"version"`
		}
		if !ok || json.Unmarshal(head, &h) != nil || h.Format != "json" || h.Version != 1 {
			t.Errorf("datagram without the daemon protocol's header: %q", buf[:n])
			continue
		}
		var s Subsegment
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Errorf("segment document %q: %v", doc, err)
			continue
		}
		got = append(got, s)
	}
	return got
}
