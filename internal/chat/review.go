package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// A review hook sees each message before it is published (a room message,
// a private message, an edit) and answers allow, deny (with a reason shown
// to the author alone) or a replacement text: Amazon IVS Chat's message
// review handler, as a function of the deployer's.

// Reviewer reviews a message before it is published. Implementations:
// review.Lambda (a Lambda function) and review.Words (in process).
type Reviewer interface {
	Review(ctx context.Context, r ReviewRequest) (ReviewDecision, error)
}

// ReviewRequest is what a review function receives.
type ReviewRequest struct {
	Kind         string `json:"kind"` // "chat message", "direct message" or "edit"
	Room         string `json:"room"`
	Conversation string `json:"conversation,omitempty"`
	Text         string `json:"text"`
	From         string `json:"from"`
	FromID       string `json:"fromId"`
	SignedIn     bool   `json:"signedIn"`
}

// ReviewDecision is a review function's answer.
type ReviewDecision struct {
	// Decision is "allow", "deny" or "rewrite".
	Decision string `json:"decision"`
	// Reason, on a denial, is shown to the author alone.
	Reason string `json:"reason,omitempty"`
	// Text, on a rewrite, replaces the message's text; it must follow the
	// text rules.
	Text string `json:"text,omitempty"`
}

// Review decisions.
const (
	ReviewAllow   = "allow"
	ReviewDeny    = "deny"
	ReviewRewrite = "rewrite"
)

// DefaultReviewTimeout is the review's deadline unless configured.
const DefaultReviewTimeout = 500 * time.Millisecond

// Error codes of the review.
const (
	// CodeDenied: the review function refused the message; the message
	// says why.
	CodeDenied = "denied"
	// CodeReviewUnavailable: the review did not answer in time (or
	// failed) and the fallback is to refuse; sending again may pass.
	CodeReviewUnavailable = "review_unavailable"
)

// ReviewPolicy configures the hook.
type ReviewPolicy struct {
	Reviewer Reviewer      // nil: no review
	Timeout  time.Duration // DefaultReviewTimeout if 0
	// FallbackDeny refuses a message whose review timed out or failed;
	// the default allows it, as IVS Chat's fallbackResult does by
	// default: a slow moderator must not stop the chat.
	FallbackDeny bool
}

// review runs the hook on text and returns the text to publish, or a
// *ProtocolError for the author.
func (s *Service) review(ctx context.Context, kind string, sender Connection, conversation, text, clientMsgID string) (string, error) {
	p := s.Review
	if p.Reviewer == nil {
		return text, nil
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultReviewTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := p.Reviewer.Review(rctx, ReviewRequest{Kind: kind, Room: sender.Room, Conversation: conversation, Text: text,
		From: sender.Name, FromID: sender.UserID, SignedIn: sender.SignedIn})
	if err == nil {
		switch d.Decision {
		case ReviewAllow:
			return text, nil
		case ReviewDeny:
			reason := d.Reason
			if reason == "" {
				reason = "this message was not accepted"
			}
			return "", &ProtocolError{Code: CodeDenied, Message: reason, ClientMsgID: clientMsgID}
		case ReviewRewrite:
			if rewritten, verr := validText(d.Text); verr == nil {
				return rewritten, nil
			}
			err = fmt.Errorf("the review's rewrite breaks the text rules")
		default:
			err = fmt.Errorf("the review answered %q", d.Decision)
		}
	}
	s.logger().WarnContext(ctx, "message review failed: fallback", slog.Bool("deny", p.FallbackDeny),
		slog.Bool("timeout", errors.Is(err, context.DeadlineExceeded)), slog.Any("error", err))
	if p.FallbackDeny {
		return "", &ProtocolError{Code: CodeReviewUnavailable, ClientMsgID: clientMsgID,
			Message: "the message could not be reviewed; send it again"}
	}
	return text, nil
}

// validText checks a text (a review's rewrite) with the rules of "text".
func validText(text string) (string, error) {
	raw, _ := json.Marshal(text)
	return parseText(clientFrame{"text": raw})
}
