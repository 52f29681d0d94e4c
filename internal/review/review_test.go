package review_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/review"
)

func TestWords(t *testing.T) {
	w := review.NewWords(review.ParseList("darn, heck"), review.ParseList("spam"))
	for _, tt := range []struct{ text, decision, out string }{
		{"hello", chat.ReviewAllow, ""},
		{"Darn it, HECK", chat.ReviewRewrite, "**** it, ****"},
		{"darned", chat.ReviewAllow, ""}, // whole words only
		{"buy SPAM", chat.ReviewDeny, ""},
	} {
		d, err := w.Review(context.Background(), chat.ReviewRequest{Text: tt.text})
		if err != nil || d.Decision != tt.decision || d.Text != tt.out {
			t.Errorf("%q: %+v, %v; want %s %q", tt.text, d, err, tt.decision, tt.out)
		}
	}
}

// fakeInvoker answers like Lambda's Invoke.
type fakeInvoker struct {
	payload  string
	funcErr  string
	gotEvent chat.ReviewRequest
}

func (f *fakeInvoker) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	_ = json.Unmarshal(in.Payload, &f.gotEvent)
	out := &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(f.payload)}
	if f.funcErr != "" {
		out.FunctionError = aws.String(f.funcErr)
	}
	return out, nil
}

func TestLambda(t *testing.T) {
	f := &fakeInvoker{payload: `{"decision":"deny","reason":"no"}`}
	d, err := review.Lambda{Client: f, Function: "fn"}.Review(context.Background(), chat.ReviewRequest{Text: "x", FromID: "a1"})
	if err != nil || d.Decision != chat.ReviewDeny || d.Reason != "no" || f.gotEvent.FromID != "a1" {
		t.Errorf("Review = %+v, %v (event %+v)", d, err, f.gotEvent)
	}
	f = &fakeInvoker{payload: `{"errorMessage":"boom"}`, funcErr: "Unhandled"}
	if _, err := (review.Lambda{Client: f, Function: "fn"}).Review(context.Background(), chat.ReviewRequest{}); err == nil {
		t.Errorf("a function error was taken for a decision")
	}
}
