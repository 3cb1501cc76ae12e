package test_raftstore

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"runtime"
	runtimemetrics "runtime/metrics"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Connor1996/badger/fileutil"
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
//	raftstore: stores=3 clients=16 procs=P put_ops_per_sec=N p50_ms=X p99_ms=Y
//	raftstore-breakdown: queue_ms=... append_ms=... commit_ms=... apply_ms=... rest_ms=...
//
// The breakdown follows a put through the store (means, in ms): queue
// (router to the raft worker), append (proposed to in the leader's raft
// log on disk), commit (to the leader knowing it committed: the followers
// write and answer, the leader's next round takes the answers), apply (to
// answered: the kvdb write), rest (the client's latency minus those:
// routing, the client waking up). Then the engines: raftdb and kvdb write
// batches (mean time and batches per put, a synced write including its
// fsync), their fsyncs (raftdb defers those of raft states that only move
// the commit index, kvdb those of apply batches), and the raft workers: rounds per second, messages per
// round, time per Ready, and the network's messages and bytes per put.
// sched_wait is the mean time a goroutine of this process waited to run
// once runnable (runtime/metrics): what a loaded machine adds to each hop
// from one goroutine to another (client, raft workers, badger's writers).
//
// The disk_ fields say what the disk itself gives, measured before the
// run in the temp directory (where the engines go): 4 KiB appends each
// followed by fdatasync, by one writer, then by one writer per store at
// once (what the stores' raft logs ask of it), and the longest sync of
// those. Three stores in one process share one disk and its budget of
// syncs, where three servers would have a disk each. TMPDIR=/dev/shm puts
// the engines in memory: what the code does when the disk is no limit.
//
// The three stores share this process, so unless GOMAXPROCS is set in the
// environment the benchmark gives it the Ps (runtime.GOMAXPROCS) that three
// server processes would have together, stores × CPUs (procs= in the first
// line). With only the CPUs' worth, a store in an fsync keeps its P: the
// runtime's sysmon takes it back only once it has seen the same syscall at
// two of its ticks, 20 µs to 10 ms apart. Two stores syncing at once on two
// cores then stall every other goroutine: the answered clients waited
// ~0.9 ms to run, more than a whole raft round. Three server processes on
// this machine would have two Ps each.
func BenchmarkRaftstorePut(b *testing.B) {
	const stores, valueSize = 3, 128
	if os.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(stores * runtime.NumCPU()))
	}
	clients := benchClients(b)
	duration := benchDuration(b)
	alone, together := measureDiskSyncs(b, 1), measureDiskSyncs(b, stores)
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
	fmt.Printf("raftstore: stores=%d clients=%d procs=%d put_ops_per_sec=%.0f p50_ms=%.1f p99_ms=%.1f\n",
		stores, clients, runtime.GOMAXPROCS(0), opsPerSec, ms(p50), ms(p99))
	var mean, stages time.Duration
	if len(all) > 0 {
		mean = total / time.Duration(len(all))
	}
	for _, s := range path.Stages {
		stages += s.Mean()
	}
	fmt.Printf("raftstore-breakdown: queue_ms=%.2f append_ms=%.2f commit_ms=%.2f apply_ms=%.2f rest_ms=%.2f"+
		" raftdb_write_ms=%.2f raftdb_writes_per_put=%.2f raftdb_sync_ms=%.2f raftdb_syncs_per_put=%.2f"+
		" kvdb_write_ms=%.2f kvdb_writes_per_put=%.2f kvdb_sync_ms=%.2f kvdb_syncs=%d"+
		" rounds_per_sec=%.0f msgs_per_round=%.1f ready_ms=%.2f net_msgs_per_put=%.2f net_bytes_per_put=%.0f"+
		" sched_wait_ms=%.3f disk_syncs_per_sec=%.0f disk_syncs_per_sec_%d_at_once=%.0f disk_worst_sync_ms_%d_at_once=%.1f checks=%t\n",
		ms(path.Stages[0].Mean()), ms(path.Stages[1].Mean()), ms(path.Stages[2].Mean()), ms(path.Stages[3].Mean()), ms(mean-stages),
		ms(path.RaftWrite.Mean()), perPut(float64(path.RaftWrite.Count), puts), ms(path.RaftSync.Mean()), perPut(float64(path.RaftSync.Count), puts),
		ms(path.KVWrite.Mean()), perPut(float64(path.KVWrite.Count), puts),
		ms(path.KVSync.Mean()), path.KVSync.Count,
		path.Rounds/elapsed.Seconds(), perPut(path.RoundMsgs, path.Rounds), ms(path.Ready.Mean()),
		perPut(netMsgs, puts), perPut(netBytes, puts), ms(sched.mean()), alone.perSec, stores, together.perSec, stores, ms(together.worst), !trans.checksOff.Load())
	b.ReportMetric(opsPerSec, "puts/s")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
}

// diskSyncs is what the disk gave writers appending 4 KiB and calling
// fdatasync in a loop, each on its own file.
type diskSyncs struct {
	perSec float64       // syncs per second, all writers together
	worst  time.Duration // the longest append and sync
}

// measureDiskSyncs runs writers such writers for a second in a fresh
// directory under the temp directory, where the cluster's engines go.
func measureDiskSyncs(b *testing.B, writers int) diskSyncs {
	dir, err := os.MkdirTemp("", "tinykv-bench-disk")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var mu sync.Mutex
	var syncs int
	var worst time.Duration
	errs := make(chan error, writers)
	start := time.Now()
	deadline := start.Add(time.Second)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			f, err := os.Create(fmt.Sprintf("%s/%d", dir, w))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			block := make([]byte, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := f.Write(block); err != nil {
					errs <- err
					return
				}
				if err := fileutil.Fdatasync(f); err != nil {
					errs <- err
					return
				}
				took := time.Since(t0)
				mu.Lock()
				syncs++
				if took > worst {
					worst = took
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("measure the disk's syncs in %s: %v", dir, err)
	}
	return diskSyncs{perSec: float64(syncs) / time.Since(start).Seconds(), worst: worst}
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
