// Command message is the chat's "chat message" and "direct message"
// function: it stores a message and posts it to the other members of the
// sender's room, or to the connections of one name in it. It serves both
// routes by route key. Its wiring is in internal/lambdaapp; sam build runs
// the Makefile's build-MessageFunction target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Dispatch) }
