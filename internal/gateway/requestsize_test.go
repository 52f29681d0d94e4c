package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/gateway"
)

// A handshake over API Gateway's 10,240 bytes of request line and header
// values is refused before $connect: a 667 KB ?token= was accepted and
// handed to the authorizer (~2 MB per handshake).
func TestHandshakeSizeAsAPIGateway(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, tt := range []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"a 667 KB token", "name=ann&token=" + strings.Repeat("a", 667<<10), nil, http.StatusRequestURITooLong},
		{"an 11 KB query", "name=ann&pad=" + strings.Repeat("q", 11<<10), nil, http.StatusRequestURITooLong},
		{"headers over 10,240 bytes", "name=ann", http.Header{"X-A": {strings.Repeat("h", 6<<10)}, "X-B": {strings.Repeat("h", 5<<10)}}, http.StatusRequestHeaderFieldsTooLarge},
		{"within the limit", "name=ann&token=" + strings.Repeat("a", 8<<10), nil, http.StatusSwitchingProtocols},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws, resp, err := e.dial(ctx, tt.query, &websocket.DialOptions{HTTPHeader: tt.header})
			if ws != nil {
				ws.CloseNow()
			}
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if got := gateway.MaxRequestHead; got != 10240 {
		t.Errorf("MaxRequestHead = %d, want API Gateway's 10240", got)
	}
}
