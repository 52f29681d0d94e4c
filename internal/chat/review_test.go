package chat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// reviewerFunc is a chat.Reviewer from a function.
type reviewerFunc func(context.Context, chat.ReviewRequest) (chat.ReviewDecision, error)

func (f reviewerFunc) Review(ctx context.Context, r chat.ReviewRequest) (chat.ReviewDecision, error) {
	return f(ctx, r)
}

func TestReviewDecisions(t *testing.T) {
	slow := reviewerFunc(func(ctx context.Context, _ chat.ReviewRequest) (chat.ReviewDecision, error) {
		<-ctx.Done()
		return chat.ReviewDecision{}, ctx.Err()
	})
	answer := func(d chat.ReviewDecision) chat.Reviewer {
		return reviewerFunc(func(context.Context, chat.ReviewRequest) (chat.ReviewDecision, error) { return d, nil })
	}
	for _, tt := range []struct {
		name     string
		policy   chat.ReviewPolicy
		wantCode string
		wantText string // what the others receive
	}{
		{"allow", chat.ReviewPolicy{Reviewer: answer(chat.ReviewDecision{Decision: chat.ReviewAllow})}, "", "hello"},
		{"deny", chat.ReviewPolicy{Reviewer: answer(chat.ReviewDecision{Decision: chat.ReviewDeny, Reason: "no"})}, chat.CodeDenied, ""},
		{"rewrite", chat.ReviewPolicy{Reviewer: answer(chat.ReviewDecision{Decision: chat.ReviewRewrite, Text: "h***o"})}, "", "h***o"},
		{"a rewrite breaking the text rules falls back", chat.ReviewPolicy{
			Reviewer: answer(chat.ReviewDecision{Decision: chat.ReviewRewrite, Text: "  "})}, "", "hello"},
		{"an unknown answer falls back", chat.ReviewPolicy{Reviewer: answer(chat.ReviewDecision{Decision: "maybe"}), FallbackDeny: true},
			chat.CodeReviewUnavailable, ""},
		{"timeout, fallback allow", chat.ReviewPolicy{Reviewer: slow, Timeout: time.Millisecond}, "", "hello"},
		{"timeout, fallback deny", chat.ReviewPolicy{Reviewer: slow, Timeout: time.Millisecond, FallbackDeny: true}, chat.CodeReviewUnavailable, ""},
		{"error, fallback deny", chat.ReviewPolicy{FallbackDeny: true, Reviewer: reviewerFunc(func(context.Context, chat.ReviewRequest) (chat.ReviewDecision, error) {
			return chat.ReviewDecision{}, errors.New("boom")
		})}, chat.CodeReviewUnavailable, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeopleService()
			p.Review = tt.policy
			p.join(t, "ann", "Ann", annSecret)
			p.join(t, "carol", "Carol", carolSecret)
			p.sender.frames = map[string][][]byte{}
			_, err := p.Send(context.Background(), "ann", []byte(`{"action":"chat message","text":"hello","clientMsgId":"m1"}`))
			if codeOf(err) != tt.wantCode {
				t.Fatalf("Send() = %v, want code %q", err, tt.wantCode)
			}
			got := p.sender.frames["carol"]
			if tt.wantText == "" {
				if len(got) != 0 || len(p.latest(t)) != 0 {
					t.Errorf("a refused message reached carol (%d frames) or history", len(got))
				}
				return
			}
			var m chat.Message
			p.sender.frame(t, "carol", &m)
			if m.Text != tt.wantText {
				t.Errorf("carol got %q, want %q", m.Text, tt.wantText)
			}
		})
	}
}
