// Command presence is the chat's "who", "typing" and "rename" function: the
// room's members, typing notices and new names. The three routes need the
// same access, so one function serves them, by route key. Its wiring is in
// internal/lambdaapp; sam build runs the Makefile's build-PresenceFunction
// target on it.
package main

import (
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func main() { lambdaapp.Start((*handler.Handler).Dispatch) }
