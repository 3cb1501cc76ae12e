package test_raftstore

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// BenchmarkRaftstorePut measures write throughput: 3 stores in this process
// (badger on disk), 16 clients putting 128-byte values as fast as they are
// acknowledged, for TINYKV_BENCH_SECONDS (10 by default). It ignores b.N:
// run it once with
//
//	go test ./kv/test_raftstore -run '^$' -bench BenchmarkRaftstorePut -benchtime 1x
//
// It prints one line:
//
//	raftstore: stores=3 clients=16 put_ops_per_sec=N p50_ms=X p99_ms=Y
func BenchmarkRaftstorePut(b *testing.B) {
	const stores, clients, valueSize = 3, 16, 128
	duration := benchDuration(b)
	cluster := NewTestCluster(stores, config.NewTestConfig())
	cluster.name = b.Name()
	cluster.Start()
	defer cluster.Shutdown()
	if cluster.LeaderOfRegion(cluster.GetRegion(nil).Id) == nil {
		b.Fatalf("no leader within %v", leaderWaitTimeout)
	}

	b.ResetTimer()
	latencies := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for cli := 0; cli < clients; cli++ {
		wg.Add(1)
		go func(cli int) {
			defer wg.Done()
			value := make([]byte, valueSize)
			rng := rand.New(rand.NewSource(int64(cli)))
			for i := 0; time.Now().Before(deadline); i++ {
				rng.Read(value)
				key := []byte(fmt.Sprintf("bench-%02d-%010d", cli, i))
				t0 := time.Now()
				if _, err := cluster.request(key, []*raft_cmdpb.Request{NewPutCfCmd(engine_util.CfDefault, key, value)}, cluster.requestTimeout); err != nil {
					errs <- fmt.Errorf("client %d: %v", cli, err)
					return
				}
				latencies[cli] = append(latencies[cli], time.Since(t0))
			}
		}(cli)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	opsPerSec := float64(len(all)) / elapsed.Seconds()
	p50, p99 := percentile(all, 0.50), percentile(all, 0.99)
	fmt.Printf("raftstore: stores=%d clients=%d put_ops_per_sec=%.0f p50_ms=%.1f p99_ms=%.1f\n",
		stores, clients, opsPerSec, ms(p50), ms(p99))
	b.ReportMetric(opsPerSec, "puts/s")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
}

func benchDuration(b *testing.B) time.Duration {
	env := os.Getenv("TINYKV_BENCH_SECONDS")
	if env == "" {
		return 10 * time.Second
	}
	secs, err := strconv.ParseFloat(env, 64)
	if err != nil || secs <= 0 {
		b.Fatalf("TINYKV_BENCH_SECONDS=%q is not a positive number of seconds", env)
	}
	return time.Duration(secs * float64(time.Second))
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
