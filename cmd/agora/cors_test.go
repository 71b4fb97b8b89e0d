package main

import (
	"net/http"
	"testing"
)

// TestCORS checks the answers to browsers: allowed origins get the CORS
// headers and their preflights a 204; others get none.
func TestCORS(t *testing.T) {
	ts := MustOpenServer(t, func(c *ServeConfig) { c.CORSOrigins = "https://app.example, https://other.example" })
	pre := ts.send(t, request{method: "OPTIONS", path: "/v1/conversations", header: map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}})
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		pre.Header.Get("Access-Control-Allow-Methods") == "" || pre.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("preflight from an allowed origin: %d %v", pre.Status, pre.Header)
	}
	get := ts.send(t, request{method: "GET", path: "/healthz", header: map[string]string{"Origin": "https://other.example"}})
	if get.Status != http.StatusOK || get.Header.Get("Access-Control-Allow-Origin") != "https://other.example" {
		t.Fatalf("simple request from an allowed origin: %d %v", get.Status, get.Header)
	}
	denied := ts.send(t, request{method: "OPTIONS", path: "/v1/conversations", header: map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	if denied.Header.Get("Access-Control-Allow-Origin") != "" || denied.Status == http.StatusNoContent {
		t.Fatalf("preflight from another origin: %d %v", denied.Status, denied.Header)
	}
}
