package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bootstrapCrash is a bootstrapHook that kills the store whose Bootstrap
// call comes first, at one of the two worst moments of the bootstrap
// window (the store has written its first region locally and asks the
// scheduler to start the cluster with it):
//   - before the scheduler hears of it (afterScheduler false): the store
//     dies with the call in flight, the scheduler never sees it. The other
//     stores' Bootstrap calls are refused until the dead store, restarted,
//     has bootstrapped: the cluster must start with the region it had
//     prepared before it died.
//   - right after the scheduler bootstrapped the cluster with the store's
//     region (afterScheduler true): the store dies before it hears so.
//
// Bootstrap calls are handled one at a time; one the scheduler does not
// answer (an error of the call) counts for nothing.
type bootstrapCrash struct {
	afterScheduler bool
	stores         []*local.Proc
	killed         chan struct{} // closed once the victim is dead

	serial sync.Mutex // one Bootstrap call at a time, before to after
	mu     sync.Mutex
	victim *local.Proc
	first  *schedulerpb.BootstrapRequest // the victim's first call
	again  *schedulerpb.BootstrapRequest // the victim's first call after its restart
	done   bool                          // the victim's bootstrap was answered
	ok     []*metapb.Region              // regions of the calls the scheduler answered OK
	calls  int
}

func (b *bootstrapCrash) before(req *schedulerpb.BootstrapRequest) error {
	b.serial.Lock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	switch {
	case b.victim == nil:
		for _, p := range b.stores {
			if p.Addr == req.GetStore().GetAddress() {
				b.victim = p
			}
		}
		if b.victim == nil {
			b.serial.Unlock()
			return status.Errorf(codes.FailedPrecondition, "bootstrap from %s, which is no store of this test", req.GetStore().GetAddress())
		}
		b.first = req
		if !b.afterScheduler {
			b.victim.Kill()
			close(b.killed)
			b.serial.Unlock()
			return status.Error(codes.Unavailable, "the test killed the store before its Bootstrap reached the scheduler")
		}
	case req.GetStore().GetAddress() == b.victim.Addr:
		if b.again == nil {
			b.again = req
		}
	case !b.afterScheduler && !b.done:
		b.serial.Unlock()
		return status.Errorf(codes.Unavailable, "the test holds Bootstrap calls until %s has bootstrapped", b.victim.Name)
	}
	return nil
}

func (b *bootstrapCrash) after(req *schedulerpb.BootstrapRequest, resp *schedulerpb.BootstrapResponse, err error) {
	defer b.serial.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		// The scheduler did not answer (starting, say): the caller tries
		// again. The victim is the first store the scheduler answers.
		if req == b.first && b.afterScheduler {
			b.victim, b.first = nil, nil
		}
		return
	}
	if resp.GetHeader().GetError() == nil {
		b.ok = append(b.ok, req.GetRegion())
	}
	if req.GetStore().GetAddress() != b.victim.Addr {
		return
	}
	if req == b.first && b.afterScheduler {
		b.victim.Kill()
		close(b.killed)
		return
	}
	b.done = true
}

// setArg sets the value of flag name on p's command line.
func setArg(p *local.Proc, name, value string) {
	for i := 0; i+1 < len(p.Args); i++ {
		if p.Args[i] == name {
			p.Args[i+1] = value
			return
		}
	}
	p.Args = append(p.Args, name, value)
}

// TestBootstrapWindowCrash: three stores start on an empty scheduler; the
// one whose Bootstrap call comes first is killed (-9) just before the
// scheduler hears of it, or just after the scheduler bootstrapped the
// cluster with its region, and started again. The cluster comes up with
// one region covering the key space (the one the killed store prepared),
// three replicas, served; the scheduler bootstrapped once; no store keeps
// a region of its own (each holds exactly one peer).
func TestBootstrapWindowCrash(t *testing.T) {
	for _, tcase := range []struct {
		name           string
		afterScheduler bool
	}{{"KilledBeforeTheScheduler", false}, {"KilledAfterTheScheduler", true}} {
		t.Run(tcase.name, func(t *testing.T) { testBootstrapWindowCrash(t, tcase.afterScheduler) })
	}
}

func testBootstrapWindowCrash(t *testing.T, afterScheduler bool) {
	start := time.Now()
	crash := &bootstrapCrash{afterScheduler: afterScheduler, killed: make(chan struct{})}
	tc := startCluster(t, options{stores: 3, beforeStart: func(c *local.Cluster) {
		crash.stores = c.Stores
		proxy := startSchedulerProxy(t, c.Scheduler.Addr, crash)
		for _, s := range c.Stores {
			setArg(s, "-scheduler", proxy.Addr)
		}
	}})
	select {
	case <-crash.killed:
	case <-time.After(time.Minute):
		t.Fatalf("no store called Bootstrap within a minute")
	}
	victim := crash.victim
	if err := victim.Start(); err != nil {
		t.Fatalf("restart %s: %v", victim.Name, err)
	}
	regions := tc.waitReplicas(3, time.Minute)
	prepared := crash.first.GetRegion()
	crash.mu.Lock()
	ok, again, calls := crash.ok, crash.again, crash.calls
	crash.mu.Unlock()
	if len(regions) != 1 || len(regions[0].StartKey) != 0 || len(regions[0].EndKey) != 0 || regions[0].Id != prepared.GetId() {
		t.Fatalf("after %s was killed in the bootstrap window and restarted the scheduler knows regions %v; want one region covering every key, "+
			"region %d that %s prepared before it died", victim.Name, regions, prepared.GetId(), victim.Name)
	}
	if len(ok) != 1 || ok[0].GetId() != prepared.GetId() {
		t.Fatalf("the scheduler bootstrapped the cluster with regions %v; want once, with region %d", ok, prepared.GetId())
	}
	if !afterScheduler && !proto.Equal(again.GetRegion(), prepared) {
		t.Fatalf("%s, restarted, asked to bootstrap with region %v; want the region it had prepared before it died: %v", victim.Name, again.GetRegion(), prepared)
	}
	if boot, err := tc.sched.IsBootstrapped(ctx(t, 10*time.Second)); err != nil || !boot {
		t.Fatalf("IsBootstrapped = %v, %v; want true", boot, err)
	}
	tc.mustPut("after-bootstrap", "1")
	tc.mustGet("after-bootstrap", "1")

	// No orphan: a store that prepared a region of its own and lost the race
	// must have deleted it, so each store holds exactly the one peer.
	var counts []float64
	for deadline := time.Now().Add(10 * time.Second); ; {
		counts = counts[:0]
		orphan := false
		for _, s := range tc.Stores {
			n := sumOf(scrapeMetrics(t, "http://"+s.StatusAddr+"/metrics"), "tinykv_regions")
			counts = append(counts, n)
			orphan = orphan || n != 1
		}
		if !orphan {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tinykv_regions on the stores = %v; want 1 on each (the one region %d): a store keeps a region the scheduler does not know", counts, prepared.GetId())
		}
		time.Sleep(200 * time.Millisecond)
	}
	passed(t, start, "%s killed %s; restarted, the cluster came up with its region %d (3 replicas, one peer per store), %d Bootstrap calls, %d answered OK",
		victim.Name, map[bool]string{false: "before the scheduler heard its Bootstrap", true: "right after the scheduler bootstrapped with its region"}[afterScheduler],
		prepared.GetId(), calls, len(ok))
}
