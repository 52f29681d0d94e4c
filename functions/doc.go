// Package functions holds the chat's Lambda functions, one command per
// directory (connect, disconnect, message, default), and the tests of what
// deploys them: template.yaml, the Makefile's build targets, the sample
// events in events/, and the built bootstrap binaries run under the Lambda
// Runtime Interface Emulator against DynamoDB Local.
package functions
