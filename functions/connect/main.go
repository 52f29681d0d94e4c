// Command connect is the chat's $connect function: it validates the name and
// room of a new WebSocket connection and stores it (400 refuses the
// handshake). Its wiring is in internal/lambdaapp; sam build runs the
// Makefile's build-ConnectFunction target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Connect) }
