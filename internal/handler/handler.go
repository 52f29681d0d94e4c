// Package handler turns API Gateway WebSocket events into calls on the chat
// domain. The Lambda functions and the local adapter both run it, so what
// works locally is the same code that runs deployed.
package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
)

// SenderFunc returns the Sender that reaches the connections of the API that
// sent req: the @connections endpoint of its apiId, region and stage in
// Lambda, or the gateway itself in the local adapter.
type SenderFunc func(req *events.APIGatewayWebsocketProxyRequest) chat.Sender

// Handler answers the four routes of the chat's WebSocket API.
type Handler struct {
	Store chat.Store
	// Messages keeps the rooms' history. Without it, messages and history
	// requests fail with the "internal" error frame.
	Messages chat.History
	// Retention is how long messages are kept (chat.DefaultRetention if 0).
	Retention time.Duration
	// PresenceLimit: see chat.Service.
	PresenceLimit int
	// Queue, when set, takes the delivery of rooms over InlineLimit
	// members (chat.Service's fields). Endpoints names the @connections
	// endpoint of a request, which the batches carry; SenderAt returns the
	// Sender for an endpoint, for the fan-out consumer.
	Queue       chat.Queue
	InlineLimit int
	Endpoints   func(req *events.APIGatewayWebsocketProxyRequest) string
	SenderAt    func(endpoint string) chat.Sender
	Senders     SenderFunc
	// SendLimit, RoomCap: see chat.Service. Origins guards $connect.
	SendLimit chat.RateLimit
	RoomCap   int
	Origins   OriginPolicy
	// ReadLimit, Counters, Names, PersonLimits, Flood, LeaveGrace: see
	// chat.Service.
	ReadLimit    chat.RateLimit
	Counters     chat.Counters
	Names        chat.Names
	Blocks       chat.Blocks
	PersonLimits chat.PersonLimits
	Flood        chat.FloodPolicy
	LeaveGrace   time.Duration
	Review       chat.ReviewPolicy
	Later        func(time.Duration, func(context.Context))
	// Workers bounds the concurrent posts of one broadcast (chat.DefaultWorkers if 0).
	Workers int
	// Reaper forgets the connections broadcasts find gone; the host keeps
	// one for its lifetime (see chat.Reaper).
	Reaper *chat.Reaper
	Logger *slog.Logger
	// DeadlineMargin is kept free before the context's deadline so that a
	// broadcast cut short still logs what it did and returns cleanly.
	DeadlineMargin time.Duration
	// Metrics, when set, takes the custom metrics of each message and
	// fan-out batch (metrics.go).
	Metrics Recorder
}

// Connect is the $connect route: it checks the page's origin, takes the
// user the authorizer let in (or the name in the query string for an
// anonymous connection), validates the room and stores the connection. A
// refusal answers with its status, which refuses the WebSocket handshake:
// 403 for a page not allowed, 429 for a full room, 400 for bad input.
func (h *Handler) Connect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	if origin := header(&req, "Origin"); !h.Origins.allows(origin) {
		log.InfoContext(ctx, "connection refused", slog.String("code", "origin"), slog.String("origin", origin))
		return respond(http.StatusForbidden, "Forbidden"), nil
	}
	q := req.QueryStringParameters
	svc := h.service(&req, log)
	// The margin leaves time to delete the connection again if $connect
	// runs late: a refused handshake must leave nothing stored.
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	var c chat.Connection
	var err error
	offered, secret := subprotocols(header(&req, "Sec-WebSocket-Protocol"))
	if user, ok := signedInUser(&req); ok {
		c, err = svc.ConnectUser(ctx, req.RequestContext.ConnectionID, q["room"], user)
	} else {
		c, err = svc.ConnectAnonymous(ctx, req.RequestContext.ConnectionID, q["name"], q["room"],
			req.RequestContext.Identity.SourceIP, secret)
	}
	var pe *chat.ProtocolError
	switch {
	case errors.As(err, &pe):
		log.InfoContext(ctx, "connection refused", slog.String("code", pe.Code), slog.String("reason", pe.Message))
		if pe.Code == chat.CodeRoomFull || pe.Code == chat.CodeCoolingDown {
			return respond(http.StatusTooManyRequests, pe.Error()), nil
		}
		return respond(http.StatusBadRequest, pe.Error()), nil
	case err != nil:
		log.ErrorContext(ctx, "connect failed", slog.Any("error", err))
		return respond(http.StatusInternalServerError, "internal error"), nil
	}
	log.InfoContext(ctx, "connected", slog.String("room", c.Room), slog.String("name", c.Name),
		slog.String("userId", c.UserID), slog.Bool("signedIn", c.SignedIn))
	ok := respond(http.StatusOK, "")
	if offered {
		// The secret is never echoed: the browser accepts the handshake
		// because chat.v1 is one of its offers.
		ok.Headers = map[string]string{"Sec-WebSocket-Protocol": chat.ProtocolName}
	}
	return ok, nil
}

// Disconnect is the $disconnect route: it forgets the connection.
func (h *Handler) Disconnect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	if err := h.service(&req, log).Disconnect(ctx, req.RequestContext.ConnectionID); err != nil {
		log.ErrorContext(ctx, "disconnect failed", slog.Any("error", err))
		return respond(http.StatusInternalServerError, "internal error"), nil
	}
	reason := ""
	if r := req.RequestContext.DisconnectReason; r != nil {
		reason = *r
	}
	log.InfoContext(ctx, "disconnected",
		slog.Int64("disconnectStatusCode", req.RequestContext.DisconnectStatusCode),
		slog.String("disconnectReason", reason))
	return respond(http.StatusOK, ""), nil
}

// Message is the "chat message" route: it broadcasts the text to the other
// members of the sender's room. Bad input is answered to the sender alone.
func (h *Handler) Message(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	start := time.Now()
	d, err := h.service(&req, log).Send(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	h.recordSend(d, time.Since(start), err)
	return h.result(ctx, log, "message", err), nil
}

// History is the "history" route: it sends the sender the messages of its
// room that it asks for.
func (h *Handler) History(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	err := h.service(&req, log).SendHistory(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	return h.result(ctx, log, "history", err), nil
}

// Who is the "who" route: it sends the sender the members of its room.
func (h *Handler) Who(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	err := h.service(&req, log).Who(ctx, req.RequestContext.ConnectionID)
	return h.result(ctx, log, "who", err), nil
}

// Typing is the "typing" route: it tells the other members of the room.
func (h *Handler) Typing(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	err := h.service(&req, log).Typing(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	return h.result(ctx, log, "typing", err), nil
}

// Direct is the "direct message" route: it delivers a message to the
// connections of one name in the sender's room.
func (h *Handler) Direct(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	start := time.Now()
	d, err := h.service(&req, log).Direct(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	h.recordSend(d, time.Since(start), err)
	return h.result(ctx, log, "direct message", err), nil
}

// Rename is the "rename" route: it changes the sender's name and tells the
// room.
func (h *Handler) Rename(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	err := h.service(&req, log).Rename(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	h.recordFrame(err)
	return h.result(ctx, log, "rename", err), nil
}

// Edit, Delete and React are the "edit", "delete" and "react" routes: a
// change to a message, stored as an event of its stream.
func (h *Handler) Edit(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.frame(ctx, &req, "edit", (*chat.Service).Edit)
}

// Delete is the "delete" route.
func (h *Handler) Delete(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.frame(ctx, &req, "delete", (*chat.Service).DeleteMessage)
}

// React is the "react" route.
func (h *Handler) React(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.frame(ctx, &req, "react", (*chat.Service).React)
}

// Unread is the "unread" route: the counts of new messages in the rooms a
// page lists but does not follow.
func (h *Handler) Unread(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.frame(ctx, &req, "unread", (*chat.Service).Unread)
}

// Block is the "block" route: a person blocks or unblocks another.
func (h *Handler) Block(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.frame(ctx, &req, "block", (*chat.Service).Block)
}

// frame runs one frame's method of the Service with the route's deadline
// margin, and answers as result does.
func (h *Handler) frame(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest, what string,
	do func(*chat.Service, context.Context, string, []byte) error) (events.APIGatewayProxyResponse, error) {
	log := h.log(req)
	ctx, cancel := h.withMargin(ctx)
	defer cancel()
	err := do(h.service(req, log), ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	h.recordFrame(err)
	return h.result(ctx, log, what, err), nil
}

// Routes maps every route key of the chat's API to its method.
func (h *Handler) Routes() map[string]func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return map[string]func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error){
		"$connect":             h.Connect,
		"$disconnect":          h.Disconnect,
		"$default":             h.Default,
		chat.ActionChatMessage: h.Message,
		chat.ActionHistory:     h.History,
		chat.ActionWho:         h.Who,
		chat.ActionTyping:      h.Typing,
		chat.ActionDirect:      h.Direct,
		chat.ActionRename:      h.Rename,
		chat.ActionEdit:        h.Edit,
		chat.ActionDelete:      h.Delete,
		chat.ActionReact:       h.React,
		chat.ActionBlock:       h.Block,
		chat.ActionUnread:      h.Unread,
	}
}

// Dispatch serves any of the chat's routes by the event's routeKey: the
// entry point of a function that serves several routes.
func (h *Handler) Dispatch(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	route, ok := h.Routes()[req.RequestContext.RouteKey]
	if !ok {
		h.log(&req).ErrorContext(ctx, "no such route in this function")
		return respond(http.StatusInternalServerError, "internal error"), nil
	}
	return route(ctx, req)
}

// result logs what became of a request and answers it: 400 for bad input
// (the sender has its error frame), 500 for a failure.
func (h *Handler) result(ctx context.Context, log *slog.Logger, what string, err error) events.APIGatewayProxyResponse {
	var pe *chat.ProtocolError
	switch {
	case errors.As(err, &pe):
		log.InfoContext(ctx, what+" refused", slog.String("code", pe.Code))
		return respond(http.StatusBadRequest, pe.Error())
	case err != nil:
		log.ErrorContext(ctx, what+" failed", slog.Any("error", err))
		return respond(http.StatusInternalServerError, "internal error")
	}
	return respond(http.StatusOK, "")
}

// Default is the $default route: frames that are not JSON or whose action
// matches no route. The sender gets an error frame saying which.
func (h *Handler) Default(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.log(&req)
	err := h.service(&req, log).Reject(ctx, req.RequestContext.ConnectionID, []byte(req.Body))
	var pe *chat.ProtocolError
	if errors.As(err, &pe) {
		log.InfoContext(ctx, "frame refused", slog.String("code", pe.Code))
	}
	return respond(http.StatusBadRequest, err.Error()), nil
}

func (h *Handler) service(req *events.APIGatewayWebsocketProxyRequest, log *slog.Logger) *chat.Service {
	history := h.Messages
	if history == nil {
		history = noHistory{}
	}
	svc := &chat.Service{Store: h.Store, History: history, Sender: h.Senders(req), Workers: h.Workers,
		Retention: h.Retention, PresenceLimit: h.PresenceLimit, Queue: h.Queue, InlineLimit: h.InlineLimit,
		SendLimit: h.SendLimit, RoomCap: h.RoomCap, Reaper: h.Reaper, Logger: log,
		ReadLimit: h.ReadLimit, Counters: h.Counters, Names: h.Names, Blocks: h.Blocks, PersonLimits: h.PersonLimits, Flood: h.Flood,
		LeaveGrace: h.LeaveGrace, Later: h.Later, Review: h.Review}
	if h.Endpoints != nil {
		svc.Endpoint = h.Endpoints(req)
	}
	return svc
}

// log returns the logger with the keys every line of this request carries.
func (h *Handler) log(req *events.APIGatewayWebsocketProxyRequest) *slog.Logger {
	l := h.Logger
	if l == nil {
		l = slog.Default()
	}
	rc := req.RequestContext
	// apiRequestId is API Gateway's ID of the request; "requestId" is left
	// to Lambda's own ID, which aws-lambda-go's log handler adds.
	return slog.New(lazyAttrs{next: l.Handler(), attrs: []slog.Attr{slog.String("routeKey", rc.RouteKey),
		slog.String("connectionId", rc.ConnectionID), slog.String("apiRequestId", rc.RequestID)}})
}

func (h *Handler) withMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && h.DeadlineMargin > 0 {
		return context.WithDeadline(ctx, d.Add(-h.DeadlineMargin))
	}
	return context.WithCancel(ctx)
}

func respond(status int, body string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: status, Body: body}
}

// noHistory stands in for a History that is not configured.
type noHistory struct{}

var errNoHistory = errors.New("no messages table is configured (MESSAGES_TABLE)")

func (noHistory) Append(context.Context, chat.Message, time.Time, time.Time) (chat.Message, bool, error) {
	return chat.Message{}, false, errNoHistory
}

func (noHistory) Read(context.Context, string, chat.Range, time.Time) ([]chat.Message, bool, error) {
	return nil, false, errNoHistory
}

func (noHistory) Find(context.Context, string, string, time.Time) (chat.Message, bool, error) {
	return chat.Message{}, false, errNoHistory
}

func (noHistory) Count(context.Context, string, int64, int, time.Time) (int, bool, error) {
	return 0, false, errNoHistory
}

func (noHistory) At(context.Context, string, int64, time.Time) (chat.Message, bool, error) {
	return chat.Message{}, false, errNoHistory
}

func (noHistory) Change(context.Context, string, chat.Message, chat.Change, time.Time) error {
	return errNoHistory
}
