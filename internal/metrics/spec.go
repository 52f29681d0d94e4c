package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// units are the units the EMF specification allows (CloudWatch's
// StandardUnit values).
var units = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// Line is an EMF line checked against the specification by Parse.
type Line struct {
	Timestamp  int64
	Namespace  string
	Dimensions [][]string
	// Units and Values by metric name; Members are the root's other keys.
	Units   map[string]string
	Values  map[string]float64
	Members map[string]any
}

// Parse decodes one EMF line and checks it against the embedded metric
// format specification: the _aws metadata (Timestamp in milliseconds,
// CloudWatchMetrics directives with a Namespace, dimension sets of at most
// 30 keys, at most 100 metrics with valid units) and the target members
// (each dimension a string, each metric a number, at the root). Lines of
// more than one directive are refused: this package writes one.
func Parse(b []byte) (Line, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(b, &root); err != nil {
		return Line{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var meta struct {
		Timestamp         *int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct {
				Name              string
				Unit              string
				StorageResolution *int
			}
		}
	}
	raw, ok := root["_aws"]
	if !ok {
		return Line{}, errors.New("no _aws metadata")
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Line{}, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp == nil || *meta.Timestamp < 1e12 {
		return Line{}, fmt.Errorf("_aws.Timestamp %v: want milliseconds since the epoch", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) != 1 {
		return Line{}, fmt.Errorf("_aws.CloudWatchMetrics has %d directives, want 1", len(meta.CloudWatchMetrics))
	}
	d := meta.CloudWatchMetrics[0]
	if d.Namespace == "" || len(d.Namespace) > 1024 {
		return Line{}, fmt.Errorf("namespace %q: want 1 to 1024 characters", d.Namespace)
	}
	if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
		return Line{}, fmt.Errorf("%d metrics, want 1 to 100", len(d.Metrics))
	}
	l := Line{Timestamp: *meta.Timestamp, Namespace: d.Namespace, Dimensions: d.Dimensions,
		Units: map[string]string{}, Values: map[string]float64{}, Members: map[string]any{}}
	for _, set := range d.Dimensions {
		if len(set) > 30 {
			return Line{}, fmt.Errorf("dimension set of %d keys, want at most 30", len(set))
		}
		for _, k := range set {
			var v string
			if err := json.Unmarshal(root[k], &v); err != nil {
				return Line{}, fmt.Errorf("dimension %s: want a string member at the root, have %s", k, root[k])
			}
			l.Members[k] = v
		}
	}
	for _, m := range d.Metrics {
		if m.Name == "" || len(m.Name) > 1024 {
			return Line{}, fmt.Errorf("metric name %q: want 1 to 1024 characters", m.Name)
		}
		if m.Unit != "" && !slices.Contains(units, m.Unit) {
			return Line{}, fmt.Errorf("metric %s: unit %q is not a CloudWatch unit", m.Name, m.Unit)
		}
		if r := m.StorageResolution; r != nil && *r != 1 && *r != 60 {
			return Line{}, fmt.Errorf("metric %s: StorageResolution %d, want 1 or 60", m.Name, *r)
		}
		var v float64
		if err := json.Unmarshal(root[m.Name], &v); err != nil {
			return Line{}, fmt.Errorf("metric %s: want a number member at the root, have %s", m.Name, root[m.Name])
		}
		l.Units[m.Name], l.Values[m.Name] = m.Unit, v
	}
	for k, raw := range root {
		if _, ok := l.Members[k]; ok || k == "_aws" {
			continue
		}
		if _, ok := l.Values[k]; ok {
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		l.Members[k] = v
	}
	return l, nil
}
