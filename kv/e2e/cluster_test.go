package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// model is what the raw key space must hold.
type model map[string]string

func (m model) scan(start, end string, limit int) string {
	var keys []string
	for k := range m {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s,", k, m[k])
	}
	return b.String()
}

func pairsString(pairs []client.KvPair) string {
	var b strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&b, "%s=%s,", p.Key, p.Value)
	}
	return b.String()
}

// regions is the scheduler's list of regions, with their leaders.
func (tc *testCluster) regions() ([]*metapb.Region, []*metapb.Peer) {
	tc.t.Helper()
	regions, leaders, err := tc.sched.ScanRegions(ctx(tc.t, 10*time.Second), nil, nil, 10000)
	if err != nil {
		tc.t.Fatalf("scan regions: %v", err)
	}
	return regions, leaders
}

// TestBootstrapSplitAndScan: from empty data to one region with three
// replicas; writes through the client until small regions split; reads
// and scans across the regions, raw and transactional, against a model.
func TestBootstrapSplitAndScan(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 3, regionMaxSize: "12KiB", regionSplitSize: "8KiB"})
	tc.waitReplicas(3, time.Minute)
	toReplicas := time.Since(start)

	m := model{}
	value := strings.Repeat("v", 120)
	pairs := make([]client.KvPair, 0, 400)
	for i := 0; i < 400; i++ {
		k := fmt.Sprintf("key-%04d", (i*7919)%400) // not in key order
		v := fmt.Sprintf("%s-%d", value, i)
		pairs = append(pairs, client.KvPair{Key: []byte(k), Value: []byte(v)})
		m[k] = v
	}
	if err := tc.kv.BatchPut(ctx(t, time.Minute), pairs); err != nil {
		t.Fatalf("batch put: %v", err)
	}
	for i := 0; i < 400; i += 13 {
		k := fmt.Sprintf("key-%04d", i)
		if err := tc.kv.Delete(ctx(t, 30*time.Second), []byte(k)); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
		delete(m, k)
	}
	deadline := time.Now().Add(30 * time.Second)
	var regions []*metapb.Region
	for {
		regions, _ = tc.regions()
		if len(regions) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(regions) < 3 {
		t.Fatalf("after writing about 50KiB with 12KiB regions the scheduler knows %d regions, want at least 3", len(regions))
	}
	for _, tcase := range []struct {
		start, end string
		limit      int
	}{{"", "", 1000}, {"", "", 37}, {"key-0100", "key-0300", 1000}, {"key-0150", "", 120}, {"key-0399", "", 10}, {"a", "b", 10}} {
		got, err := tc.kv.Scan(ctx(t, 30*time.Second), []byte(tcase.start), []byte(tcase.end), tcase.limit)
		if err != nil {
			t.Fatalf("scan [%q, %q) limit %d: %v", tcase.start, tcase.end, tcase.limit, err)
		}
		if want := m.scan(tcase.start, tcase.end, tcase.limit); pairsString(got) != want {
			t.Fatalf("scan [%q, %q) limit %d over %d regions:\n got %.300s\nwant %.300s", tcase.start, tcase.end, tcase.limit, len(regions), pairsString(got), want)
		}
	}
	got, err := tc.kv.BatchGet(ctx(t, time.Minute), [][]byte{[]byte("key-0001"), []byte("key-0013"), []byte("key-0399")})
	if err != nil || string(got["key-0001"]) != m["key-0001"] || got["key-0013"] != nil || string(got["key-0399"]) != m["key-0399"] {
		t.Fatalf("batch get = %v, %v; want key-0001 and key-0399 (key-0013 is deleted)", len(got), err)
	}

	// One transaction over keys of every region, then a snapshot scan.
	txn, err := tc.kv.Begin(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	tm := model{}
	for i := 0; i < 400; i += 40 {
		k := fmt.Sprintf("txn-%04d", i)
		txn.Set([]byte(k), []byte(fmt.Sprint(i)))
		tm[k] = fmt.Sprint(i)
	}
	if _, err := txn.Commit(ctx(t, time.Minute)); err != nil {
		t.Fatalf("commit over %d regions: %v", len(regions), err)
	}
	ts, err := tc.kv.Timestamp(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tpairs, err := tc.kv.TxnScan(ctx(t, time.Minute), []byte("txn-"), []byte("txn."), 100, ts)
	if err != nil || pairsString(tpairs) != tm.scan("", "", 100) {
		t.Fatalf("snapshot scan = %s, %v; want %s", pairsString(tpairs), err, tm.scan("", "", 100))
	}
	regions, _ = tc.regions()
	passed(t, start, "3 replicas %.1fs after the start; %d regions after the writes; scans across them match", toReplicas.Seconds(), len(regions))
}

// writeLog records acknowledged writes and when they were acknowledged.
type writeLog struct {
	mu    sync.Mutex
	acked map[string]string
	times []time.Time
}

func (w *writeLog) add(k, v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.acked[k] = v
	w.times = append(w.times, time.Now())
}

// longestGap is the longest time without an acknowledged write in [from, to].
func (w *writeLog) longestGap(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	times := append([]time.Time{from}, w.times...)
	times = append(times, to)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].Before(from) || times[i-1].After(to) {
			continue
		}
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	return gap
}

// startWriters runs n writers of unique keys until stop is closed.
func (tc *testCluster) startWriters(n int, log *writeLog, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k, v := fmt.Sprintf("w%d-%06d", w, i), fmt.Sprintf("value-%d-%d", w, i)
				c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := tc.kv.Put(c, []byte(k), []byte(v))
				cancel()
				if err == nil {
					log.add(k, v)
				}
			}
		}(w)
	}
	return &wg
}

// checkAcked reads every acknowledged write back, in one scan over the
// writers' keys (w0-..., w1-...; a get per key took 10 s for 4,000 keys).
// Writes that failed may show too: their outcome was unknown.
func (tc *testCluster) checkAcked(log *writeLog, when string) {
	tc.t.Helper()
	log.mu.Lock()
	acked := make(map[string]string, len(log.acked))
	for k, v := range log.acked {
		acked[k] = v
	}
	log.mu.Unlock()
	pairs, err := tc.kv.Scan(ctx(tc.t, 2*time.Minute), []byte("w"), []byte("x"), 2*len(acked)+1000)
	if err != nil {
		tc.t.Fatalf("scanning for the %d acknowledged writes %s: %v", len(acked), when, err)
	}
	got := make(map[string]string, len(pairs))
	for _, p := range pairs {
		got[string(p.Key)] = string(p.Value)
	}
	for k, want := range acked {
		if v, ok := got[k]; !ok || v != want {
			tc.t.Fatalf("acknowledged write %s=%s reads %q (present: %v) %s: lost (%d acknowledged, the scan found %d keys)", k, want, v, ok, when, len(acked), len(pairs))
		}
	}
}

// replicatedWithout reports whether every region has 3 peers, none on store.
func (tc *testCluster) replicatedWithout(store uint64) bool {
	regions, _ := tc.regions()
	for _, r := range regions {
		if len(r.Peers) != 3 {
			return false
		}
		for _, p := range r.Peers {
			if p.StoreId == store {
				return false
			}
		}
	}
	return len(regions) > 0
}

// TestKillStoreWithMostLeaders: with writers running, the store leading
// the most regions is killed (-9). Writes resume (the longest gap is
// reported), no acknowledged write is lost, every region is back to 3
// replicas without the dead store once max-store-down-time (5s) passed,
// and the dead store, restarted, rejoins without harm: its peers of the
// regions that moved away are destroyed and their data deleted.
func TestKillStoreWithMostLeaders(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 4, maxStoreDownTime: 5 * time.Second, regionMaxSize: "24KiB", regionSplitSize: "16KiB"})
	tc.waitReplicas(3, time.Minute)
	log := &writeLog{acked: make(map[string]string)}
	stop := make(chan struct{})
	writers := tc.startWriters(4, log, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		writers.Wait()
	}()
	time.Sleep(4 * time.Second) // some splits, leaders on several stores

	ids := tc.storeIDs()
	_, leaders := tc.regions()
	count := make(map[uint64]int)
	for _, l := range leaders {
		count[l.GetStoreId()]++
	}
	victim := tc.Stores[0]
	for _, p := range tc.Stores {
		if count[ids[p.Name]] > count[ids[victim.Name]] {
			victim = p
		}
	}
	deadID := ids[victim.Name]
	had := tc.peersOn(deadID)
	killedAt := time.Now()
	victim.Kill()

	// Re-replication without the dead store, while the writers go on (for
	// 8 s at least, to see how long writes stall).
	var replicated time.Duration
	deadline := killedAt.Add(90 * time.Second)
	for replicated == 0 || time.Since(killedAt) < 8*time.Second {
		if replicated == 0 && tc.replicatedWithout(deadID) {
			replicated = time.Since(killedAt)
		}
		if time.Now().After(deadline) {
			regions, _ := tc.regions()
			t.Fatalf("90s after store %d died (max-store-down-time 5s) not every region has 3 replicas without it: %v", deadID, regions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	gap := log.longestGap(killedAt, time.Now())
	if gap > 6*time.Second {
		t.Errorf("writes stopped for %v after store %d (leader of %d regions) was killed, want them back within seconds", gap, deadID, count[deadID])
	}
	close(stop)
	writers.Wait()
	tc.checkAcked(log, "after the kill")

	// The dead store comes back: it must not break anything.
	if err := victim.Start(); err != nil {
		t.Fatalf("restart %s: %v", victim.Name, err)
	}
	loaded, took := tc.waitStalePeersGone(victim, deadID, 30*time.Second)
	if !victim.Running() {
		t.Fatalf("the restarted %s exited: %v\n%s", victim.Name, victim.ExitErr(), victim.LogTail(20))
	}
	tc.mustPut("after-restart", "1")
	tc.checkAcked(log, "after the dead store came back")
	regions := tc.waitReplicas(3, time.Minute)
	left := tc.staleDataOn(victim, deadID)
	if len(left) > 0 {
		t.Fatalf("%s, stopped after its stale peers were destroyed, still holds %d keys of regions that have no peer on it, such as %q", victim.Name, len(left), left[0])
	}
	passed(t, start, "killed store %d (leader of %d of %d regions): longest write gap %v; 3 replicas without it %.1fs after the kill (max-store-down-time 5s); "+
		"restarted with %d peers (%d at the kill, all moved away), it held only those the scheduler lists %.1fs after its start, and none of their data; %d acknowledged writes intact in %d regions",
		deadID, count[deadID], len(leaders), gap.Round(10*time.Millisecond), replicated.Seconds(), loaded, had, took.Seconds(), len(log.acked), len(regions))
}

// peersOn counts the scheduler's regions with a peer on store.
func (tc *testCluster) peersOn(store uint64) int {
	regions, _ := tc.regions()
	n := 0
	for _, r := range regions {
		for _, p := range r.Peers {
			if p.StoreId == store {
				n++
			}
		}
	}
	return n
}

// storeStartLine is what a store logs once it has loaded its peers.
var storeStartLine = regexp.MustCompile(`starts with \d+ regions, including \d+ tombstones and (\d+) peers`)

// waitStalePeersGone waits, after the store process p (store id) was
// started again, until it holds as many peers (tinykv_regions) as the
// scheduler's regions list on it, twice in a row: its peers of regions
// that moved away while it was down are destroyed. It returns how many
// peers the store loaded at its start, and how long after that the counts
// agreed.
func (tc *testCluster) waitStalePeersGone(p *local.Proc, store uint64, timeout time.Duration) (int, time.Duration) {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	loaded := -1
	for loaded < 0 {
		log, err := os.ReadFile(p.LogPath)
		if err != nil {
			tc.t.Fatalf("read the log of %s: %v", p.Name, err)
		}
		thisRun := log[bytes.LastIndex(log, []byte("\n==== "))+1:]
		if m := storeStartLine.FindSubmatch(thisRun); m != nil {
			loaded, _ = strconv.Atoi(string(m[1]))
			break
		}
		if time.Now().After(deadline) || !p.Running() {
			tc.t.Fatalf("%s did not load its peers within %v of its restart (running: %v):\n%s", p.Name, timeout, p.Running(), p.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	started := time.Now()
	url := "http://" + p.StatusAddr + "/metrics"
	agreed := 0
	for {
		held := int(sumOf(scrapeMetrics(tc.t, url), "tinykv_regions"))
		want := tc.peersOn(store)
		if held == want {
			if agreed++; agreed == 2 {
				return loaded, time.Since(started)
			}
		} else {
			agreed = 0
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("%v after %s (store %d) loaded its %d peers at its restart it holds %d peers (tinykv_regions), the scheduler lists %d regions with a peer on it: "+
				"the peers of regions that moved away while it was down are not destroyed", timeout, p.Name, store, loaded, held, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// staleDataOn stops the store process p cleanly (it stays stopped) and
// lists the user keys in its kv engine that lie in a region with no peer
// on store, in the scheduler's view both before and after the stop.
func (tc *testCluster) staleDataOn(p *local.Proc, store uint64) []string {
	tc.t.Helper()
	before, _ := tc.regions()
	if err := p.Stop(stopTimeout); err != nil {
		tc.t.Fatalf("clean stop of %s: %v", p.Name, err)
	}
	after, _ := tc.regions()
	hasPeer := func(regions []*metapb.Region, key []byte) bool {
		for _, r := range regions {
			if bytes.Compare(key, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(key, r.EndKey) < 0) {
				for _, peer := range r.Peers {
					if peer.StoreId == store {
						return true
					}
				}
				return false
			}
		}
		return true // a key of no known region: nothing to say
	}
	db, err := engine_util.CreateDB(filepath.Join(tc.dir, p.Name, "kv"), false)
	if err != nil {
		tc.t.Fatalf("open the kv engine of %s: %v", p.Name, err)
	}
	defer db.Close()
	var left []string
	prefix := []byte(engine_util.CfDefault + "_")
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			key := it.Item().KeyCopy(nil)[len(prefix):]
			if !hasPeer(before, key) && !hasPeer(after, key) {
				left = append(left, string(key))
			}
		}
		return nil
	})
	if err != nil {
		tc.t.Fatalf("read the kv engine of %s: %v", p.Name, err)
	}
	return left
}
