// Package review is the message review hook's two sides: Lambda, a
// chat.Reviewer that invokes a review function (deployed, or run by the
// local adapter), and Words, the example review function's rule (mask some
// words, refuse messages with others), which also runs in process.
package review

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/chat"
)

// Invoker is the part of the Lambda client Lambda uses: *lambda.Client, or
// the local adapter's runtime pool.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Lambda reviews a message by invoking Function synchronously with the
// chat.ReviewRequest as its event; it answers a chat.ReviewDecision.
type Lambda struct {
	Client   Invoker
	Function string
}

var _ chat.Reviewer = Lambda{}

// Review invokes the function. A function error, or an answer that is not
// a decision, is an error: the service's fallback decides.
func (l Lambda) Review(ctx context.Context, r chat.ReviewRequest) (chat.ReviewDecision, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return chat.ReviewDecision{}, err
	}
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(l.Function), Payload: payload})
	if err != nil {
		return chat.ReviewDecision{}, fmt.Errorf("invoke review function: %w", err)
	}
	if out.FunctionError != nil {
		return chat.ReviewDecision{}, fmt.Errorf("review function failed (%s): %.200s", *out.FunctionError, out.Payload)
	}
	var d chat.ReviewDecision
	if err := json.Unmarshal(out.Payload, &d); err != nil {
		return chat.ReviewDecision{}, fmt.Errorf("review function's answer: %w", err)
	}
	return d, nil
}

// Words is the example review rule: a message holding a denied word is
// refused; each masked word is replaced by asterisks (whole words, any
// case). Make it with NewWords.
type Words struct {
	mask, deny []*regexp.Regexp
}

// NewWords compiles the rule's word lists.
func NewWords(mask, deny []string) Words {
	var w Words
	for _, word := range mask {
		w.mask = append(w.mask, wordPattern(word))
	}
	for _, word := range deny {
		w.deny = append(w.deny, wordPattern(word))
	}
	return w
}

var _ chat.Reviewer = Words{}

// ParseList splits a comma-separated word list, dropping empty entries.
func ParseList(s string) []string {
	var out []string
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Review applies the rule.
func (w Words) Review(_ context.Context, r chat.ReviewRequest) (chat.ReviewDecision, error) {
	for _, word := range w.deny {
		if word.MatchString(r.Text) {
			return chat.ReviewDecision{Decision: chat.ReviewDeny, Reason: "this message uses a word this chat does not allow"}, nil
		}
	}
	text := r.Text
	for _, word := range w.mask {
		text = word.ReplaceAllStringFunc(text, func(m string) string {
			return strings.Repeat("*", len([]rune(m)))
		})
	}
	if text != r.Text {
		return chat.ReviewDecision{Decision: chat.ReviewRewrite, Text: text}, nil
	}
	return chat.ReviewDecision{Decision: chat.ReviewAllow}, nil
}

// wordPattern matches word as a whole word, in any case.
func wordPattern(word string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(word) + `\b`)
}
