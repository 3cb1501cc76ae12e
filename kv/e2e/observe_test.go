package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	schedclient "github.com/tinykv-lab/tinykv/scheduler/client"
)

// observedCluster is a test cluster whose stores serve /metrics, each on
// the status address the launcher chose for it.
type observedCluster struct {
	*testCluster
	status []string // status[i] is the status address of Stores[i]
}

// startObserved starts a cluster of n stores, every store with storeArgs
// added to its flags, and waits until every region has three replicas.
func startObserved(t *testing.T, n int, storeArgs ...string) *observedCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "tinykv-e2e-"+t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := local.New(local.Config{
		BinDir: bins(t), DataDir: dir, Stores: n, StoreConfig: storeConfig,
		// A killed store reads as disconnected after 2 s (20 s by default).
		SchedulerConfig: "[schedule]\npatrol-region-interval = \"100ms\"\nmax-store-down-time = \"10m\"\nstore-disconnect-time = \"2s\"\n[replication]\nmax-replicas = 3\n",
	})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("preparing the cluster: %v", err)
	}
	oc := &observedCluster{testCluster: &testCluster{t: t, Cluster: c, dir: dir}}
	t.Cleanup(oc.cleanup)
	for _, s := range c.Stores {
		s.Args = append(s.Args, storeArgs...)
		oc.status = append(oc.status, s.StatusAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	if oc.sched, err = schedclient.New([]string{c.Scheduler.Addr}, schedclient.Options{Timeout: 10 * time.Second}); err != nil {
		t.Fatalf("scheduler client: %v", err)
	}
	oc.kv = client.New(oc.sched, client.Options{Timeout: 20 * time.Second, Seed: rand.Int63()})
	oc.waitReplicas(3, time.Minute)
	return oc
}

// scrapeMetrics reads the Prometheus text at url; it fails the test when
// the answer is not Prometheus text.
func scrapeMetrics(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not Prometheus text: %v", url, err)
	}
	return fams
}

// sumOf adds the samples of a family whose labels include the given
// name=value pairs (a histogram counts its observations).
func sumOf(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
next:
	for _, m := range fams[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// TestMetricsAfterWorkload runs puts and gets against three stores and
// checks that every store's /metrics and the scheduler's parse and that
// their counters moved with the workload.
func TestMetricsAfterWorkload(t *testing.T) {
	start := time.Now()
	oc := startObserved(t, 3)
	storeURL := func(i int) string { return "http://" + oc.status[i] + "/metrics" }
	schedURL := "http://" + oc.Scheduler.Addr + "/metrics"
	var before []map[string]*dto.MetricFamily
	for i := range oc.Stores {
		before = append(before, scrapeMetrics(t, storeURL(i)))
	}
	schedBefore := scrapeMetrics(t, schedURL)

	const n = 200
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("metrics-%04d", i)
		oc.mustPut(key, strconv.Itoa(i))
		oc.mustGet(key, strconv.Itoa(i))
	}
	time.Sleep(time.Second) // followers apply, heartbeats go out

	moved := func(name string, labels ...string) (total float64, each []float64) {
		for i := range oc.Stores {
			after := scrapeMetrics(t, storeURL(i))
			d := sumOf(after, name, labels...) - sumOf(before[i], name, labels...)
			each = append(each, d)
			total += d
		}
		return total, each
	}
	if total, _ := moved("tinykv_grpc_requests_total", "outcome", "ok"); total < 2*n {
		t.Errorf("tinykv_grpc_requests_total{outcome=ok} moved by %v over the stores after %d puts and %d gets, want at least %d", total, n, n, 2*n)
	}
	if total, _ := moved("tinykv_grpc_request_duration_seconds", "method", "RawPut"); total < n {
		t.Errorf("tinykv_grpc_request_duration_seconds{method=RawPut} observed %v requests, want at least %d", total, n)
	}
	if total, _ := moved("tinykv_raft_proposals_total", "type", "normal"); total < n {
		t.Errorf("tinykv_raft_proposals_total{type=normal} moved by %v, want at least %d (one per put)", total, n)
	}
	if _, each := moved("tinykv_raft_entries_applied_total"); each[0] < n || each[1] < n || each[2] < n {
		t.Errorf("tinykv_raft_entries_applied_total moved by %v on the three stores, want at least %d on each (every store applies every put)", each, n)
	}
	if _, each := moved("tinykv_engine_write_duration_seconds", "engine", "raft"); each[0] == 0 || each[1] == 0 || each[2] == 0 {
		t.Errorf("tinykv_engine_write_duration_seconds{engine=raft} observed %v writes on the three stores, want some on each", each)
	}
	if total, _ := moved("tinykv_raft_propose_apply_duration_seconds"); total < n {
		t.Errorf("tinykv_raft_propose_apply_duration_seconds observed %v commands, want at least %d", total, n)
	}
	regions, _, err := oc.sched.ScanRegions(ctx(t, 10*time.Second), nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var leaders float64
	for i := range oc.Stores {
		m := scrapeMetrics(t, storeURL(i))
		leaders += sumOf(m, "tinykv_leaders")
		if got := sumOf(m, "tinykv_raft_pending_proposals"); got != 0 {
			t.Errorf("store %d: tinykv_raft_pending_proposals = %v after every request was answered, want 0", i+1, got)
		}
		if got := sumOf(m, "tinykv_regions"); got != float64(len(regions)) {
			t.Errorf("store %d: tinykv_regions = %v, want %d (every region has a peer on every store)", i+1, got, len(regions))
		}
		// badger measures its size once a minute: only its presence is sure.
		if len(m["tinykv_engine_size_bytes"].GetMetric()) != 4 {
			t.Errorf("store %d: tinykv_engine_size_bytes has %d series, want 4 (kv and raft, lsm and vlog)", i+1, len(m["tinykv_engine_size_bytes"].GetMetric()))
		}
	}
	if leaders != float64(len(regions)) {
		t.Errorf("tinykv_leaders summed over the stores = %v, want %d (one leader per region)", leaders, len(regions))
	}

	schedAfter := scrapeMetrics(t, schedURL)
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"tinyscheduler_region_heartbeats_total", []string{"outcome", "ok"}},
		{"tinyscheduler_store_heartbeats_total", []string{"outcome", "ok"}},
	} {
		if sumOf(schedAfter, c.name, c.labels...) <= sumOf(schedBefore, c.name, c.labels...) {
			t.Errorf("%s%v did not move during the workload", c.name, c.labels)
		}
	}
	if got := sumOf(schedAfter, "tinyscheduler_stores", "state", "up"); got != 3 {
		t.Errorf("tinyscheduler_stores{state=up} = %v, want 3", got)
	}
	if sumOf(schedAfter, "tinyscheduler_ids_allocated_total") == 0 {
		t.Errorf("tinyscheduler_ids_allocated_total is 0 after bootstrapping three stores")
	}
	passed(t, start, "%d puts and gets; store and scheduler counters moved", n)
}
