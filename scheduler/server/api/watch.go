package api

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
)

const (
	// watchInterval is how often the watcher compares the cluster with what
	// it saw last.
	watchInterval = 500 * time.Millisecond
	// defaultDisconnect is how long a store may go without a heartbeat
	// before it shows as Disconnected while its heartbeat interval is
	// unknown; once two heartbeats were seen, three intervals (and a
	// second) are allowed instead.
	defaultDisconnect = 20 * time.Second
)

// watcher notices what changes in the cluster the member serves (splits,
// membership and leader changes, stores going down or coming back) and
// records it as events; it also keeps each store's heartbeat interval,
// from which a store's Disconnected state is judged.
type watcher struct {
	srv *server.Server

	mu       sync.Mutex
	regions  map[uint64]regionSeen // nil: nothing seen since leading began
	stores   map[uint64]storeSeen
	interval map[uint64]time.Duration
}

type regionSeen struct {
	version, confVer uint64
	leaderStore      uint64
	stores           []uint64
}

type storeSeen struct {
	lastHeartbeat time.Time
	state         string
}

func newWatcher(srv *server.Server) *watcher {
	return &watcher{srv: srv, stores: map[uint64]storeSeen{}, interval: map[uint64]time.Duration{}}
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

// stateName is what the scheduler makes of a store now.
func (w *watcher) stateName(s *core.StoreInfo, maxDown time.Duration, now time.Time) string {
	switch s.GetState() {
	case metapb.StoreState_Offline:
		return "Offline"
	case metapb.StoreState_Tombstone:
		return "Tombstone"
	}
	since := now.Sub(s.GetLastHeartbeatTS())
	if since > maxDown {
		return "Down"
	}
	w.mu.Lock()
	iv := w.interval[s.GetID()]
	w.mu.Unlock()
	limit := defaultDisconnect
	if iv > 0 {
		limit = 3*iv + time.Second
	}
	if since > limit {
		return "Disconnected"
	}
	return "Up"
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
	maxDown := c.GetMaxStoreDownTime()
	for _, s := range c.GetStores() {
		id := s.GetID()
		w.mu.Lock()
		seen, ok := w.stores[id]
		if ok && s.GetLastHeartbeatTS().After(seen.lastHeartbeat) && !seen.lastHeartbeat.IsZero() {
			w.interval[id] = s.GetLastHeartbeatTS().Sub(seen.lastHeartbeat)
		}
		w.mu.Unlock()
		state := w.stateName(s, maxDown, now)
		if ok && state != seen.state {
			kind := observe.EventStoreState
			switch {
			case state == "Down" || state == "Disconnected":
				kind = observe.EventStoreDown
			case state == "Up":
				kind = observe.EventStoreUp
			}
			observe.Record(observe.Event{Kind: kind, StoreID: id,
				Text: fmt.Sprintf("store %d (%s) %s → %s, last heartbeat %v ago", id, s.GetAddress(), seen.state, state,
					now.Sub(s.GetLastHeartbeatTS()).Round(100*time.Millisecond))})
		}
		w.mu.Lock()
		w.stores[id] = storeSeen{lastHeartbeat: s.GetLastHeartbeatTS(), state: state}
		w.mu.Unlock()
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
