package main

// Benchmarks of the real tinyscheduler-server binary over gRPC (make
// bench-scheduler builds bin/ and runs them):
//
//	go test ./scheduler -run '^$' -bench '^BenchmarkScheduler' -benchtime 1x
//
// Each prints one summary line with the scheduler process's resident memory.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	benchBin     = flag.String("bin", "../bin/tinyscheduler-server", "the tinyscheduler-server binary the benchmarks run")
	benchRounds  = flag.Int("hb-rounds", 10, "heartbeat rounds over every region")
	benchTSO     = flag.Int("tso-count", 2_000_000, "timestamps the TSO benchmark asks for")
	benchCallers = flag.Int("tso-callers", 1024, "goroutines asking for timestamps at once")
)

const (
	benchRegions = 10000
	benchStores  = 5
)

// runScheduler starts the binary on free ports and returns its client URL
// and pid; it is killed when the benchmark ends.
func runScheduler(b *testing.B) (string, int) {
	b.Helper()
	bin, err := filepath.Abs(*benchBin)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%v: build it first (make scheduler) or pass -bin", err)
	}
	dir := b.TempDir()
	urls := loopbackURLs(b, 2)
	clientURL := urls[0]
	cmd := exec.Command(bin, "-data-dir", filepath.Join(dir, "data"), "-client-urls", clientURL,
		"-peer-urls", urls[1], "-L", "warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b.Failed() {
			b.Logf("scheduler stderr:\n%s", stderr.String())
		}
	})
	return clientURL, cmd.Process.Pid
}

// rssMiB reads a process's resident memory.
func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}

// BenchmarkSchedulerRegionHeartbeat: 10,000 regions with 3 peers on 5
// stores, each store sending the heartbeats of the regions it leads on its
// own RegionHeartbeat stream, every heartbeat changing the region's size (so
// each one updates the cache). A round ends when the scheduler shows the
// last heartbeat of every stream.
func BenchmarkSchedulerRegionHeartbeat(b *testing.B) {
	url, pid := runScheduler(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := client.New([]string{url}, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cid, err := c.ClusterID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	first := &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 1, StoreId: 1}}}
	if _, err := c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:30001"}, first); err != nil {
		b.Fatal(err)
	}
	for s := uint64(2); s <= benchStores; s++ {
		if err := c.PutStore(ctx, &metapb.Store{Id: s, Address: fmt.Sprintf("127.0.0.1:%d", 30000+s)}); err != nil {
			b.Fatal(err)
		}
	}
	// Region i covers [k(i), k(i+1)); region 1 covers everything before k(2).
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%08d", i)) }
	perStore := make([][]*schedulerpb.RegionHeartbeatRequest, benchStores+1)
	for i := 1; i <= benchRegions; i++ {
		id := uint64(i)
		r := &metapb.Region{Id: id, RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2}}
		if i > 1 {
			r.StartKey = key(i)
		}
		r.EndKey = key(i + 1)
		for k := uint64(0); k < 3; k++ {
			store := (id+k)%benchStores + 1
			r.Peers = append(r.Peers, &metapb.Peer{Id: id*10 + store, StoreId: store})
		}
		leader := r.Peers[0]
		perStore[leader.StoreId] = append(perStore[leader.StoreId], &schedulerpb.RegionHeartbeatRequest{
			Header: &schedulerpb.RequestHeader{ClusterId: cid}, Region: r, Leader: leader,
		})
	}
	// Each stream ends a round with its sentinel region, whose version goes
	// up every round: once the scheduler shows it, the stream's round is in.
	sentinels := make([]*metapb.Region, benchStores+1)
	for s := uint64(1); s <= benchStores; s++ {
		id := uint64(benchRegions) + s
		sentinels[s] = &metapb.Region{
			Id: id, StartKey: []byte(fmt.Sprintf("z%d", s)), EndKey: []byte(fmt.Sprintf("z%d~", s)),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
			Peers:       []*metapb.Peer{{Id: id * 10, StoreId: s}},
		}
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sched := schedulerpb.NewSchedulerClient(conn)
	streams := make([]schedulerpb.Scheduler_RegionHeartbeatClient, benchStores+1)
	for s := 1; s <= benchStores; s++ {
		if streams[s], err = sched.RegionHeartbeat(ctx); err != nil {
			b.Fatal(err)
		}
		go func(st schedulerpb.Scheduler_RegionHeartbeatClient) {
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
			}
		}(streams[s])
	}
	version := uint64(1)
	round := func(size uint64) time.Duration {
		version++
		start := time.Now()
		var wg sync.WaitGroup
		for s := 1; s <= benchStores; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for _, req := range perStore[s] {
					req.ApproximateSize = size
					if err := streams[s].Send(req); err != nil {
						b.Errorf("store %d: send: %v", s, err)
						return
					}
				}
				sentinels[s].RegionEpoch.Version = version
				err := streams[s].Send(&schedulerpb.RegionHeartbeatRequest{Header: &schedulerpb.RequestHeader{ClusterId: cid},
					Region: sentinels[s], Leader: sentinels[s].Peers[0]})
				if err != nil {
					b.Errorf("store %d: send: %v", s, err)
				}
			}(s)
		}
		wg.Wait()
		for s := 1; s <= benchStores; s++ {
			for {
				r, _, err := c.GetRegionByID(ctx, sentinels[s].Id)
				if err != nil {
					b.Fatal(err)
				}
				if r.GetRegionEpoch().GetVersion() == version {
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		return time.Since(start)
	}
	// The first round fills the cache (and etcd); the measured rounds update it.
	warm := round(1 << 20)
	b.ResetTimer()
	var total time.Duration
	for r := 0; r < *benchRounds; r++ {
		total += round(uint64(2<<20 + r))
	}
	b.StopTimer()
	n := (benchRegions + benchStores) * *benchRounds
	perSec := float64(n) / total.Seconds()
	b.ReportMetric(perSec, "heartbeats/s")
	fmt.Printf("\nscheduler-grpc: regions=%d stores=%d streams=%d heartbeats=%d heartbeats_per_sec=%.0f first_round=%v scheduler_rss_mib=%.0f\n",
		benchRegions, benchStores, benchStores, n, perSec, warm.Round(time.Millisecond), rssMiB(pid))
}

// BenchmarkSchedulerTSO: many goroutines ask one client for timestamps; the
// client batches them into requests on one Tso stream.
func BenchmarkSchedulerTSO(b *testing.B) {
	url, pid := runScheduler(b)
	c, err := client.New([]string{url}, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c.GetTS(ctx); err != nil {
		b.Fatal(err)
	}
	callers, each := *benchCallers, *benchTSO / *benchCallers
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for i := 0; i < each; i++ {
				ts, err := c.GetTS(ctx)
				if err == nil && ts <= last {
					err = fmt.Errorf("timestamp %d after %d", ts, last)
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				last = ts
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	n := callers * each
	perSec := float64(n) / elapsed.Seconds()
	b.ReportMetric(perSec, "timestamps/s")
	fmt.Printf("\nscheduler-tso: timestamps=%d callers=%d streams=1 timestamps_per_sec=%.0f scheduler_rss_mib=%.0f\n",
		n, callers, perSec, rssMiB(pid))
}
