package config_test

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/config"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestLoad(t *testing.T) {
	minimal := map[string]string{"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range minimal {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	defaults := config.Config{
		TableName:          "chat",
		RoomIndexName:      "room-users",
		PostWorkers:        32,
		Region:             "eu-west-1",
		LogLevel:           slog.LevelInfo,
		SeqIndexName:       "seq-index",
		HistoryRetention:   24 * time.Hour,
		AllowMissingOrigin: true,
		SendBurst:          -1,
		ReadBurst:          -1,
		FloodStrikes:       -1,
	}
	tests := []struct {
		name string
		env  map[string]string
		want config.Config
	}{
		{"defaults", minimal, defaults},
		{"empty optional values are unset", with(map[string]string{
			"ROOM_INDEX_NAME": "", "MANAGEMENT_API_ENDPOINT": "", "POST_WORKERS": "",
			"DYNAMODB_ENDPOINT": "", "LOG_LEVEL": "", "MESSAGES_TABLE": "", "SEQ_INDEX_NAME": "",
			"HISTORY_RETENTION": "", "PRESENCE_LIMIT": "",
		}), defaults},
		{"everything set", with(map[string]string{
			"ROOM_INDEX_NAME":         "by-room",
			"MANAGEMENT_API_ENDPOINT": "http://127.0.0.1:8080/local/",
			"POST_WORKERS":            "1000",
			"DYNAMODB_ENDPOINT":       "http://host.docker.internal:8000",
			"LOG_LEVEL":               "debug",
			"MESSAGES_TABLE":          "chat-messages",
			"SEQ_INDEX_NAME":          "by-seq",
			"HISTORY_RETENTION":       "72h",
			"PRESENCE_LIMIT":          "-1",
			"SEND_BURST":              "20",
			"SEND_RATE":               "0.5",
			"READ_BURST":              "0",
			"FLOOD_STRIKES":           "5",
			"FLOOD_COOLDOWN":          "90s",
			"ROOM_CAP":                "100",
			"ALLOWED_ORIGINS":         "https://d111.cloudfront.net, http://localhost:8080/",
			"ALLOW_MISSING_ORIGIN":    "false",
		}), config.Config{
			SendBurst:             20,
			SendRate:              0.5,
			ReadBurst:             0,
			FloodStrikes:          5,
			FloodCooldown:         90 * time.Second,
			RoomCap:               100,
			AllowedOrigins:        []string{"https://d111.cloudfront.net", "http://localhost:8080"},
			TableName:             "chat",
			RoomIndexName:         "by-room",
			ManagementAPIEndpoint: "http://127.0.0.1:8080/local",
			PostWorkers:           1000,
			DynamoDBEndpoint:      "http://host.docker.internal:8000",
			Region:                "eu-west-1",
			LogLevel:              slog.LevelDebug,
			MessagesTable:         "chat-messages",
			SeqIndexName:          "by-seq",
			HistoryRetention:      72 * time.Hour,
			PresenceLimit:         -1,
		}},
		{"SEND_BURST=0 alone turns the limit off", with(map[string]string{"SEND_BURST": "0"}),
			func() config.Config { c := defaults; c.SendBurst = 0; return c }()},
		{"upper-case level, as the template passes it", with(map[string]string{"LOG_LEVEL": "WARN"}),
			func() config.Config { c := defaults; c.LogLevel = slog.LevelWarn; return c }()},
		{"error level and one worker", with(map[string]string{"LOG_LEVEL": "error", "POST_WORKERS": "1"}),
			func() config.Config { c := defaults; c.LogLevel = slog.LevelError; c.PostWorkers = 1; return c }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	type bad struct {
		name string
		err  error
	}
	tests := []struct {
		name string
		env  map[string]string
		want []bad // every variable reported, in any order
	}{
		{"nothing set", nil, []bad{{"TABLE_NAME", config.ErrMissing}, {"AWS_REGION", config.ErrMissing}}},
		{"blank table name", map[string]string{"TABLE_NAME": "  ", "AWS_REGION": "us-east-1"},
			[]bad{{"TABLE_NAME", config.ErrMissing}}},
		{"every variable wrong at once", map[string]string{
			"MANAGEMENT_API_ENDPOINT": "localhost:8080",
			"POST_WORKERS":            "many",
			"DYNAMODB_ENDPOINT":       "ftp://db",
			"LOG_LEVEL":               "verbose",
			"HISTORY_RETENTION":       "a day",
			"PRESENCE_LIMIT":          "-2",
			"SEND_BURST":              "-1",
			"SEND_RATE":               "0",
			"ROOM_CAP":                "0",
			"ALLOWED_ORIGINS":         "https://ok.example,https://x.example/page",
			"ALLOW_MISSING_ORIGIN":    "perhaps",
		}, []bad{
			{"SEND_BURST", config.ErrInvalid}, {"SEND_RATE", config.ErrInvalid}, {"ROOM_CAP", config.ErrInvalid},
			{"ALLOWED_ORIGINS", config.ErrInvalid}, {"ALLOW_MISSING_ORIGIN", config.ErrInvalid},
			{"TABLE_NAME", config.ErrMissing}, {"AWS_REGION", config.ErrMissing},
			{"MANAGEMENT_API_ENDPOINT", config.ErrInvalid}, {"POST_WORKERS", config.ErrInvalid},
			{"DYNAMODB_ENDPOINT", config.ErrInvalid}, {"LOG_LEVEL", config.ErrInvalid},
			{"HISTORY_RETENTION", config.ErrInvalid}, {"PRESENCE_LIMIT", config.ErrInvalid},
		}},
		{"abuse limits out of range", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r",
			"READ_BURST": "-1", "FLOOD_STRIKES": "lots", "FLOOD_COOLDOWN": "0s"},
			[]bad{{"READ_BURST", config.ErrInvalid}, {"FLOOD_STRIKES", config.ErrInvalid}, {"FLOOD_COOLDOWN", config.ErrInvalid}}},
		{"retention under a minute", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "HISTORY_RETENTION": "30s"},
			[]bad{{"HISTORY_RETENTION", config.ErrInvalid}}},
		{"zero workers", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "POST_WORKERS": "0"},
			[]bad{{"POST_WORKERS", config.ErrInvalid}}},
		{"too many workers", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "POST_WORKERS": "1001"},
			[]bad{{"POST_WORKERS", config.ErrInvalid}}},
		{"negative workers", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "POST_WORKERS": "-3"},
			[]bad{{"POST_WORKERS", config.ErrInvalid}}},
		{"endpoint without host", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "DYNAMODB_ENDPOINT": "http://"},
			[]bad{{"DYNAMODB_ENDPOINT", config.ErrInvalid}}},
		{"endpoint with a query", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "MANAGEMENT_API_ENDPOINT": "https://x.example/prod?a=b"},
			[]bad{{"MANAGEMENT_API_ENDPOINT", config.ErrInvalid}}},
		{"endpoint that does not parse", map[string]string{"TABLE_NAME": "t", "AWS_REGION": "r", "MANAGEMENT_API_ENDPOINT": "http://[::1"},
			[]bad{{"MANAGEMENT_API_ENDPOINT", config.ErrInvalid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load = %+v, want an error", got)
			}
			var reported []string
			for _, e := range unjoin(err) {
				var ve *config.VarError
				if !errors.As(e, &ve) {
					t.Errorf("error %q is not a *config.VarError", e)
					continue
				}
				reported = append(reported, ve.Name)
			}
			if len(reported) != len(tt.want) {
				t.Errorf("reported %v, want %d variables: %v", reported, len(tt.want), tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w.name) {
					t.Errorf("error %q does not name %s", msg, w.name)
				}
				if !errors.Is(err, w.err) {
					t.Errorf("errors.Is(err, %v) = false for %s", w.err, w.name)
				}
			}
		})
	}
}

// unjoin returns the errors joined inside err (under its one wrapping).
func unjoin(err error) []error {
	for err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
		err = errors.Unwrap(err)
	}
	return nil
}

func TestVarErrorMessage(t *testing.T) {
	_, err := config.Load(env(map[string]string{"AWS_REGION": "r", "TABLE_NAME": "t", "POST_WORKERS": "x"}))
	if got, want := err.Error(), `configuration: POST_WORKERS="x": want an integer from 1 to 1000`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = config.Load(env(map[string]string{"AWS_REGION": "r"}))
	if got, want := err.Error(), "configuration: TABLE_NAME: required but not set"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
