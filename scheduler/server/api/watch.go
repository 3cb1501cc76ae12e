package api

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

// watchInterval is how often the watcher compares the cluster with what it
// saw last.
const watchInterval = 500 * time.Millisecond

// watcher notices what changes in the cluster the member serves (splits,
// membership and leader changes, stores going disconnected, down or coming
// back) and records it as events.
type watcher struct {
	srv *server.Server

	mu      sync.Mutex
	regions map[uint64]regionSeen // nil: nothing seen since leading began
	stores  map[uint64]string     // store id → state name last seen
}

type regionSeen struct {
	version, confVer uint64
	leaderStore      uint64
	stores           []uint64
}

func newWatcher(srv *server.Server) *watcher {
	return &watcher{srv: srv, stores: map[uint64]string{}}
}

func (w *watcher) run(done <-chan struct{}) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			w.check(time.Now())
		}
	}
}

func storesOf(rs []uint64) string { return fmt.Sprint(rs) }

func (w *watcher) check(now time.Time) {
	c := w.srv.GetRaftCluster()
	if c == nil {
		w.mu.Lock()
		w.regions = nil
		w.mu.Unlock()
		return
	}
	for _, s := range c.GetStores() {
		id := s.GetID()
		state := schedule.StoreStateName(c, s)
		w.mu.Lock()
		seen, ok := w.stores[id]
		w.stores[id] = state
		w.mu.Unlock()
		if ok && state != seen {
			kind := observe.EventStoreState
			switch state {
			case "Down", "Disconnected":
				kind = observe.EventStoreDown
			case "Up":
				kind = observe.EventStoreUp
			}
			observe.Record(observe.Event{Kind: kind, StoreID: id,
				Text: fmt.Sprintf("store %d (%s) %s → %s, last heartbeat %v ago", id, s.GetAddress(), seen, state,
					now.Sub(s.GetLastHeartbeatTS()).Round(100*time.Millisecond))})
		}
	}

	cur := map[uint64]regionSeen{}
	for _, r := range c.GetRegions() {
		seen := regionSeen{version: r.GetRegionEpoch().GetVersion(), confVer: r.GetRegionEpoch().GetConfVer(),
			leaderStore: r.GetLeader().GetStoreId()}
		for _, p := range r.GetPeers() {
			seen.stores = append(seen.stores, p.GetStoreId())
		}
		sort.Slice(seen.stores, func(i, j int) bool { return seen.stores[i] < seen.stores[j] })
		cur[r.GetID()] = seen
	}
	w.mu.Lock()
	prev := w.regions
	w.regions = cur
	w.mu.Unlock()
	if prev == nil {
		return
	}
	for id, got := range cur {
		was, ok := prev[id]
		if !ok {
			observe.Record(observe.Event{Kind: observe.EventSplit, RegionID: id,
				Text: fmt.Sprintf("region %d appeared (version %d) on stores %s", id, got.version, storesOf(got.stores))})
			continue
		}
		if got.version > was.version {
			observe.Record(observe.Event{Kind: observe.EventSplit, RegionID: id,
				Text: fmt.Sprintf("region %d split: version %d → %d", id, was.version, got.version)})
		}
		if got.confVer > was.confVer {
			observe.Record(observe.Event{Kind: observe.EventConfChange, RegionID: id,
				Text: fmt.Sprintf("region %d membership: stores %s → %s (conf_ver %d)", id, storesOf(was.stores), storesOf(got.stores), got.confVer)})
		}
		if got.leaderStore != was.leaderStore && got.leaderStore != 0 {
			text := fmt.Sprintf("region %d leader: store %d → store %d", id, was.leaderStore, got.leaderStore)
			if was.leaderStore == 0 {
				text = fmt.Sprintf("region %d leader: store %d (none known before)", id, got.leaderStore)
			}
			observe.Record(observe.Event{Kind: observe.EventLeaderChange, RegionID: id, StoreID: got.leaderStore, Text: text})
		}
	}
	for id := range prev {
		if _, ok := cur[id]; !ok {
			observe.Record(observe.Event{Kind: observe.EventMerge, RegionID: id,
				Text: fmt.Sprintf("region %d is no longer in the cache (its range belongs to another region)", id)})
		}
	}
}
