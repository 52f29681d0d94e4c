package handler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
)

// OriginPolicy says which web pages may open a connection. Browsers send
// the page's origin in the Origin header of every WebSocket handshake, and
// a page elsewhere could otherwise connect with its visitor's sign-in. The
// header proves nothing about clients that are not browsers: they may
// leave it out or forge it, so the policy is a guard for browsers only.
type OriginPolicy struct {
	// Allowed are exact origins (scheme://host[:port]), or "*" for any.
	// None means no check.
	Allowed []string
	// AllowMissing lets a handshake without an Origin header in.
	AllowMissing bool
}

// allows reports whether a handshake from origin ("" if it sent none)
// may connect.
func (p OriginPolicy) allows(origin string) bool {
	switch {
	case len(p.Allowed) == 0 || slices.Contains(p.Allowed, "*"):
		return true
	case origin == "":
		return p.AllowMissing
	}
	return slices.ContainsFunc(p.Allowed, func(a string) bool { return strings.EqualFold(a, origin) })
}

// header returns the request's header name, in any case: HTTP header
// names are case-insensitive, and API Gateway passes them as the client
// sent them.
func header(req *events.APIGatewayWebsocketProxyRequest, name string) string {
	if v, ok := req.Headers[name]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// subprotocols reads a handshake's Sec-WebSocket-Protocol header: whether
// it offers chat.ProtocolName, and the anonymous secret it carries ("" if
// none). The header is never logged: it holds the secret.
func subprotocols(header string) (offered bool, secret string) {
	for _, p := range strings.Split(header, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == chat.ProtocolName:
			offered = true
		case strings.HasPrefix(p, chat.SecretProtocolPrefix):
			secret = strings.TrimPrefix(p, chat.SecretProtocolPrefix)
		}
	}
	return offered, secret
}

// signedInUser returns the user the $connect authorizer let in, from
// requestContext.authorizer: its principalId and the context it returned
// (sub and name), which API Gateway merges into one object. ok is false
// for an anonymous connection (no authorizer on the route).
func signedInUser(req *events.APIGatewayWebsocketProxyRequest) (u chat.User, ok bool) {
	ctx, isMap := req.RequestContext.Authorizer.(map[string]any)
	if !isMap || len(ctx) == 0 {
		return chat.User{}, false
	}
	str := func(key string) string {
		switch v := ctx[key].(type) {
		case string:
			return v
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	u = chat.User{ID: str("sub"), Issuer: str("iss"), Name: str("name")}
	if u.ID == "" {
		u.ID = str("principalId")
	}
	return u, u.ID != ""
}
