// Package sqsqueue is the chat.Queue of the deployed path: fan-out batches
// as SQS messages (aws-sdk-go-v2), consumed by the fan-out function through
// its event source mapping.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-chat/chat/internal/chat"
)

// API is the call the queue makes; *sqs.Client implements it.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var (
	_ chat.Queue = (*Queue)(nil)
	_ API        = (*sqs.Client)(nil)
)

// maxEntries is SQS's limit of messages per SendMessageBatch.
const maxEntries = 10

// Queue sends batches to one SQS queue.
type Queue struct {
	client API
	url    string
}

// New returns the queue at url.
func New(client API, url string) *Queue { return &Queue{client: client, url: url} }

// NewClient returns an SQS client for cfg, sent to endpoint (for example
// moto_server's) when it is not empty.
func NewClient(cfg aws.Config, endpoint string) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// Enqueue sends the batches, ten to a SendMessageBatch call. Entries SQS
// refuses in a call that succeeded are sent once more; any still refused
// make the error.
func (q *Queue) Enqueue(ctx context.Context, batches []chat.Batch) error {
	for chunk := range slices.Chunk(batches, maxEntries) {
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, b := range chunk {
			body, err := encode(b)
			if err != nil {
				return fmt.Errorf("encode batch of %s: %w", b.Room, err)
			}
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)}
		}
		for try := 0; len(entries) > 0; try++ {
			out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
			if err != nil {
				return fmt.Errorf("send %d batches to %s: %w", len(entries), q.url, err)
			}
			if len(out.Failed) == 0 {
				break
			}
			if try == 1 {
				var errs []error
				for _, f := range out.Failed {
					errs = append(errs, fmt.Errorf("entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
				}
				return fmt.Errorf("send batches to %s: %w", q.url, errors.Join(errs...))
			}
			failed := map[string]bool{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = true
			}
			entries = slices.DeleteFunc(entries, func(e types.SendMessageBatchRequestEntry) bool { return !failed[aws.ToString(e.Id)] })
		}
	}
	return nil
}

// encode marshals a batch without escaping <, > and & in its frame, which
// is posted as it is: the members receive the bytes the message function made.
func encode(b chat.Batch) (string, error) {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// Decode reads a batch from an SQS message body.
func Decode(body string) (chat.Batch, error) {
	var b chat.Batch
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return chat.Batch{}, fmt.Errorf("decode batch: %w", err)
	}
	if b.Room == "" || len(b.Frame) == 0 || b.Frame[0] != '{' {
		return chat.Batch{}, errors.New("decode batch: no room, or no frame object")
	}
	return b, nil
}

// ReceiveAPI is what Poll calls; *sqs.Client implements it.
type ReceiveAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Handle processes received messages as the fan-out function does and
// returns the IDs of those that failed (to be received again).
type Handle func(ctx context.Context, msgs []types.Message) (failed []string)

// Poll receives messages from the queue at url and hands them to handle
// until ctx ends, deleting those handle did not report failed: what Lambda's
// event source mapping does for the fan-out function, for the local adapter
// pointed at a real SQS (or moto_server).
func Poll(ctx context.Context, client ReceiveAPI, url string, handle Handle) error {
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: maxEntries, WaitTimeSeconds: 1,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		failed := handle(ctx, out.Messages)
		var done []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			if !slices.Contains(failed, aws.ToString(m.MessageId)) {
				done = append(done, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			}
		}
		if len(done) > 0 {
			if _, err := client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: done}); err != nil {
				return fmt.Errorf("delete from %s: %w", url, err)
			}
		}
	}
	return nil
}
