//go:build !race

package gateway_test

// loadClients is the load test's room size.
const loadClients = 1000
