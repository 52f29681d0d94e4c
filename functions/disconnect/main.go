// Command disconnect is the chat's $disconnect function: it forgets a closed
// connection. Its wiring is in internal/lambdaapp; sam build runs the
// Makefile's build-DisconnectFunction target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Disconnect) }
