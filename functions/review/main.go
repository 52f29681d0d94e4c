// Command review is an example message review function (the template's
// ReviewFunctionArn): it masks the words of MASK_WORDS and refuses messages
// with a word of DENY_WORDS (comma-separated lists).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/review"
)

func main() {
	words := review.NewWords(review.ParseList(os.Getenv("MASK_WORDS")), review.ParseList(os.Getenv("DENY_WORDS")))
	lambda.Start(func(ctx context.Context, r chat.ReviewRequest) (chat.ReviewDecision, error) {
		return words.Review(ctx, r)
	})
}
