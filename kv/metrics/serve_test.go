package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The status server answers /metrics and Go's profiles.
func TestStatusServerServesMetricsAndProfiles(t *testing.T) {
	s, err := Serve("127.0.0.1:0")
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	defer s.Close()
	for path, want := range map[string]string{
		"/metrics":                       "tinykv_regions",
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "TestStatusServerServesMetricsAndProfiles",
	} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: status %d, %d bytes (%v), want 200 and a body with %q", path, resp.StatusCode, len(body), err, want)
		}
	}
}
