package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	dynamoOnce     sync.Once
	dynamoEndpoint string
	dynamoErr      error
)

// DynamoDBLocalDir is where `make test-deps` unpacks DynamoDB Local.
func DynamoDBLocalDir() string {
	if d := os.Getenv("DYNAMODB_LOCAL_DIR"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(), "dynamodb-local")
}

// DynamoDB returns the endpoint of a DynamoDB Local: $DYNAMODB_ENDPOINT if
// set, else one started (once per test binary, in memory) from
// DynamoDBLocalDir. Tests share it, so each should use its own table.
func DynamoDB(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep
	}
	dir := DynamoDBLocalDir()
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		Missing(t, "DynamoDB Local ("+filepath.Join(dir, "DynamoDBLocal.jar")+")",
			InstallHint+" (it unpacks the emulator/ folder of the npm package amplify-dynamodb-simulator; Java 17 must be installed)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		Missing(t, "java (for DynamoDB Local)", "install Java 17 (`apt-get install -y openjdk-17-jre-headless`)")
	}
	dynamoOnce.Do(func() { dynamoEndpoint, dynamoErr = startDynamoDB(t, dir) })
	if dynamoErr != nil {
		t.Fatalf("start DynamoDB Local: %v", dynamoErr)
	}
	return dynamoEndpoint
}

func startDynamoDB(t testing.TB, dir string) (string, error) {
	port := FreePort(t)
	cmd := exec.Command("java", "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"), "-inMemory", "-port", strconv.Itoa(port))
	cmd.Dir = dir
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("dynamodb-local-%d.log", port))
	if err := Start(cmd, logPath); err != nil {
		return "", err
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := WaitHTTP(endpoint, 60*time.Second); err != nil {
		return "", fmt.Errorf("%w\n%s", err, ReadLog(logPath))
	}
	return endpoint, nil
}
