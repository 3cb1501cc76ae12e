package server

import (
	"context"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// TestStoreClientBeforeSchedulerAndAcrossRestart: the store's client is
// made, and asked for an id, before the scheduler is up; the call goes
// through once it is. After the scheduler restarts, the heartbeat stream
// is opened again on its own.
func TestStoreClientBeforeSchedulerAndAcrossRestart(t *testing.T) {
	m := &member{cfg: newMemberConfigs(t, t.TempDir(), 1)[0]}
	sc, err := scheduler_client.NewClient([]string{m.clientURL()}, client.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := sc.AllocID(ctx)
		got <- err
	}()
	time.Sleep(300 * time.Millisecond)
	m.start(t)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("AllocID asked before the scheduler was up: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("AllocID asked before the scheduler was up did not return within 20s of its start")
	}
	if id := sc.GetClusterID(ctx); id != m.srv.ClusterID() {
		t.Fatalf("GetClusterID: %d, want %d", id, m.srv.ClusterID())
	}
	r := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	if resp, err := sc.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:20161"}, r); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("Bootstrap: %v, %v", resp, err)
	}
	heartbeatUntil := func(what string, cond func(*RaftCluster) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if err := sc.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: r, Leader: r.Peers[0], ApproximateSize: 7 << 20}); err != nil {
				t.Fatal(err)
			}
			if l := m.srv.getLeadership(); l != nil && l.getCluster() != nil && cond(l.getCluster()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("heartbeats through the store client: %s did not happen within 15s", what)
	}
	hasLeader := func(c *RaftCluster) bool { return c.GetRegion(2).GetLeader().GetId() == 3 }
	heartbeatUntil("the region's leader known", hasLeader)
	m.stop()
	m.start(t)
	waitLeader(t, m)
	heartbeatUntil("the region's leader known after the scheduler restarted", hasLeader)
}
