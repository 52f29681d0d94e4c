package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// DynamoDB Local never throttles, so the translation of the errors it cannot
// produce is tested on error values shaped like the SDK's.
func TestTranslate(t *testing.T) {
	msg := "Cannot do operations on a non-existent table"
	tests := []struct {
		name     string
		err      error
		wantIs   error // nil: neither sentinel
		wantText string
	}{
		{"table missing", &types.ResourceNotFoundException{Message: &msg}, ErrTableNotFound, `table "conns"`},
		{"index missing", &smithy.GenericAPIError{Code: "ValidationException", Message: "The table does not have the specified index: nope"}, ErrTableNotFound, `no index "room-index"`},
		{"throughput exceeded", &types.ProvisionedThroughputExceededException{}, ErrThrottled, "throttled"},
		{"throttled after retries", &retry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: "ThrottlingException"}}, ErrThrottled, "throttled"},
		{"request limit", fmt.Errorf("op: %w", &types.RequestLimitExceeded{}), ErrThrottled, "throttled"},
		{"other validation", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad key"}, nil, "bad key"},
		{"canceled", context.Canceled, nil, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate("get connection x", "conns", "room-index", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("translate(%v) = %v, does not wrap the SDK error", tt.err, got)
			}
			for _, sentinel := range []error{ErrTableNotFound, ErrThrottled} {
				if is, want := errors.Is(got, sentinel), sentinel == tt.wantIs; is != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", got, sentinel, is, want)
				}
			}
			if !strings.HasPrefix(got.Error(), "get connection x: ") || !strings.Contains(got.Error(), tt.wantText) {
				t.Errorf("translate = %q, want the operation and %q", got, tt.wantText)
			}
		})
	}
}
