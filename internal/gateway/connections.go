package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/serverless-chat/chat/internal/chat"
)

// serveConnections is the @connections management API for one connection.
func (g *Gateway) serveConnections(w http.ResponseWriter, r *http.Request, id string) {
	if g.sigv4 {
		body, err := readBody(r, g.limits.MaxMessageSize)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
			return
		}
		if err := g.verifySignature(r, body); err != nil {
			writeError(w, http.StatusForbidden, "ForbiddenException", err.Error())
			return
		}
	}
	switch r.Method {
	case http.MethodPost:
		g.postToConnection(w, r, id)
	case http.MethodGet:
		g.getConnection(w, id)
	case http.MethodDelete:
		g.deleteConnection(w, id)
	default:
		writeError(w, http.StatusForbidden, "ForbiddenException", "Missing Authentication Token")
	}
}

// postToConnection is POST /@connections/{id}: the body is the message.
func (g *Gateway) postToConnection(w http.ResponseWriter, r *http.Request, id string) {
	limit := g.limits.MaxMessageSize
	if r.ContentLength > limit {
		g.tooLarge(w, id, r.ContentLength)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		g.tooLarge(w, id, -1)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	}
	if err := g.Post(r.Context(), id, body); err != nil {
		switch {
		case errors.Is(err, chat.ErrGone):
			writeError(w, http.StatusGone, "GoneException", goneMessage)
			return
		case errors.Is(err, chat.ErrThrottled):
			writeError(w, http.StatusTooManyRequests, "LimitExceededException", "The client's buffer is full; try again later")
			return
		}
		writeError(w, http.StatusInternalServerError, "InternalServerErrorException", "Internal server error")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (g *Gateway) tooLarge(w http.ResponseWriter, id string, size int64) {
	g.log.Info("post refused: payload too large", slog.String("connectionId", id), slog.Int64("bytes", size))
	writeError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException",
		"Message payload exceeds the "+strconv.FormatInt(g.limits.MaxMessageSize, 10)+" byte limit")
}

// connectionInfo is the body of GET /@connections/{id}.
type connectionInfo struct {
	ConnectedAt  string             `json:"connectedAt"`
	Identity     connectionIdentity `json:"identity"`
	LastActiveAt string             `json:"lastActiveAt"`
}

type connectionIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// getConnection is GET /@connections/{id}.
func (g *Gateway) getConnection(w http.ResponseWriter, id string) {
	c := g.lookup(id)
	if c == nil || c.closing() { // as POST answers
		writeError(w, http.StatusGone, "GoneException", goneMessage)
		return
	}
	body, _ := json.Marshal(connectionInfo{
		ConnectedAt:  isoTime(c.connectedAt),
		Identity:     connectionIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		LastActiveAt: isoTime(c.lastActiveAt()),
	})
	writeJSON(w, http.StatusOK, string(body))
}

// deleteConnection is DELETE /@connections/{id}: 204 at once; the close
// handshake and $disconnect follow.
func (g *Gateway) deleteConnection(w http.ResponseWriter, id string) {
	if err := g.Close(id); err != nil {
		writeError(w, http.StatusGone, "GoneException", goneMessage)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

const goneMessage = "The connection is gone: unknown, closed, or still in $connect"

// writeError answers as the AWS APIs do: the error type in
// X-Amzn-ErrorType, where the SDKs look for it, and a JSON message.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("X-Amzn-ErrorType", errorType)
	body, _ := json.Marshal(map[string]string{"message": message})
	writeJSON(w, status, string(body))
}
