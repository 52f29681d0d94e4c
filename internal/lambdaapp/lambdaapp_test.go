package lambdaapp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/lambdaapp"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestNew(t *testing.T) {
	h, err := lambdaapp.New(context.Background(), lookup(map[string]string{
		"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1", "POST_WORKERS": "2000",
	}))
	if err == nil {
		t.Fatalf("New = %+v, want an error for POST_WORKERS=2000", h)
	}
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "POST_WORKERS") {
		t.Errorf("error %q does not name POST_WORKERS as invalid", err)
	}

	h, err = lambdaapp.New(context.Background(), lookup(map[string]string{
		"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1", "POST_WORKERS": "500",
		"MANAGEMENT_API_ENDPOINT": "http://127.0.0.1:8080/local",
		"AWS_ACCESS_KEY_ID":       "fake", "AWS_SECRET_ACCESS_KEY": "fake",
	}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if h.Store == nil || h.Senders == nil || h.Logger == nil {
		t.Errorf("handler not wired: %+v", h)
	}
	if h.Workers != 500 || h.DeadlineMargin != lambdaapp.DeadlineMargin {
		t.Errorf("Workers, DeadlineMargin = %d, %v, want 500, %v", h.Workers, h.DeadlineMargin, lambdaapp.DeadlineMargin)
	}
}
