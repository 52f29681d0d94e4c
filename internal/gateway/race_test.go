//go:build race

package gateway_test

// loadClients is the load test's room size; the race detector makes each
// client about ten times as costly.
const loadClients = 100
