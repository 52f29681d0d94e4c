// Command history is the chat's "history" function: it sends a client the
// stored messages of its room that it asks for (catch-up after a reconnect,
// "load older"). Its wiring is in internal/lambdaapp; sam build runs the
// Makefile's build-HistoryFunction target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).History) }
