package raftstore

import (
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
)

// PeerTick names a periodic task of a peer.
type PeerTick int

const (
	PeerTickRaft               PeerTick = 0
	PeerTickRaftLogGC          PeerTick = 1
	PeerTickSplitRegionCheck   PeerTick = 2
	PeerTickSchedulerHeartbeat PeerTick = 3
)

const peerTickCount = 4

type tickSchedule struct {
	runAt    int64
	interval int64
}

// ticker counts the base ticks of one peer (or of the store) and says which
// periodic tasks are due. Intervals are in base ticks; a task is scheduled
// for its next run when it runs, so a busy peer does not pile ticks up.
type ticker struct {
	regionID  uint64
	tick      int64
	schedules []tickSchedule
}

func newTicker(regionID uint64, cfg *config.Config) *ticker {
	baseInterval := cfg.RaftBaseTickInterval
	t := &ticker{
		regionID:  regionID,
		schedules: make([]tickSchedule, peerTickCount),
	}
	t.schedules[PeerTickRaft].interval = 1
	t.schedules[PeerTickRaftLogGC].interval = ticksOf(cfg.RaftLogGCTickInterval, baseInterval)
	t.schedules[PeerTickSplitRegionCheck].interval = ticksOf(cfg.SplitRegionCheckTickInterval, baseInterval)
	t.schedules[PeerTickSchedulerHeartbeat].interval = ticksOf(cfg.SchedulerHeartbeatTickInterval, baseInterval)
	return t
}

const storeTickCount = 3

func newStoreTicker(cfg *config.Config) *ticker {
	baseInterval := cfg.RaftBaseTickInterval
	t := &ticker{schedules: make([]tickSchedule, storeTickCount)}
	t.schedules[message.StoreTickSchedulerStoreHeartbeat].interval = ticksOf(cfg.SchedulerStoreHeartbeatTickInterval, baseInterval)
	t.schedules[message.StoreTickSnapGC].interval = ticksOf(cfg.RaftLogGCTickInterval, baseInterval)
	t.scheduleStore(message.StoreTickSchedulerStoreHeartbeat)
	t.scheduleStore(message.StoreTickSnapGC)
	return t
}

// ticksOf converts an interval to base ticks, at least one.
func ticksOf(interval, base time.Duration) int64 {
	if n := int64(interval / base); n > 0 {
		return n
	}
	return 1
}

// tickClock advances the clock by one base tick.
func (t *ticker) tickClock() {
	t.tick++
}

// isOnTick reports whether the task is due now; it is due once per schedule.
func (t *ticker) isOnTick(tp PeerTick) bool {
	sched := &t.schedules[int(tp)]
	return sched.runAt == t.tick
}

func (t *ticker) isOnStoreTick(tp message.StoreTick) bool {
	sched := &t.schedules[int(tp)]
	return sched.runAt == t.tick
}

// schedule plans the next run of the task one interval from now.
func (t *ticker) schedule(tp PeerTick) {
	sched := &t.schedules[int(tp)]
	if sched.interval <= 0 {
		sched.runAt = -1
		return
	}
	sched.runAt = t.tick + sched.interval
}

func (t *ticker) scheduleStore(tp message.StoreTick) {
	sched := &t.schedules[int(tp)]
	if sched.interval <= 0 {
		sched.runAt = -1
		return
	}
	sched.runAt = t.tick + sched.interval
}

// tickDriver sends a tick message to every registered region, and to the
// store, every base tick interval.
type tickDriver struct {
	baseTickInterval time.Duration
	newRegionCh      chan uint64
	regions          map[uint64]struct{}
	router           *router
	storeTicker      *ticker
}

func newTickDriver(baseTickInterval time.Duration, router *router, storeTicker *ticker) *tickDriver {
	return &tickDriver{
		baseTickInterval: baseTickInterval,
		newRegionCh:      make(chan uint64, 1024),
		regions:          make(map[uint64]struct{}),
		router:           router,
		storeTicker:      storeTicker,
	}
}

// run ticks until closeCh is closed.
func (r *tickDriver) run(closeCh <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	timer := time.NewTicker(r.baseTickInterval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			r.tickRegions()
			r.tickStore()
		case regionID := <-r.newRegionCh:
			r.regions[regionID] = struct{}{}
		case <-closeCh:
			return
		}
	}
}

func (r *tickDriver) tickRegions() {
	for regionID := range r.regions {
		if r.router.send(regionID, message.NewPeerMsg(message.MsgTypeTick, regionID, nil)) != nil {
			delete(r.regions, regionID)
		}
	}
}

// tickStore sends the store's due ticks; the driver owns the store's
// ticker and plans each task's next run itself.
func (r *tickDriver) tickStore() {
	r.storeTicker.tickClock()
	for i := range r.storeTicker.schedules {
		tick := message.StoreTick(i)
		if r.storeTicker.isOnStoreTick(tick) {
			r.router.sendStore(message.NewMsg(message.MsgTypeStoreTick, tick))
			r.storeTicker.scheduleStore(tick)
		}
	}
}
