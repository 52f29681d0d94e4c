package gateway

import (
	"io"
	"net"
	"testing"
	"time"
)

// What a corked connection buffered (a close frame's echo, written while
// the write loop had it corked) still goes out when it is closed.
func TestCloseFlushesTheCorkedBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	rc := &rawConn{Conn: server, timeout: time.Second}
	rc.cork()
	echo := []byte{0x88, 0x02, 0x03, 0xe8} // a close frame, status 1000
	if _, err := rc.Write(echo); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != string(echo) {
		t.Errorf("the peer read %x, %v; want the buffered close frame %x", got, err, echo)
	}
}
