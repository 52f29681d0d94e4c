// Package config loads the Lambda functions' configuration from their
// environment. Load reports every missing or malformed variable at once,
// each named, so one failed deployment shows everything to fix.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The environment variables the functions read.
const (
	EnvTableName             = "TABLE_NAME"
	EnvRoomIndexName         = "ROOM_INDEX_NAME"
	EnvRoomIndexFallback     = "ROOM_INDEX_FALLBACK"
	EnvManagementAPIEndpoint = "MANAGEMENT_API_ENDPOINT"
	EnvPostWorkers           = "POST_WORKERS"
	EnvDynamoDBEndpoint      = "DYNAMODB_ENDPOINT"
	EnvRegion                = "AWS_REGION"
	EnvLogLevel              = "LOG_LEVEL"
	EnvMessagesTable         = "MESSAGES_TABLE"
	EnvSeqIndexName          = "SEQ_INDEX_NAME"
	EnvHistoryRetention      = "HISTORY_RETENTION"
	EnvPresenceLimit         = "PRESENCE_LIMIT"
	EnvFanoutQueueURL        = "FANOUT_QUEUE_URL"
	EnvInlineLimit           = "INLINE_LIMIT"
	EnvSQSEndpoint           = "SQS_ENDPOINT"
	EnvURLSuffix             = "URL_SUFFIX"
	EnvSendBurst             = "SEND_BURST"
	EnvSendRate              = "SEND_RATE"
	EnvReadBurst             = "READ_BURST"
	EnvFloodStrikes          = "FLOOD_STRIKES"
	EnvFloodCooldown         = "FLOOD_COOLDOWN"
	EnvReviewFunction        = "REVIEW_FUNCTION"
	EnvLeaveGrace            = "LEAVE_GRACE"
	EnvReviewTimeout         = "REVIEW_TIMEOUT"
	EnvReviewFallback        = "REVIEW_FALLBACK"
	EnvRoomCap               = "ROOM_CAP"
	EnvAllowedOrigins        = "ALLOWED_ORIGINS"
	EnvAllowMissingOrigin    = "ALLOW_MISSING_ORIGIN"
	EnvJWTIssuer             = "JWT_ISSUER"
	EnvJWTAudience           = "JWT_AUDIENCE"
	EnvJWKSURL               = "JWKS_URL"
	EnvFunctionName          = "AWS_LAMBDA_FUNCTION_NAME"
)

// Defaults of the optional variables.
const (
	DefaultRoomIndexName = "room-users"
	DefaultSeqIndexName  = "seq-index"
	DefaultPostWorkers   = 32
	MaxPostWorkers       = 1000
)

var (
	// ErrMissing means a required variable is unset or empty.
	ErrMissing = errors.New("required but not set")
	// ErrInvalid means a variable is set to a value that cannot be used.
	ErrInvalid = errors.New("invalid value")
)

// VarError is the problem with one environment variable.
type VarError struct {
	Name   string
	Value  string
	Err    error // ErrMissing or ErrInvalid
	Reason string
}

func (e *VarError) Error() string {
	if errors.Is(e.Err, ErrMissing) {
		return e.Name + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s=%q: %s", e.Name, e.Value, e.Reason)
}

func (e *VarError) Unwrap() error { return e.Err }

// Config is what a function needs to run.
type Config struct {
	TableName     string
	RoomIndexName string
	// RoomIndexFallback is the room index read while RoomIndexName is
	// still being built: the index before user IDs, during the migration
	// (see internal/dynamo); "" for none.
	RoomIndexFallback string
	// ManagementAPIEndpoint overrides the @connections base URL built from
	// each request (https://{apiId}.execute-api.{region}.amazonaws.com/{stage});
	// "" when unset.
	ManagementAPIEndpoint string
	PostWorkers           int
	// DynamoDBEndpoint points the DynamoDB client elsewhere (DynamoDB Local);
	// "" when unset.
	DynamoDBEndpoint string
	Region           string
	LogLevel         slog.Level
	// MessagesTable keeps the rooms' history; "" when unset (the functions
	// that store or read messages then fail their requests with "internal").
	MessagesTable string
	SeqIndexName  string
	// HistoryRetention is how long messages are kept (a Go duration: "24h").
	HistoryRetention time.Duration
	// PresenceLimit is the largest room told of joins, leaves and typing
	// (0: chat.DefaultPresenceLimit; -1: none).
	PresenceLimit int
	// FanoutQueueURL is the SQS queue of fan-out batches; "" delivers
	// every room inline. Rooms over InlineLimit members (0: the default)
	// go through it. SQSEndpoint points the SQS client elsewhere.
	FanoutQueueURL string
	InlineLimit    int
	SQSEndpoint    string
	// URLSuffix is the partition's DNS suffix for the @connections
	// endpoint ("" when unset: derived from the region).
	URLSuffix string
	// SendBurst and SendRate are each connection's send limit: a burst,
	// then SendRate frames a second (chat.SendLimitOf). SendBurst is -1
	// when unset (the default burst), 0 to turn the limit off; SendRate is
	// 0 when unset (the default rate).
	SendBurst int
	SendRate  float64
	// ReadBurst is each connection's burst of reads (history, who), then
	// one every 2 s: -1 when unset (the default), 0 to turn it off.
	ReadBurst int
	// FloodStrikes is how many refused frames within 10 s cut a
	// connection off (-1 unset: the default; 0: never), and FloodCooldown
	// how long its person is refused at $connect then (0: the default).
	FloodStrikes  int
	FloodCooldown time.Duration
	// ReviewFunction names the message review function ("" for none);
	// ReviewTimeout is its deadline (0: the chat's default), and
	// ReviewFallbackDeny refuses a message whose review failed.
	// LeaveGrace is how long $disconnect holds a person's leave for a
	// reconnect (0: the chat's default; negative: none, from "0s").
	LeaveGrace         time.Duration
	ReviewFunction     string
	ReviewTimeout      time.Duration
	ReviewFallbackDeny bool
	// RoomCap is the most connections a room takes (0: the default; -1: none).
	RoomCap int
	// AllowedOrigins are the pages that may open a connection (exact
	// origins, or "*"); none means no check. AllowMissingOrigin lets
	// clients without an Origin header (not browsers) in.
	AllowedOrigins     []string
	AllowMissingOrigin bool
	// FunctionName is the function's name, set by Lambda: the FunctionName
	// dimension of its custom metrics (internal/metrics); "" writes none.
	FunctionName string
}

// Load reads the configuration through lookup (os.LookupEnv in the mains).
// An empty variable counts as unset: SAM and CloudFormation set blank
// parameters to "". The error joins one *VarError per bad variable.
func Load(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	fail := func(name, value string, err error, reason string) {
		errs = append(errs, &VarError{Name: name, Value: value, Err: err, Reason: reason})
	}

	c := Config{
		TableName:         get(EnvTableName),
		RoomIndexName:     get(EnvRoomIndexName),
		RoomIndexFallback: get(EnvRoomIndexFallback),
		Region:            get(EnvRegion),
		PostWorkers:       DefaultPostWorkers,
		LogLevel:          slog.LevelInfo,
		SendBurst:         -1,
		ReadBurst:         -1,
		FloodStrikes:      -1,
		MessagesTable:     get(EnvMessagesTable),
		URLSuffix:         get(EnvURLSuffix),
		SeqIndexName:      get(EnvSeqIndexName),
		FunctionName:      get(EnvFunctionName),
		ReviewFunction:    get(EnvReviewFunction),
		// chat.DefaultRetention; not imported, to keep config a leaf.
		HistoryRetention: 24 * time.Hour,
	}
	if c.SeqIndexName == "" {
		c.SeqIndexName = DefaultSeqIndexName
	}
	if v := get(EnvHistoryRetention); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 366*24*time.Hour {
			fail(EnvHistoryRetention, v, ErrInvalid, "want a duration from 1m to 8784h, such as 24h")
		} else {
			c.HistoryRetention = d
		}
	}
	if c.TableName == "" {
		fail(EnvTableName, "", ErrMissing, "")
	}
	if c.RoomIndexName == "" {
		c.RoomIndexName = DefaultRoomIndexName
	}
	if c.Region == "" {
		fail(EnvRegion, "", ErrMissing, "")
	}
	for _, u := range []struct {
		name string
		dst  *string
	}{
		{EnvManagementAPIEndpoint, &c.ManagementAPIEndpoint},
		{EnvDynamoDBEndpoint, &c.DynamoDBEndpoint},
		{EnvSQSEndpoint, &c.SQSEndpoint},
	} {
		v := get(u.name)
		if v == "" {
			continue
		}
		if reason := checkURL(v); reason != "" {
			fail(u.name, v, ErrInvalid, reason)
			continue
		}
		*u.dst = strings.TrimRight(v, "/")
	}
	if v := get(EnvPostWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPostWorkers {
			fail(EnvPostWorkers, v, ErrInvalid, fmt.Sprintf("want an integer from 1 to %d", MaxPostWorkers))
		} else {
			c.PostWorkers = n
		}
	}
	if v := get(EnvLogLevel); v != "" {
		l, ok := parseLevel(v)
		if !ok {
			fail(EnvLogLevel, v, ErrInvalid, "want debug, info, warn or error")
		} else {
			c.LogLevel = l
		}
	}
	if v := get(EnvFanoutQueueURL); v != "" {
		if reason := checkURL(v); reason != "" {
			fail(EnvFanoutQueueURL, v, ErrInvalid, reason)
		} else {
			c.FanoutQueueURL = v
		}
	}
	if v := get(EnvInlineLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(EnvInlineLimit, v, ErrInvalid, "want a whole number of members, 1 or more")
		} else {
			c.InlineLimit = n
		}
	}
	if v := get(EnvPresenceLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			fail(EnvPresenceLimit, v, ErrInvalid, "want a whole number of connections, or -1 for no presence notices")
		} else {
			c.PresenceLimit = n
		}
	}
	if v := get(EnvSendBurst); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(EnvSendBurst, v, ErrInvalid, "want a whole number of frames, or 0 for no limit")
		} else {
			c.SendBurst = n
		}
	}
	if v := get(EnvReadBurst); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			fail(EnvReadBurst, v, ErrInvalid, "want a whole number of reads up to 1000000, or 0 for no limit")
		} else {
			c.ReadBurst = n
		}
	}
	if v := get(EnvFloodStrikes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			fail(EnvFloodStrikes, v, ErrInvalid, "want a whole number of refused frames up to 1000000, or 0 never to cut a connection off")
		} else {
			c.FloodStrikes = n
		}
	}
	if v := get(EnvLeaveGrace); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0 || d > 20*time.Second:
			fail(EnvLeaveGrace, v, ErrInvalid, "want a duration from 0s (no grace) to 20s, e.g. 5s")
		case d == 0:
			c.LeaveGrace = -1
		default:
			c.LeaveGrace = d
		}
	}
	if v := get(EnvReviewTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > 10*time.Second {
			fail(EnvReviewTimeout, v, ErrInvalid, "want a duration from 1ms to 10s, e.g. 500ms")
		} else {
			c.ReviewTimeout = d
		}
	}
	switch v := strings.ToUpper(get(EnvReviewFallback)); v {
	case "", "ALLOW":
	case "DENY":
		c.ReviewFallbackDeny = true
	default:
		fail(EnvReviewFallback, v, ErrInvalid, "want ALLOW or DENY")
	}
	if v := get(EnvFloodCooldown); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			fail(EnvFloodCooldown, v, ErrInvalid, "want a duration from 1s to 24h, e.g. 60s")
		} else {
			c.FloodCooldown = d
		}
	}
	if v := get(EnvSendRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0 && r <= 1000) {
			fail(EnvSendRate, v, ErrInvalid, "want frames a second, more than 0 and at most 1000")
		} else {
			c.SendRate = r
		}
	}
	if v := get(EnvRoomCap); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 || n == 0 {
			fail(EnvRoomCap, v, ErrInvalid, "want a whole number of connections, or -1 for no cap")
		} else {
			c.RoomCap = n
		}
	}
	if v := get(EnvAllowedOrigins); v != "" {
		origins, err := ParseOrigins(v)
		if err != nil {
			fail(EnvAllowedOrigins, v, ErrInvalid, err.Error())
		}
		c.AllowedOrigins = origins
	}
	c.AllowMissingOrigin = true
	if v := get(EnvAllowMissingOrigin); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(EnvAllowMissingOrigin, v, ErrInvalid, "want true or false")
		} else {
			c.AllowMissingOrigin = b
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// checkURL returns why v is not an absolute http(s) URL, or "".
func checkURL(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "want an http:// or https:// URL"
	case u.Host == "":
		return "URL has no host"
	case u.RawQuery != "" || u.Fragment != "":
		return "URL must not have a query or fragment"
	}
	return ""
}

// ParseOrigins reads a comma-separated allow-list of origins
// (scheme://host[:port], or "*"), without trailing slashes; blank entries
// are skipped. Both the functions (ALLOWED_ORIGINS) and the local adapter
// (-allowed-origins) read their list with it.
func ParseOrigins(v string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if reason := checkOrigin(o); reason != "" {
			return nil, fmt.Errorf("%q: %s", o, reason)
		}
		out = append(out, strings.TrimRight(o, "/"))
	}
	return out, nil
}

// checkOrigin returns why v is not "*" or an origin (scheme://host[:port]
// with nothing after it), or "".
func checkOrigin(v string) string {
	if v == "*" {
		return ""
	}
	if reason := checkURL(v); reason != "" {
		return reason
	}
	if u, _ := url.Parse(v); strings.TrimRight(u.Path, "/") != "" {
		return "an origin has no path: want scheme://host[:port]"
	}
	return ""
}

// parseLevel accepts the level names in any case (the template passes the
// same DEBUG/INFO/WARN/ERROR value to Lambda's ApplicationLogLevel).
func parseLevel(v string) (slog.Level, bool) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// Authorizer is what the $connect authorizer needs.
type Authorizer struct {
	Issuer   string
	Audience string
	JWKSURL  string // "" for the issuer's /.well-known/jwks.json
	LogLevel slog.Level
}

// LoadAuthorizer reads the authorizer's configuration, reporting every bad
// variable at once as Load does.
func LoadAuthorizer(lookup func(string) (string, bool)) (Authorizer, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	c := Authorizer{Issuer: get(EnvJWTIssuer), Audience: get(EnvJWTAudience), JWKSURL: get(EnvJWKSURL), LogLevel: slog.LevelInfo}
	switch {
	case c.Issuer == "":
		errs = append(errs, &VarError{Name: EnvJWTIssuer, Err: ErrMissing})
	case checkURL(c.Issuer) != "":
		errs = append(errs, &VarError{Name: EnvJWTIssuer, Value: c.Issuer, Err: ErrInvalid, Reason: checkURL(c.Issuer)})
	}
	if c.Audience == "" {
		errs = append(errs, &VarError{Name: EnvJWTAudience, Err: ErrMissing})
	}
	if c.JWKSURL != "" {
		if reason := checkURL(c.JWKSURL); reason != "" {
			errs = append(errs, &VarError{Name: EnvJWKSURL, Value: c.JWKSURL, Err: ErrInvalid, Reason: reason})
		}
	}
	if v := get(EnvLogLevel); v != "" {
		if l, ok := parseLevel(v); ok {
			c.LogLevel = l
		} else {
			errs = append(errs, &VarError{Name: EnvLogLevel, Value: v, Err: ErrInvalid, Reason: "want debug, info, warn or error"})
		}
	}
	if len(errs) > 0 {
		return Authorizer{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}
