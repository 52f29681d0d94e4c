package handler

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The request's attributes reach every line, first, as With would put
// them, and cost nothing when nothing is logged.
func TestRequestLogAttributes(t *testing.T) {
	var buf strings.Builder
	h := &Handler{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	req := events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		RouteKey: "chat message", ConnectionID: "c1=", RequestID: "r1"}}
	log := h.log(&req)
	log.Debug("not shown")
	log.With(slog.String("room", "general")).Info("shown", slog.Int("n", 1))
	got := buf.String()
	if want := `msg=shown routeKey="chat message" connectionId="c1=" apiRequestId=r1 room=general n=1`; !strings.Contains(got, want) {
		t.Errorf("log = %q, want %q", got, want)
	}
	if strings.Contains(got, "not shown") {
		t.Errorf("a debug line at info: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { h.log(&req).Debug("x") }); n > 3 {
		t.Errorf("a request's logger and a line not logged: %v allocations, want at most 3", n)
	}
}
