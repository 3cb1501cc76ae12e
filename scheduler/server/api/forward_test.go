package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
)

// TestNonLeaderForwards runs two members: the one that does not lead
// answers the API from the leader, says who leads in its health, and
// refuses a request forwarded to it (no forwarding loops).
func TestNonLeaderForwards(t *testing.T) {
	dir := t.TempDir()
	var cfgs []*config.Config
	var initial []string
	urls := loopbackURLs(t, 4)
	for i := 0; i < 2; i++ {
		cfg := config.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i+1)
		cfg.DataDir = fmt.Sprintf("%s/m%d", dir, i+1)
		cfg.ClientUrls, cfg.PeerUrls = urls[2*i], urls[2*i+1]
		cfg.LeaderLease = 1
		initial = append(initial, cfg.Name+"="+cfg.PeerUrls)
		cfgs = append(cfgs, cfg)
	}
	srvs := make([]*server.Server, 2)
	errs := make(chan error, 2)
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		srv, err := server.CreateServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv.SetHTTPHandlers(Handlers(srv))
		srvs[i] = srv
		t.Cleanup(srv.Close)
		go func() { errs <- srv.Run() }() // each waits for the other to join
	}
	for range srvs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var leader, follower int
	deadline := time.Now().Add(20 * time.Second)
	for {
		if srvs[0].IsLeader() {
			leader, follower = 0, 1
			break
		}
		if srvs[1].IsLeader() {
			leader, follower = 1, 0
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no member led within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fURL := cfgs[follower].ClientUrls + Prefix

	var h Health
	getJSON(t, fURL+"health", http.StatusOK, &h)
	if h.IsLeader || h.Leader == nil || h.Leader.Name != cfgs[leader].Name || len(h.Members) != 2 {
		t.Fatalf("health of the follower %s: %+v, want not leader, leader %s, 2 members", cfgs[follower].Name, h, cfgs[leader].Name)
	}
	// The cluster is not bootstrapped: the leader's answer, forwarded,
	// names the leader.
	var e Error
	getJSON(t, fURL+"stores", http.StatusServiceUnavailable, &e)
	if !strings.Contains(e.Error, "scheduler "+cfgs[leader].Name+":") || !strings.Contains(e.Error, "not bootstrapped") {
		t.Fatalf("stores from the follower: %q, want the leader %s's answer (not bootstrapped)", e.Error, cfgs[leader].Name)
	}
	req, err := http.NewRequest(http.MethodGet, fURL+"regions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(forwardedHeader, "elsewhere")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var refused Error
	if err := json.NewDecoder(resp.Body).Decode(&refused); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(refused.Error, "is not the leader (request forwarded by elsewhere)") {
		t.Fatalf("a forwarded request to the follower: status %d %q, want 503 saying it is not the leader (it must not forward again)", resp.StatusCode, refused.Error)
	}
}
