package gateway

import "sync/atomic"

// API Gateway limits each WebSocket frame to 32 KB and closes the connection
// with 1009 when a client sends a larger one, even inside a message that is
// under the 128 KB message limit. coder/websocket hands over whole messages
// (it reassembles fragments) and never shows frame boundaries, so the
// gateway watches the raw bytes the client sends: frameSniffer parses frame
// headers as they go by, unchanged, and records the first message that
// carried an oversized data frame. The read loop counts the messages it
// reads and closes with 1009 when it reaches that one, before routing it.

// Frame opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
)

// frameSniffer follows the frame structure of a client-to-server byte
// stream. It is fed by one goroutine (the connection's reader) and read by
// the same one, but oversizedAt is atomic so that tests and logs may read it.
type frameSniffer struct {
	maxFrame int64

	// Parser state.
	hdr     [14]byte // the header being read: 2 bytes, extended length, mask
	hdrLen  int      // bytes of hdr read so far
	hdrNeed int      // bytes hdr needs in all (2 until the second byte is seen)
	payload int64    // payload bytes of the current frame still to skip

	messages    int64        // data messages started (text or binary first frames)
	oversizedAt atomic.Int64 // message number of the first oversized frame, 0 if none
	fragments   int          // frames of the data message under way
	// tooManyFrames is set once a message has more than maxFragments
	// frames: endless empty continuation frames would otherwise be read,
	// and cost memory, until the idle timeout.
	tooManyFrames atomic.Bool
}

// maxFragments bounds the frames of one message. A 128 KB message needs
// at most 4 frames of 32 KB; 4,096 leaves any sane client room (32-byte
// frames) and cuts a flood of empty continuation frames short.
const maxFragments = 4096

func newFrameSniffer(maxFrame int64) *frameSniffer {
	return &frameSniffer{maxFrame: maxFrame, hdrNeed: 2}
}

// observe feeds bytes read from the client to the parser.
func (s *frameSniffer) observe(p []byte) {
	for len(p) > 0 {
		if s.payload > 0 {
			n := int64(len(p))
			if n > s.payload {
				n = s.payload
			}
			s.payload -= n
			p = p[n:]
			continue
		}
		// Header bytes.
		n := copy(s.hdr[s.hdrLen:s.hdrNeed], p)
		s.hdrLen += n
		p = p[n:]
		if s.hdrLen < s.hdrNeed {
			continue
		}
		if s.hdrNeed == 2 {
			s.hdrNeed = 2 + extendedLength(s.hdr[1]&0x7f)
			if s.hdr[1]&0x80 != 0 {
				s.hdrNeed += 4 // masking key
			}
			if s.hdrLen < s.hdrNeed {
				continue
			}
		}
		s.frame()
	}
}

// frame handles a complete header.
func (s *frameSniffer) frame() {
	length := int64(s.hdr[1] & 0x7f)
	switch length {
	case 126:
		length = int64(s.hdr[2])<<8 | int64(s.hdr[3])
	case 127:
		length = 0
		for _, b := range s.hdr[2:10] {
			length = length<<8 | int64(b)
		}
		if length < 0 { // the most significant bit must be 0; the library refuses it
			length = 0
		}
	}
	opcode := s.hdr[0] & 0x0f
	fin := s.hdr[0]&0x80 != 0
	switch opcode {
	case opText, opBinary:
		s.messages++
		s.fragments = 1
	case opContinuation:
		s.fragments++
		if s.fragments > maxFragments {
			s.tooManyFrames.Store(true)
		}
	}
	if fin && opcode <= opBinary {
		s.fragments = 0
	}
	if opcode <= opBinary && length > s.maxFrame && s.oversizedAt.Load() == 0 && s.messages > 0 {
		s.oversizedAt.Store(s.messages)
	}
	s.payload = length
	s.hdrLen, s.hdrNeed = 0, 2
}

func extendedLength(b byte) int {
	switch b {
	case 126:
		return 2
	case 127:
		return 8
	}
	return 0
}

// oversized reports whether message number n (1-based, counted as the
// reader reads them) or an earlier one carried a frame over the limit.
func (s *frameSniffer) oversized(n int64) bool {
	at := s.oversizedAt.Load()
	return at != 0 && at <= n
}
