package test_raftstore

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	runtimemetrics "runtime/metrics"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// BenchmarkRaftstorePut measures write throughput: 3 stores in this process
// (badger on disk), TINYKV_BENCH_CLIENTS clients (16 by default) putting
// 128-byte values as fast as they are acknowledged, for
// TINYKV_BENCH_SECONDS (10 by default). It ignores b.N: run it once with
//
//	go test ./kv/test_raftstore -run '^$' -bench BenchmarkRaftstorePut -benchtime 1x
//
// (make bench-raftstore CLIENTS=64). The network runs the harness's
// invariant checks as in the suites, unless TINYKV_BENCH_CHECKS=0 (they
// read raftdb for every append response and vote). It prints two lines:
//
//	raftstore: stores=3 clients=16 put_ops_per_sec=N p50_ms=X p99_ms=Y
//	raftstore-breakdown: queue_ms=... append_ms=... commit_ms=... apply_ms=... rest_ms=...
//
// The breakdown follows a put through the store (means, in ms): queue
// (router to the raft worker), append (proposed to in the leader's raft
// log on disk), commit (to the leader knowing it committed: the followers
// write and answer, the leader's next round takes the answers), apply (to
// answered: the kvdb write), rest (the client's latency minus those:
// routing, the client waking up). Then the engines: raftdb and kvdb write batches
// (mean time and batches per put; a raftdb write includes its fsync),
// kvdb fsyncs, and the raft workers: rounds per second, messages per
// round, time per Ready, and the network's messages and bytes per put.
// sched_wait is the mean time a goroutine of this process waited to run
// once runnable (runtime/metrics): what a loaded machine adds to each hop
// from one goroutine to another (client, raft workers, badger's writers).
func BenchmarkRaftstorePut(b *testing.B) {
	const stores, valueSize = 3, 128
	clients := benchClients(b)
	duration := benchDuration(b)
	cluster := NewTestCluster(stores, config.NewTestConfig())
	cluster.name = b.Name()
	cluster.Start()
	defer cluster.Shutdown()
	if cluster.LeaderOfRegion(cluster.GetRegion(nil).Id) == nil {
		b.Fatalf("no leader within %v", leaderWaitTimeout)
	}
	trans := cluster.transport()
	if os.Getenv("TINYKV_BENCH_CHECKS") == "0" {
		trans.checksOff.Store(true)
	}
	netBefore := trans.stats.delivered.Load()
	bytesBefore := trans.stats.bytes.Load()
	pathBefore := metrics.ReadWritePath()
	schedBefore := schedLatency()

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

	path := metrics.ReadWritePath().Sub(pathBefore)
	sched := schedLatency().sub(schedBefore)
	netMsgs := float64(trans.stats.delivered.Load() - netBefore)
	netBytes := float64(trans.stats.bytes.Load() - bytesBefore)

	var all []time.Duration
	var total time.Duration
	for _, l := range latencies {
		all = append(all, l...)
		for _, d := range l {
			total += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	puts := float64(len(all))
	opsPerSec := puts / elapsed.Seconds()
	p50, p99 := percentile(all, 0.50), percentile(all, 0.99)
	fmt.Printf("raftstore: stores=%d clients=%d put_ops_per_sec=%.0f p50_ms=%.1f p99_ms=%.1f\n",
		stores, clients, opsPerSec, ms(p50), ms(p99))
	var mean, stages time.Duration
	if len(all) > 0 {
		mean = total / time.Duration(len(all))
	}
	for _, s := range path.Stages {
		stages += s.Mean()
	}
	fmt.Printf("raftstore-breakdown: queue_ms=%.2f append_ms=%.2f commit_ms=%.2f apply_ms=%.2f rest_ms=%.2f"+
		" raftdb_write_ms=%.2f raftdb_writes_per_put=%.2f kvdb_write_ms=%.2f kvdb_writes_per_put=%.2f kvdb_sync_ms=%.2f kvdb_syncs=%d"+
		" rounds_per_sec=%.0f msgs_per_round=%.1f ready_ms=%.2f net_msgs_per_put=%.2f net_bytes_per_put=%.0f"+
		" sched_wait_ms=%.3f checks=%t\n",
		ms(path.Stages[0].Mean()), ms(path.Stages[1].Mean()), ms(path.Stages[2].Mean()), ms(path.Stages[3].Mean()), ms(mean-stages),
		ms(path.RaftWrite.Mean()), perPut(float64(path.RaftWrite.Count), puts), ms(path.KVWrite.Mean()), perPut(float64(path.KVWrite.Count), puts),
		ms(path.KVSync.Mean()), path.KVSync.Count,
		path.Rounds/elapsed.Seconds(), perPut(path.RoundMsgs, path.Rounds), ms(path.Ready.Mean()),
		perPut(netMsgs, puts), perPut(netBytes, puts), ms(sched.mean()), !trans.checksOff.Load())
	b.ReportMetric(opsPerSec, "puts/s")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
}

// schedHist is a reading of the Go scheduler's latency histogram.
type schedHist struct {
	counts  []uint64
	buckets []float64
}

func schedLatency() schedHist {
	sample := []runtimemetrics.Sample{{Name: "/sched/latencies:seconds"}}
	runtimemetrics.Read(sample)
	if sample[0].Value.Kind() != runtimemetrics.KindFloat64Histogram {
		return schedHist{}
	}
	h := sample[0].Value.Float64Histogram()
	return schedHist{counts: append([]uint64(nil), h.Counts...), buckets: h.Buckets}
}

// sub is the histogram of the waits since earlier.
func (h schedHist) sub(earlier schedHist) schedHist {
	d := schedHist{counts: append([]uint64(nil), h.counts...), buckets: h.buckets}
	for i := range d.counts {
		if i < len(earlier.counts) {
			d.counts[i] -= earlier.counts[i]
		}
	}
	return d
}

// mean is the mean wait, each bucket counted at its middle (its lower
// bound for the last, unbounded one).
func (h schedHist) mean() time.Duration {
	var n uint64
	var sum float64
	for i, c := range h.counts {
		lo, hi := h.buckets[i], h.buckets[i+1]
		mid := (lo + hi) / 2
		if math.IsInf(hi, 1) {
			mid = lo
		}
		if math.IsInf(lo, -1) {
			mid = hi
		}
		n += c
		sum += float64(c) * mid
	}
	if n == 0 {
		return 0
	}
	return time.Duration(sum / float64(n) * float64(time.Second))
}

func benchClients(b *testing.B) int {
	env := os.Getenv("TINYKV_BENCH_CLIENTS")
	if env == "" {
		return 16
	}
	n, err := strconv.Atoi(env)
	if err != nil || n <= 0 {
		b.Fatalf("TINYKV_BENCH_CLIENTS=%q is not a positive number of clients", env)
	}
	return n
}

// perPut is n/puts, 0 without puts.
func perPut(n, puts float64) float64 {
	if puts == 0 {
		return 0
	}
	return n / puts
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
