package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	schedclient "github.com/tinykv-lab/tinykv/scheduler/client"
	"github.com/tinykv-lab/tinykv/scheduler/server/api"
)

// schedulerLeader is the scheduler member that leads, as the members say.
func (tc *testCluster) schedulerLeader(timeout time.Duration) *local.Proc {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := tc.sched.GetMembers(ctx(tc.t, 5*time.Second))
		if err == nil {
			for _, p := range tc.Schedulers {
				if p.Name == resp.GetLeader().GetName() && p.Running() {
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("no scheduler member leads within %v: %v (members answered %v)", timeout, err, resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tsoLog records the timestamps one client took, in order, and when.
type tsoLog struct {
	mu    sync.Mutex
	ts    []uint64
	at    []time.Time
	fails int
}

// run takes timestamps one after another until stop is closed.
func (l *tsoLog) run(tc *testCluster, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ts, err := tc.kv.Timestamp(c)
		cancel()
		l.mu.Lock()
		if err != nil {
			l.fails++
		} else {
			l.ts = append(l.ts, ts)
			l.at = append(l.at, time.Now())
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// check returns an error if a timestamp is not above the one before it.
func (l *tsoLog) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 1; i < len(l.ts); i++ {
		if l.ts[i] <= l.ts[i-1] {
			return fmt.Errorf("timestamp %d (taken at %s) is not above %d taken before it (at %s)",
				l.ts[i], l.at[i].Format(time.StampMilli), l.ts[i-1], l.at[i-1].Format(time.StampMilli))
		}
	}
	return nil
}

// firstAfter is when the first timestamp after t was taken, and the last
// timestamp taken before t.
func (l *tsoLog) firstAfter(t time.Time) (time.Time, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var before uint64
	for i, at := range l.at {
		if at.After(t) {
			return at, before, true
		}
		before = l.ts[i]
	}
	return time.Time{}, before, false
}

// storesStatus is the scheduler member at addr's /pd/api/v1/stores.
func storesStatus(addr string) (*api.Stores, error) {
	resp, err := http.Get("http://" + addr + "/pd/api/v1/stores")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /pd/api/v1/stores at %s: %s", addr, resp.Status)
	}
	var stores api.Stores
	if err := json.NewDecoder(resp.Body).Decode(&stores); err != nil {
		return nil, fmt.Errorf("GET /pd/api/v1/stores at %s: %v", addr, err)
	}
	return &stores, nil
}

// TestSchedulerLeaderKilled: a scheduler of three members (etcd elects the
// one that serves), three stores given all three, clients writing and
// taking timestamps. The leading member is killed (-9). Another member
// serves within 10 s (the gap is measured); the stores heartbeat to it
// (every store and every region's leader known to it); a split after the
// failover takes effect with ids above every id allocated before; the
// timestamps one client took strictly increase across the failover; no
// acknowledged write is lost.
func TestSchedulerLeaderKilled(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 3, schedulers: 3, regionMaxSize: "12KiB", regionSplitSize: "8KiB"})
	tc.waitReplicas(3, time.Minute)
	leader := tc.schedulerLeader(30 * time.Second)
	up := time.Since(start)

	log := &writeLog{acked: make(map[string]string)}
	tsos := &tsoLog{}
	stop := make(chan struct{})
	writers := tc.startWriters(4, log, stop)
	var tsoDone sync.WaitGroup
	tsoDone.Add(1)
	go func() {
		defer tsoDone.Done()
		tsos.run(tc, stop)
	}()
	stopAll := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		writers.Wait()
		tsoDone.Wait()
	}
	defer stopAll()
	time.Sleep(time.Second) // writes and timestamps under way
	idBefore, err := tc.sched.AllocID(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("alloc id before the failover: %v", err)
	}

	// A client of the other members sees when one of them is elected.
	var others []string
	for _, p := range tc.Schedulers {
		if p != leader {
			others = append(others, p.Addr)
		}
	}
	watcher, err := schedclient.New(others, schedclient.Options{Timeout: 20 * time.Second, RPCTimeout: 500 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	elected := make(chan time.Time, 1)
	go func() {
		for time.Since(start) < 5*time.Minute {
			resp, err := watcher.GetMembers(context.Background())
			if name := resp.GetLeader().GetName(); err == nil && name != "" && name != leader.Name {
				elected <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	killedAt := time.Now()
	leader.Kill()
	// Another member serves: a timestamp is the first thing that needs it.
	deadline := killedAt.Add(10 * time.Second)
	var served time.Time
	var lastBefore uint64
	for {
		var ok bool
		if served, lastBefore, ok = tsos.firstAfter(killedAt); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the scheduler leader %s was killed no other member hands out timestamps", leader.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	failover := served.Sub(killedAt)
	var election time.Duration
	select {
	case at := <-elected:
		election = at.Sub(killedAt)
	case <-time.After(10 * time.Second):
		t.Fatalf("the other members name no new leader 10 s after %s was killed", leader.Name)
	}
	newLeader := tc.schedulerLeader(10 * time.Second)
	if newLeader == leader {
		t.Fatalf("the killed member %s still leads", leader.Name)
	}

	// The stores heartbeat to the new leader: every store's last heartbeat
	// and every region's leader come from after the failover.
	var stores *api.Stores
	for deadline := time.Now().Add(15 * time.Second); ; {
		stores, err = storesStatus(newLeader.Addr)
		fresh := err == nil && stores.Count == 3
		for i := 0; fresh && i < len(stores.Stores); i++ {
			fresh = stores.Stores[i].Status.LastHeartbeatTS.After(served)
		}
		regions, leaders := tc.regions()
		for i := range regions {
			fresh = fresh && i < len(leaders) && leaders[i].GetId() != 0
		}
		if fresh {
			break
		}
		if time.Now().After(deadline) {
			var heard []string
			for i := 0; stores != nil && i < len(stores.Stores); i++ {
				heard = append(heard, fmt.Sprintf("store %d at %s", stores.Stores[i].Store.ID, stores.Stores[i].Status.LastHeartbeatTS.Format(time.StampMilli)))
			}
			t.Fatalf("15 s after %s took over (serving from %s) not every store heartbeats to it, or a region has no leader there: last heartbeats %v (%v); regions %v, leaders %v",
				newLeader.Name, served.Format(time.StampMilli), heard, err, regions, leaders)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Ids go on above every id allocated before; a split asks the new
	// leader for its ids: the writers go on until a region with an id above
	// the first one the new leader allocated shows on it.
	idAfter, err := tc.sched.AllocID(ctx(t, 10*time.Second))
	if err != nil || idAfter <= idBefore {
		t.Fatalf("id allocated after the failover = %d, %v; want above %d, allocated before", idAfter, err, idBefore)
	}
	var newRegion uint64
	for deadline := time.Now().Add(30 * time.Second); newRegion == 0; {
		regions, _ := tc.regions()
		for _, r := range regions {
			if r.Id > idAfter {
				newRegion = r.Id
			}
		}
		if newRegion == 0 && time.Now().After(deadline) {
			t.Fatalf("no split took effect in 30 s after the failover (no region's id is above %d, the first id %s allocated): %v", idAfter, newLeader.Name, regions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	splitAfter := time.Since(served)
	stopAll()
	if err := tsos.check(); err != nil {
		t.Fatalf("timestamps across the failover: %v", err)
	}
	writeGap := log.longestGap(killedAt, time.Now())
	tc.checkAcked(log, "after the scheduler failover")
	tsos.mu.Lock()
	taken, fails := len(tsos.ts), tsos.fails
	tsos.mu.Unlock()
	passed(t, start, "3 members and 3 stores up in %.1fs; %s killed, %s elected %v later and serving timestamps to the client %v later (the last before: %d); %d timestamps increasing (%d attempts failed during the failover); "+
		"split into region %d %.1fs after it (ids %d before, %d after the failover); longest write gap %v; %d acknowledged writes intact",
		up.Seconds(), leader.Name, newLeader.Name, election.Round(10*time.Millisecond), failover.Round(10*time.Millisecond), lastBefore, taken, fails, newRegion, splitAfter.Seconds(), idBefore, idAfter,
		writeGap.Round(10*time.Millisecond), len(log.acked))
}
