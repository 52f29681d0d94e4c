// Command authorizer is the chat's $connect REQUEST authorizer (template
// parameter AuthMode=jwt): it verifies the JWT in ?token= against the
// issuer's JWKS and lets the connection in as the token's user. Its wiring
// is in internal/lambdaapp; sam build runs the Makefile's
// build-AuthorizerFunction target on it.
package main

import "github.com/serverless-chat/chat/internal/lambdaapp"

func main() { lambdaapp.StartAuthorizer() }
