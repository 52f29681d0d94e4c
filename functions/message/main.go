// Command message is the chat's "chat message" function: it posts a message to
// every other member of the sender's room. Its wiring is in
// internal/lambdaapp; sam build runs the Makefile's build-MessageFunction
// target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Message) }
