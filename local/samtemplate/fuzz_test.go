package samtemplate

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no template, however malformed, makes Parse panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	files = append(files, "../../template.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Resources: {A: {Type: AWS::ApiGatewayV2::Api, Properties: !Ref A}}"))
	f.Add([]byte(`{"Resources": {"A": {"Type": "AWS::Serverless::WebSocketApi", "Properties": {"Routes": {"$connect": 1}, "Auth": []}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data, Options{})
	})
}
