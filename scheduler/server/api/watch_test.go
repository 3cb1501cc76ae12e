package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestStoreStatesFollowHeartbeats: with store-disconnect-time 1s and
// max-store-down-time 3s, a store that stops sending heartbeats shows as
// Disconnected, then Down, in /stores, in the tinyscheduler_stores gauge
// and in the events, and as Up again once it sends one; a store that keeps
// sending stays Up throughout.
func TestStoreStatesFollowHeartbeats(t *testing.T) {
	_, base := startScheduler(t, func(cfg *config.Config) {
		cfg.Schedule.StoreDisconnectTime = config.Duration{Duration: time.Second}
		cfg.Schedule.MaxStoreDownTime = config.Duration{Duration: 3 * time.Second}
	})
	api := base + Prefix
	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cli := schedulerpb.NewSchedulerClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	members, err := cli.GetMembers(ctx, &schedulerpb.GetMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := &schedulerpb.RequestHeader{ClusterId: members.GetHeader().GetClusterId()}
	first := &metapb.Region{Id: 10, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{peer(11, 1)}}
	if resp, err := cli.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: hdr, Store: &metapb.Store{Id: 1, Address: "127.0.0.1:1"}, Region: first}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("bootstrap: %v %v", err, resp.GetHeader().GetError())
	}
	if resp, err := cli.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: hdr, Store: &metapb.Store{Id: 2, Address: "127.0.0.1:2"}}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("put store 2: %v %v", err, resp.GetHeader().GetError())
	}
	heartbeat := func(id uint64) {
		t.Helper()
		resp, err := cli.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: hdr, Stats: &schedulerpb.StoreStats{StoreId: id}})
		if err != nil || resp.GetHeader().GetError() != nil {
			t.Fatalf("store heartbeat %d: %v %v", id, err, resp.GetHeader().GetError())
		}
	}
	heartbeat(1)
	heartbeat(2)
	events := observe.Events(0)
	after := uint64(0)
	if len(events) > 0 {
		after = events[len(events)-1].Seq
	}

	// waitState sends store 1's heartbeats (and store 2's when it is to
	// be Up) until store 2 shows as want everywhere (the gauge counts
	// store 1 too when want is Up), and checks store 1 stays Up meanwhile.
	waitState := func(want string, kind observe.EventKind, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		wantGauge := 1.0
		if want == "Up" {
			wantGauge = 2
		}
		for {
			heartbeat(1)
			if want == "Up" {
				heartbeat(2)
			}
			var ss Stores
			getJSON(t, api+"stores", http.StatusOK, &ss)
			got := map[uint64]string{}
			for _, s := range ss.Stores {
				got[s.Store.ID] = s.Store.StateName
			}
			if got[1] != "Up" {
				t.Fatalf("store 1 sends a heartbeat every 200ms, yet shows as %q", got[1])
			}
			gauge := value(scrape(t, base+"/metrics"), "tinyscheduler_stores", "state", strings.ToLower(want))
			event := false
			for _, e := range observe.Events(after) {
				event = event || e.StoreID == 2 && e.Kind == kind && strings.HasSuffix(strings.Split(e.Text, ",")[0], "→ "+want)
			}
			if got[2] == want && gauge == wantGauge && event {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("store 2, %.1fs after its last heartbeat: want it shown %s within %v with the gauge at %v and a %s event; shown %q, gauge %v, events %v",
					ss.Stores[1].Status.SinceHeartbeat, want, within, wantGauge, kind, got[2], gauge, observe.Events(after))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitState("Disconnected", observe.EventStoreDown, 10*time.Second)
	waitState("Down", observe.EventStoreDown, 10*time.Second)
	waitState("Up", observe.EventStoreUp, 5*time.Second)
}
