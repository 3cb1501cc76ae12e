package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// loopbackURLs returns n distinct http URLs on 127.0.0.1 whose ports were
// free a moment ago; the listeners stay open until all n are chosen, so no
// port is handed out twice.
func loopbackURLs(t *testing.T, n int) []string {
	t.Helper()
	var urls []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer l.Close()
		urls = append(urls, "http://"+l.Addr().String())
	}
	return urls
}

// startScheduler runs a one-member scheduler with the API and waits until
// it leads; it returns the server and its client URL. The options change
// the configuration before the server is made.
func startScheduler(t *testing.T, opts ...func(*config.Config)) (*server.Server, string) {
	t.Helper()
	cfg := config.NewConfig()
	cfg.Name = "api"
	cfg.DataDir = t.TempDir()
	urls := loopbackURLs(t, 2)
	cfg.ClientUrls, cfg.PeerUrls = urls[0], urls[1]
	cfg.InitialCluster = "api=" + cfg.PeerUrls
	cfg.LeaderLease = 1
	for _, opt := range opts {
		opt(cfg)
	}
	srv, err := server.CreateServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetHTTPHandlers(Handlers(srv))
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	deadline := time.Now().Add(15 * time.Second)
	for !srv.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not lead within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv, cfg.ClientUrls
}

// getJSON fetches url, checks the status code and decodes the body into v.
func getJSON(t *testing.T, url string, code int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: status %d, want %d; body %s", url, resp.StatusCode, code, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q, want application/json", url, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: body is not the expected JSON: %v\n%s", url, err, body)
	}
}

// scrape reads url's Prometheus text.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not Prometheus text: %v", url, err)
	}
	return fams
}

// value is the value of the family's sample with the given labels
// (name=value pairs); -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return m.GetHistogram().GetSampleSum()
		}
	}
	return -1
}

func peer(id, store uint64) *metapb.Peer { return &metapb.Peer{Id: id, StoreId: store} }

// TestAPIAndMetrics puts a scheduler in a known state over gRPC (three
// stores, two regions with leaders on stores 2 and 3, one stale
// heartbeat, ten timestamps) and checks what the API and /metrics say.
func TestAPIAndMetrics(t *testing.T) {
	_, base := startScheduler(t)
	api := base + Prefix

	before := scrape(t, base+"/metrics")
	var h Health
	getJSON(t, api+"health", http.StatusOK, &h)
	if !h.Healthy || !h.IsLeader || h.Bootstrapped || h.Leader == nil || h.Leader.Name != "api" || len(h.Members) != 1 {
		t.Fatalf("health of a lone unbootstrapped leader: %+v", h)
	}
	var e Error
	getJSON(t, api+"stores", http.StatusServiceUnavailable, &e)
	if !strings.Contains(e.Error, "not bootstrapped") {
		t.Fatalf("stores before bootstrap: error %q, want it to say not bootstrapped", e.Error)
	}

	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cli := schedulerpb.NewSchedulerClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	members, err := cli.GetMembers(ctx, &schedulerpb.GetMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := &schedulerpb.RequestHeader{ClusterId: members.GetHeader().GetClusterId()}
	stores := []*metapb.Store{{Id: 1, Address: "127.0.0.1:1"}, {Id: 2, Address: "127.0.0.1:2"}, {Id: 3, Address: "127.0.0.1:3"}}
	first := &metapb.Region{Id: 10, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{peer(11, 1)}}
	if resp, err := cli.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: hdr, Store: stores[0], Region: first}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("bootstrap: %v %v", err, resp.GetHeader().GetError())
	}
	for _, s := range stores[1:] {
		if resp, err := cli.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: hdr, Store: s}); err != nil || resp.GetHeader().GetError() != nil {
			t.Fatalf("put store %d: %v %v", s.Id, err, resp.GetHeader().GetError())
		}
	}
	for _, s := range stores {
		stats := &schedulerpb.StoreStats{StoreId: s.Id, Capacity: 1000 * s.Id, Available: 600, UsedSize: 100 * s.Id, SendingSnapCount: uint32(s.Id)}
		if resp, err := cli.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: hdr, Stats: stats}); err != nil || resp.GetHeader().GetError() != nil {
			t.Fatalf("store heartbeat %d: %v %v", s.Id, err, resp.GetHeader().GetError())
		}
	}
	left := &metapb.Region{Id: 10, EndKey: []byte("m\x00"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2},
		Peers: []*metapb.Peer{peer(11, 1), peer(12, 2), peer(13, 3)}}
	right := &metapb.Region{Id: 20, StartKey: []byte("m\x00"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2},
		Peers: []*metapb.Peer{peer(21, 1), peer(22, 2), peer(23, 3)}}
	stale := &metapb.Region{Id: 20, StartKey: []byte("m\x00"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 1},
		Peers: right.Peers}
	stream, err := cli.RegionHeartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*schedulerpb.RegionHeartbeatRequest{
		{Header: hdr, Region: left, Leader: peer(12, 2), ApproximateSize: 3 << 20},
		{Header: hdr, Region: right, Leader: peer(23, 3), ApproximateSize: 1 << 20, PendingPeers: []*metapb.Peer{peer(21, 1)}},
		{Header: hdr, Region: stale, Leader: peer(21, 1)},
	} {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	tso, err := cli.Tso(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tso.Send(&schedulerpb.TsoRequest{Header: hdr, Count: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := tso.Recv(); err != nil {
		t.Fatal(err)
	}

	// Heartbeats are taken asynchronously: wait for the right region.
	var regions Regions
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, api+"regions", http.StatusOK, &regions)
		if regions.Count == 2 && regions.Regions[1].Leader != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions after the heartbeats: %+v, want regions 10 and 20 with leaders", regions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r0, r1 := regions.Regions[0], regions.Regions[1]
	if r0.ID != 10 || r0.StartKey != "" || r0.EndKey != "6D00" || r0.EndKeyText != `m\x00` || r0.Leader.StoreID != 2 ||
		r0.Size != 3<<20 || r0.Epoch != (Epoch{ConfVer: 3, Version: 2}) || len(r0.Peers) != 3 {
		t.Fatalf("first region: %+v, want region 10 [\"\", \"m\\x00\") leader on store 2, 3 MiB, epoch {3 2}, 3 peers", r0)
	}
	if r1.ID != 20 || r1.StartKeyText != `m\x00` || r1.EndKey != "" || r1.Leader.StoreID != 3 || len(r1.PendingPeers) != 1 || r1.PendingPeers[0].ID != 21 {
		t.Fatalf("second region: %+v, want region 20 from \"m\\x00\" leader on store 3, peer 21 pending", r1)
	}
	var one Region
	getJSON(t, api+"region/id/20", http.StatusOK, &one)
	if one.ID != 20 || one.Leader.ID != 23 {
		t.Fatalf("region/id/20: %+v", one)
	}
	getJSON(t, api+"region/key/zzz", http.StatusOK, &one)
	if one.ID != 20 {
		t.Fatalf("region/key/zzz: region %d, want 20", one.ID)
	}
	getJSON(t, api+"region/key/6c?format=hex", http.StatusOK, &one)
	if one.ID != 10 {
		t.Fatalf("region/key/6c?format=hex (\"l\"): region %d, want 10", one.ID)
	}
	for path, code := range map[string]int{
		"region/id/99": http.StatusNotFound, "region/id/x": http.StatusBadRequest, "region/id/0": http.StatusBadRequest,
		"region/key/zz?format=hex": http.StatusBadRequest, "store/9": http.StatusNotFound, "store/-1": http.StatusBadRequest,
		"nothing": http.StatusNotFound, "events?after=x": http.StatusBadRequest,
	} {
		var e Error
		getJSON(t, api+path, code, &e)
		if e.Error == "" {
			t.Fatalf("%s: status %d without an error message", path, code)
		}
	}

	var ss Stores
	getJSON(t, api+"stores", http.StatusOK, &ss)
	if ss.Count != 3 || len(ss.Stores) != 3 {
		t.Fatalf("stores: %+v, want 3", ss)
	}
	for i, s := range ss.Stores {
		id := uint64(i + 1)
		want := Store{Store: StoreMeta{ID: id, Address: fmt.Sprintf("127.0.0.1:%d", id), State: "Up", StateName: "Up"}}
		if s.Store != want.Store || s.Status.Capacity != 1000*id || s.Status.UsedSize != 100*id || s.Status.SendingSnapCount != uint32(id) ||
			s.Status.RegionCount != 2 || s.Status.SinceHeartbeat > 10 {
			t.Fatalf("store %d: %+v, want %+v with capacity %d, used %d, %d sending snapshots, 2 regions", id, s, want.Store, 1000*id, 100*id, id)
		}
	}
	if ss.Stores[1].Status.LeaderCount != 1 || ss.Stores[2].Status.LeaderCount != 1 || ss.Stores[0].Status.LeaderCount != 0 {
		t.Fatalf("leader counts: %d %d %d, want 0 1 1", ss.Stores[0].Status.LeaderCount, ss.Stores[1].Status.LeaderCount, ss.Stores[2].Status.LeaderCount)
	}
	var s2 Store
	getJSON(t, api+"store/2", http.StatusOK, &s2)
	if s2.Store.ID != 2 || s2.Status.LeaderCount != 1 {
		t.Fatalf("store/2: %+v", s2)
	}
	var ops Operators
	getJSON(t, api+"operators", http.StatusOK, &ops)
	if ops.Count != len(ops.Operators) {
		t.Fatalf("operators: count %d but %d listed", ops.Count, len(ops.Operators))
	}

	after := scrape(t, base+"/metrics")
	moved := func(name string, want float64, labels ...string) {
		t.Helper()
		b, a := value(before, name, labels...), value(after, name, labels...)
		if b < 0 {
			b = 0
		}
		if a-b != want {
			t.Fatalf("%s%v moved from %v to %v, want +%v", name, labels, b, a, want)
		}
	}
	moved("tinyscheduler_region_heartbeats_total", 2, "outcome", "ok")
	moved("tinyscheduler_region_heartbeats_total", 1, "outcome", "stale")
	moved("tinyscheduler_store_heartbeats_total", 3, "outcome", "ok")
	moved("tinyscheduler_tso_requests_total", 1)
	moved("tinyscheduler_tso_batch_size", 10)
	if v := value(after, "tinyscheduler_ids_allocated_total"); v < 0 {
		t.Fatalf("tinyscheduler_ids_allocated_total missing from /metrics")
	}
	if v := value(after, "tinyscheduler_stores", "state", "up"); v != 3 {
		t.Fatalf("tinyscheduler_stores{state=up} = %v, want 3", v)
	}
	if v := value(after, "tinyscheduler_regions", "state", "pending_peers"); v != 1 {
		t.Fatalf("tinyscheduler_regions{state=pending_peers} = %v, want 1", v)
	}
	if value(after, "etcd_server_has_leader") != 1 {
		t.Fatalf("etcd's own metrics are missing from /metrics (etcd_server_has_leader)")
	}
}
