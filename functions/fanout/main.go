// Command fanout is the chat's fan-out function: it consumes the SQS queue
// of fan-out batches (a large room's recipients, a few hundred a batch) and
// posts each batch's message with bounded concurrency. Its wiring is in
// internal/lambdaapp; sam build runs the Makefile's build-FanoutFunction
// target on it.
package main

import "github.com/serverless-chat/chat/internal/lambdaapp"

func main() { lambdaapp.StartFanout() }
