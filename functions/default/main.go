// Command default is the chat's $default function: it answers a frame no route
// matched with an error frame to its sender. Its wiring is in
// internal/lambdaapp; sam build runs the Makefile's build-DefaultFunction
// target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Default) }
