package schedule

// Region heartbeats through the scheduler's model and the operator
// controller, in one goroutine, without gRPC or etcd: 10,000 regions with 3
// peers on 5 stores, 1% of them running an operator whose step is re-sent
// on each of their heartbeats. Each heartbeat is what the server does with
// one: make a RegionInfo of the request, compare it with the cached region
// and the regions it overlaps, put it into core.BasicCluster (store counters
// kept in step), and ask the coordinator for the step to send back. Run it
// with (make bench-scheduler does):
//
//	go test ./scheduler/server/schedule -run '^$' -bench '^BenchmarkRegionHeartbeat$' -benchtime 200000x
//
// It prints one line:
//
//	scheduler: regions=10000 stores=5 heartbeats_per_sec=N ns_per_heartbeat=M steps_sent=K allocs_per_heartbeat=A

import (
	"bytes"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

const (
	benchRegions = 10000
	benchStores  = 5
	// one region in benchOperatorEvery runs an operator
	benchOperatorEvery = 100
)

// benchHeartbeat takes one heartbeat the way the server does; it reports
// whether a step went back.
func benchHeartbeat(mc *mockcluster.Cluster, c *Coordinator, req *schedulerpb.RegionHeartbeatRequest) (bool, error) {
	region := core.RegionFromHeartbeat(req)
	if origin := mc.GetRegion(region.GetID()); origin != nil {
		o, n := origin.GetRegionEpoch(), region.GetRegionEpoch()
		if n.GetVersion() < o.GetVersion() || n.GetConfVer() < o.GetConfVer() {
			return false, fmt.Errorf("region %d: stale heartbeat epoch %v, cached %v", region.GetID(), n, o)
		}
	}
	for _, overlap := range mc.GetOverlaps(region) {
		if overlap.GetID() != region.GetID() && overlap.GetRegionEpoch().GetVersion() > region.GetRegionEpoch().GetVersion() {
			return false, fmt.Errorf("region %d: overlaps newer region %d", region.GetID(), overlap.GetID())
		}
	}
	mc.PutRegion(region)
	return c.OnRegionHeartbeat(region) != nil, nil
}

func BenchmarkRegionHeartbeat(b *testing.B) {
	mc := mockcluster.New()
	for id := uint64(1); id <= benchStores; id++ {
		mc.AddStore(id)
	}
	reqs := make([]*schedulerpb.RegionHeartbeatRequest, benchRegions)
	for i := range reqs {
		id := uint64(i + 1)
		s := func(k uint64) uint64 { return (id+k)%benchStores + 1 }
		region := mc.AddRegion(id, 1<<20, s(0), s(1), s(2))
		reqs[i] = &schedulerpb.RegionHeartbeatRequest{
			Region: region.GetMeta(), Leader: region.GetLeader(), ApproximateSize: 1 << 20,
		}
	}
	c := NewCoordinator(mc, nil)
	for i := 0; i < benchRegions; i += benchOperatorEvery {
		region := mc.GetRegion(uint64(i + 1))
		target := region.GetFollower().GetStoreId()
		op := CreateTransferLeaderOperator("bench", region, region.GetLeader().GetStoreId(), target, OpBalance)
		op.SetTimeout(time.Hour)
		if !c.GetOperatorController().AddOperator(op) {
			b.Fatalf("operator refused: %v", op)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sent := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req := reqs[i%benchRegions]
		req.ApproximateSize = 1<<20 + uint64(i%1024)
		stepSent, err := benchHeartbeat(mc, c, req)
		if err != nil {
			b.Fatal(err)
		}
		if stepSent {
			sent++
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perSec := float64(b.N) / elapsed.Seconds()
	allocs := float64(after.Mallocs-before.Mallocs) / float64(b.N)
	b.ReportMetric(perSec, "heartbeats/s")
	b.ReportMetric(allocs, "allocs/heartbeat")
	if lastBenchRun(b, elapsed) {
		fmt.Printf("\nscheduler: regions=%d stores=%d heartbeats_per_sec=%.0f ns_per_heartbeat=%d steps_sent=%d allocs_per_heartbeat=%.1f\n",
			benchRegions, benchStores, perSec, elapsed.Nanoseconds()/int64(b.N), sent, allocs)
	}
	checkBenchStores(b, mc)
}

// checkBenchStores makes sure the benchmark measured real work: every
// store's counters still add up.
func checkBenchStores(b *testing.B, mc *mockcluster.Cluster) {
	total := 0
	for _, s := range mc.GetStores() {
		total += s.GetRegionCount()
	}
	if total != 3*benchRegions {
		b.Fatalf("store region counts add up to %d, want %d", total, 3*benchRegions)
	}
	if r := mc.SearchRegion(mockcluster.RegionKey(42)); r == nil || !bytes.Equal(r.GetStartKey(), mockcluster.RegionKey(42)) {
		b.Fatalf("region tree lost region 42: %v", r)
	}
}

// lastBenchRun reports whether this run is the one the testing package
// keeps (b.N reached -benchtime Nx, or the run lasted -benchtime), so that
// the summary line is printed once.
func lastBenchRun(b *testing.B, elapsed time.Duration) bool {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return true
	}
	if n, ok := strings.CutSuffix(f.Value.String(), "x"); ok {
		want, err := strconv.Atoi(n)
		return err != nil || b.N == want
	}
	d, err := time.ParseDuration(f.Value.String())
	return err != nil || elapsed >= d
}
