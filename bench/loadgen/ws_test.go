package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// serverFrame builds an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xFFFF:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, payload...)
}

func TestParseFrame(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	tests := []struct {
		name     string
		in       []byte
		wantN    int
		wantOp   byte
		wantFin  bool
		wantBody []byte
		wantErr  error
	}{
		{"short text", serverFrame(true, opText, []byte("hi")), 4, opText, true, []byte("hi"), nil},
		{"16-bit length", serverFrame(true, opText, long), 304, opText, true, long, nil},
		{"64-bit length", serverFrame(true, opText, huge), 70010, opText, true, huge, nil},
		{"fragment", serverFrame(false, opText, []byte("a")), 3, opText, false, []byte("a"), nil},
		{"ping", serverFrame(true, opPing, []byte("p")), 3, opPing, true, []byte("p"), nil},
		{"empty input", nil, 0, 0, false, nil, nil},
		{"one byte", []byte{0x81}, 0, 0, false, nil, nil},
		{"incomplete payload", serverFrame(true, opText, []byte("hello"))[:5], 0, 0, false, nil, nil},
		{"incomplete 16-bit length", serverFrame(true, opText, long)[:3], 0, 0, false, nil, nil},
		{"masked (from a client)", appendFrame(nil, opText, []byte("masked"), [4]byte{1, 2, 3, 4}), 12, opText, true, []byte("masked"), nil},
		{"rsv bit set", []byte{0xC1, 0x00}, 0, 0, false, nil, errBadFrame},
		{"too large", []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, 0, 0, false, nil, errFrameTooLarge},
		{"fragmented control", []byte{0x09, 0x00}, 0, 0, false, nil, errBadFrame},
		{"long control", append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...), 0, 0, false, nil, errBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, n, err := parseFrame(bytes.Clone(tt.in))
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantN {
				t.Fatalf("n = %d, want %d", n, tt.wantN)
			}
			if n == 0 {
				return
			}
			if f.op != tt.wantOp || f.fin != tt.wantFin || !bytes.Equal(f.payload, tt.wantBody) {
				t.Errorf("frame = op %d fin %v payload %.20q; want op %d fin %v payload %.20q",
					f.op, f.fin, f.payload, tt.wantOp, tt.wantFin, tt.wantBody)
			}
		})
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 100000} {
		payload := bytes.Repeat([]byte{'z'}, size)
		b := appendFrame(nil, opText, payload, newMaskKey())
		if b[1]&0x80 == 0 {
			t.Fatalf("size %d: client frame not masked", size)
		}
		f, n, err := parseFrame(b)
		if err != nil || n != len(b) || !bytes.Equal(f.payload, payload) || f.op != opText || !f.fin {
			t.Errorf("size %d: parse = op %d fin %v n %d/%d err %v", size, f.op, f.fin, n, len(b), err)
		}
	}
}

func TestAssembler(t *testing.T) {
	stream := bytes.Join([][]byte{
		serverFrame(true, opText, []byte("one")),
		serverFrame(true, opPing, []byte("p")),
		serverFrame(false, opText, []byte("tw")),
		serverFrame(true, opPong, nil), // control frames may interleave with fragments
		serverFrame(false, opContinuation, []byte("o-")),
		serverFrame(true, opContinuation, []byte("parts")),
		serverFrame(true, opText, []byte(strings.Repeat("3", 500))),
		serverFrame(true, opClose, []byte{0x03, 0xE8}),
	}, nil)
	want := []string{"one", "ctl 9 p", "ctl 10 ", "two-parts", strings.Repeat("3", 500), "ctl 8 \x03\xe8"}
	// Whatever the reads' boundaries, the same messages come out.
	for _, chunk := range []int{1, 2, 3, 7, 64, len(stream)} {
		var a assembler
		var got []string
		for i := 0; i < len(stream); i += chunk {
			data := bytes.Clone(stream[i:min(i+chunk, len(stream))])
			err := a.feed(data,
				func(_ byte, m []byte) { got = append(got, string(m)) },
				func(op byte, p []byte) { got = append(got, fmt.Sprintf("ctl %d %s", op, p)) })
			if err != nil {
				t.Fatalf("chunk %d: feed: %v", chunk, err)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("chunk %d: got %q, want %q", chunk, got, want)
		}
		if len(a.pending) != 0 {
			t.Errorf("chunk %d: %d bytes left pending", chunk, len(a.pending))
		}
	}
}

func TestAssemblerRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"continuation without a start", serverFrame(true, opContinuation, []byte("x"))},
		{"new message inside a fragmented one", append(serverFrame(false, opText, []byte("a")), serverFrame(true, opText, []byte("b"))...)},
		{"reserved opcode", serverFrame(true, 0x3, []byte("x"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a assembler
			if err := a.feed(tt.in, func(byte, []byte) {}, func(byte, []byte) {}); err == nil {
				t.Error("feed: want an error")
			}
		})
	}
}

func TestAcceptKey(t *testing.T) {
	// RFC 6455 section 1.3's example.
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("acceptKey = %s, want %s", got, want)
	}
}
