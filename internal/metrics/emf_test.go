package metrics_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/metrics"
)

func TestEMFLine(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	e := &metrics.EMF{W: &buf, Function: "chat-prod-MessageFunction-AbC123", Level: "WARN", Now: func() time.Time { return at }}
	if err := e.Record(map[string]float64{
		metrics.MessagesAccepted: 1, metrics.Recipients: 3, metrics.FanoutDuration: 12.5, "NotAMetric": 7,
	}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %q", len(lines), buf.String())
	}
	l, err := metrics.Parse([]byte(lines[0]))
	if err != nil {
		t.Fatalf("%s: %v", lines[0], err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Timestamp", l.Timestamp, at.UnixMilli()},
		{"Namespace", l.Namespace, metrics.Namespace},
		{"Dimensions", l.Dimensions, [][]string{{"FunctionName"}}},
		{"FunctionName", l.Members["FunctionName"], "chat-prod-MessageFunction-AbC123"},
		{"level (passes Lambda's log-level filter)", l.Members["level"], "WARN"},
		{"Values", l.Values, map[string]float64{"MessagesAccepted": 1, "Recipients": 3, "FanoutDuration": 12.5}},
		{"Units", l.Units, map[string]string{"MessagesAccepted": "Count", "Recipients": "Count", "FanoutDuration": "Milliseconds"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}

	buf.Reset()
	if err := e.Record(map[string]float64{"NotAMetric": 1}); err != nil || buf.Len() != 0 {
		t.Errorf("a line of unknown metrics only: %q, %v; want nothing written", buf.String(), err)
	}
	var none *metrics.EMF
	if err := none.Record(map[string]float64{metrics.Recipients: 1}); err != nil {
		t.Errorf("nil EMF: %v", err)
	}
}

// TestParseRefuses: the checker itself refuses lines that break the
// specification, so that the tests using it mean something.
func TestParseRefuses(t *testing.T) {
	for name, line := range map[string]string{
		"not JSON":            `MessagesAccepted 1`,
		"no _aws":             `{"Stack":"s","MessagesAccepted":1}`,
		"seconds timestamp":   `{"_aws":{"Timestamp":1733000000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Stack":"s","M":1}`,
		"no namespace":        `{"_aws":{"Timestamp":1733000000000,"CloudWatchMetrics":[{"Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Stack":"s","M":1}`,
		"bad unit":            `{"_aws":{"Timestamp":1733000000000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Things"}]}]},"Stack":"s","M":1}`,
		"dimension missing":   `{"_aws":{"Timestamp":1733000000000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":1}`,
		"metric missing":      `{"_aws":{"Timestamp":1733000000000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Stack":"s"}`,
		"metric not a number": `{"_aws":{"Timestamp":1733000000000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stack"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Stack":"s","M":"1"}`,
	} {
		if _, err := metrics.Parse([]byte(line)); err == nil {
			t.Errorf("%s: Parse accepted %s", name, line)
		}
	}
}
