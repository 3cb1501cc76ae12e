package schedule

import (
	"context"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

const (
	// coordinatorTick is how often the coordinator wakes to see what is due.
	coordinatorTick = 10 * time.Millisecond
	// patrolRegionBatch is how many regions one patrol round checks.
	patrolRegionBatch = 128
	// collectTimeout is how long the coordinator waits for the region cache
	// to warm up before it schedules anyway.
	collectTimeout = 30 * time.Second
	// collectFactor is the share of each store's regions (as its heartbeat
	// counts them) that must have reported before scheduling starts.
	collectFactor = 0.8
)

// Coordinator drives scheduling: it hands every region heartbeat to the
// operator controller, patrols the regions with the replica checker, and
// runs the schedulers on their timers. It starts doing the last two once
// the region cache is warm: every store that has sent a heartbeat has had
// at least 80% of the regions it counts reported by their leaders since the
// coordinator was made (or 30 s have passed).
type Coordinator struct {
	cluster Cluster
	oc      *OperatorController
	checker *ReplicaChecker
	prepare *prepareChecker

	mu         sync.Mutex
	schedulers []*scheduleController
	patrolKey  []byte
	nextPatrol time.Time
}

type scheduleController struct {
	Scheduler
	interval time.Duration
	next     time.Time
}

// NewCoordinator returns a coordinator for the cluster; hbStreams (may be
// nil) lets new operators go out before the region's next heartbeat.
func NewCoordinator(cluster Cluster, hbStreams HeartbeatStreams) *Coordinator {
	return &Coordinator{
		cluster: cluster,
		oc:      NewOperatorController(cluster, hbStreams),
		checker: NewReplicaChecker(cluster),
		prepare: newPrepareChecker(),
	}
}

// GetOperatorController returns the coordinator's operator controller
// (schedulers are made with it; GetOperator answers from it).
func (c *Coordinator) GetOperatorController() *OperatorController { return c.oc }

// AddScheduler adds schedulers to run.
func (c *Coordinator) AddScheduler(schedulers ...Scheduler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range schedulers {
		c.schedulers = append(c.schedulers, &scheduleController{Scheduler: s, interval: s.GetMinInterval()})
		log.Infof("[coordinator] scheduler=%s added", s.GetName())
	}
}

// OnRegionHeartbeat is called after every region heartbeat has been taken
// into the cluster (with the region as now cached); it returns the step to
// send back to the region's leader, or nil. The caller sets the header.
func (c *Coordinator) OnRegionHeartbeat(region *core.RegionInfo) *schedulerpb.RegionHeartbeatResponse {
	c.prepare.collect(region)
	return c.oc.Dispatch(region)
}

// IsPrepared says whether the region cache is warm (scheduling has started).
func (c *Coordinator) IsPrepared() bool { return c.prepare.check(c.cluster) }

// Run schedules until ctx is done.
func (c *Coordinator) Run(ctx context.Context) {
	log.Infof("[coordinator] started")
	ticker := time.NewTicker(coordinatorTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Infof("[coordinator] stopped")
			return
		case now := <-ticker.C:
			c.tick(now)
		}
	}
}

// tick does what is due at now.
func (c *Coordinator) tick(now time.Time) {
	c.oc.CheckTimeouts()
	if !c.IsPrepared() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !now.Before(c.nextPatrol) {
		c.patrolLocked()
		c.nextPatrol = now.Add(c.cluster.GetPatrolRegionInterval())
	}
	for _, s := range c.schedulers {
		if now.Before(s.next) {
			continue
		}
		c.runSchedulerLocked(s)
		s.next = now.Add(s.interval)
	}
}

// patrolLocked runs the replica checker over the next batch of regions.
func (c *Coordinator) patrolLocked() {
	regions := c.cluster.ScanRange(c.patrolKey, nil, patrolRegionBatch)
	c.patrolKey = nil
	if len(regions) == patrolRegionBatch {
		c.patrolKey = regions[len(regions)-1].GetEndKey() // empty: the round is over
	}
	for _, region := range regions {
		if c.oc.OperatorCount(OpReplica) >= c.cluster.GetReplicaScheduleLimit() {
			return
		}
		if c.oc.GetOperator(region.GetID()) != nil {
			continue
		}
		if op := c.checker.Check(region); op != nil {
			c.oc.AddOperator(op)
		}
	}
}

// runSchedulerLocked runs one scheduler once and sets its next interval.
func (c *Coordinator) runSchedulerLocked(s *scheduleController) {
	if !s.IsScheduleAllowed(c.cluster) {
		return
	}
	if op := s.Schedule(c.cluster); op != nil {
		// Added, or refused because its region runs an operator already:
		// there is work to do, run again soon. Refused for another reason
		// (a target store that cannot receive it, a stale epoch): the same
		// proposal would come back at once, so back off as for none.
		if c.oc.AddOperator(op) || c.oc.GetOperator(op.RegionID()) != nil {
			s.interval = s.GetMinInterval()
			return
		}
	}
	s.interval = min(2*s.interval, MaxScheduleInterval)
}

// prepareChecker tells when the region cache is warm.
type prepareChecker struct {
	mu       sync.Mutex
	start    time.Time
	seen     map[uint64]struct{} // regions heard from since start
	perStore map[uint64]int      // store id → regions with a peer there heard from
	prepared bool
}

func newPrepareChecker() *prepareChecker {
	return &prepareChecker{start: time.Now(), seen: map[uint64]struct{}{}, perStore: map[uint64]int{}}
}

func (p *prepareChecker) collect(region *core.RegionInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prepared {
		return
	}
	if _, ok := p.seen[region.GetID()]; ok {
		return
	}
	p.seen[region.GetID()] = struct{}{}
	for _, peer := range region.GetPeers() {
		p.perStore[peer.GetStoreId()]++
	}
}

func (p *prepareChecker) check(cluster Cluster) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prepared {
		return true
	}
	if time.Since(p.start) > collectTimeout {
		p.done("timeout")
		return true
	}
	if len(p.seen) == 0 {
		return false
	}
	for _, store := range cluster.GetStores() {
		if store.IsTombstone() {
			continue
		}
		stats := store.GetStoreStats()
		if stats.GetStoreId() == 0 {
			return false // no heartbeat since the scheduler started
		}
		if float64(p.perStore[store.GetID()]) < collectFactor*float64(stats.GetRegionCount()) {
			return false
		}
	}
	p.done("warm")
	return true
}

func (p *prepareChecker) done(why string) {
	p.prepared = true
	p.seen, p.perStore = nil, nil
	log.Infof("[coordinator] region-cache=%s after=%v", why, time.Since(p.start).Round(time.Millisecond))
}
