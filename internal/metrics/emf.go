// Package metrics writes the chat's custom CloudWatch metrics as embedded
// metric format (EMF) lines: one JSON object per line on the function's
// standard output, which Lambda sends to CloudWatch Logs and CloudWatch
// turns into metrics. No API call, no extra permission.
//
// Specification:
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every metric; DimensionFunction
// (the function's name, as in AWS/Lambda) tells the functions, and so the
// stacks, of one account apart.
const (
	Namespace         = "ServerlessChat"
	DimensionFunction = "FunctionName"
)

// The metrics the functions write. template.yaml's dashboard shows each
// (TestTemplateDashboard checks the names).
const (
	// MessagesAccepted: chat and direct messages stored and sent on (a
	// duplicate clientMsgId is not counted again).
	MessagesAccepted = "MessagesAccepted"
	// Recipients: the members a message was for (the sender excluded).
	Recipients = "Recipients"
	// PostsDelivered, PostsGone and PostsThrottled: @connections posts
	// that succeeded, found a connection gone (410), or were throttled
	// (429) after their retries, inline or in the fan-out function.
	PostsDelivered = "PostsDelivered"
	PostsGone      = "PostsGone"
	PostsThrottled = "PostsThrottled"
	// SendersRateLimited: frames refused with rate_limited.
	SendersRateLimited = "SendersRateLimited"
	// FanoutDuration: how long delivering a message to its room inline, or
	// one batch in the fan-out function, took.
	FanoutDuration = "FanoutDuration"
	// BatchesQueued: fan-out batches handed to the queue (large rooms).
	BatchesQueued = "BatchesQueued"
)

// Units are the CloudWatch units of the metrics.
var Units = map[string]string{
	MessagesAccepted:   "Count",
	Recipients:         "Count",
	PostsDelivered:     "Count",
	PostsGone:          "Count",
	PostsThrottled:     "Count",
	SendersRateLimited: "Count",
	FanoutDuration:     "Milliseconds",
	BatchesQueued:      "Count",
}

// Names returns every metric name, sorted.
func Names() []string { return slices.Sorted(maps.Keys(Units)) }

// EMF writes EMF lines to W, safe for concurrent use.
type EMF struct {
	W io.Writer
	// Function is the value of the FunctionName dimension.
	Function string
	// Level is the line's "level" key. Lambda's log-level filtering
	// (ApplicationLogLevel) counts a JSON line without one as INFO and
	// drops it under WARN or ERROR: the function's own level keeps the
	// metrics whatever it is set to.
	Level string
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	mu sync.Mutex
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Record writes one line with values (metric name: value). Names not in
// Units are dropped; nothing is written when no value is left.
func (e *EMF) Record(values map[string]float64) error {
	if e == nil || e.W == nil {
		return nil
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	d := directive{Namespace: Namespace, Dimensions: [][]string{{DimensionFunction}}}
	line := map[string]any{DimensionFunction: e.Function}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		unit, ok := Units[name]
		if !ok {
			continue
		}
		d.Metrics = append(d.Metrics, metric{Name: name, Unit: unit})
		line[name] = values[name]
	}
	if len(d.Metrics) == 0 {
		return nil
	}
	line["_aws"] = map[string]any{
		"Timestamp":         now().UnixMilli(),
		"CloudWatchMetrics": []directive{d},
	}
	if e.Level != "" {
		line["level"] = e.Level
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.W.Write(append(b, '\n'))
	return err
}
