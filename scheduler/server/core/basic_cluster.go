package core

import (
	"sort"
	"sync"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// BasicCluster is the stores and regions the scheduler knows, under one
// lock. It keeps every store's region and leader counts and sizes in step
// with the regions: PutRegion, RemoveRegion and PutStore refresh the
// counters of the stores involved, so GetStore always answers current ones.
// It checks nothing: deciding whether a heartbeat is stale is the caller's
// job (RaftCluster.processRegionHeartbeat).
type BasicCluster struct {
	mu      sync.RWMutex
	stores  map[uint64]*StoreInfo
	regions *RegionsInfo
}

// NewBasicCluster returns an empty cluster.
func NewBasicCluster() *BasicCluster {
	return &BasicCluster{stores: map[uint64]*StoreInfo{}, regions: NewRegionsInfo()}
}

// SetRandSeed makes the random region picks replayable (tests).
func (bc *BasicCluster) SetRandSeed(seed int64) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.regions.SetRandSeed(seed)
}

// refreshStoreLocked recomputes a known store's counters from the regions.
func (bc *BasicCluster) refreshStoreLocked(storeID uint64) {
	s, ok := bc.stores[storeID]
	if !ok {
		return
	}
	c := *s
	c.leaderCount = bc.regions.GetStoreLeaderCount(storeID)
	c.regionCount = bc.regions.GetStoreRegionCount(storeID)
	c.leaderSize = bc.regions.GetStoreLeaderRegionSize(storeID)
	c.regionSize = bc.regions.GetStoreRegionSize(storeID)
	c.pendingPeerCount = bc.regions.GetStorePendingPeerCount(storeID)
	bc.stores[storeID] = &c
}

// PutStore adds or replaces a store; its counters are taken from the
// regions, whatever the given StoreInfo says.
func (bc *BasicCluster) PutStore(store *StoreInfo) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.stores[store.GetID()] = store
	bc.refreshStoreLocked(store.GetID())
}

// GetStore returns the store with the given id, or nil.
func (bc *BasicCluster) GetStore(storeID uint64) *StoreInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.stores[storeID]
}

// GetStores returns every store (tombstones included), by id.
func (bc *BasicCluster) GetStores() []*StoreInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	out := make([]*StoreInfo, 0, len(bc.stores))
	for _, s := range bc.stores {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetID() < out[j].GetID() })
	return out
}

// GetMetaStores returns the metapb.Store of every store, by id.
func (bc *BasicCluster) GetMetaStores() []*metapb.Store {
	stores := bc.GetStores()
	out := make([]*metapb.Store, len(stores))
	for i, s := range stores {
		out[i] = s.GetMeta()
	}
	return out
}

// GetStoreCount returns how many stores are known.
func (bc *BasicCluster) GetStoreCount() int {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return len(bc.stores)
}

// PutRegion adds or replaces a region, takes out the regions its range
// overlaps, and refreshes the counters of every store that held a peer of
// any of them. It returns the regions taken out because they overlapped
// (not the previous version of the same region).
func (bc *BasicCluster) PutRegion(region *RegionInfo) []*RegionInfo {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	touched := map[uint64]struct{}{}
	if old := bc.regions.GetRegion(region.GetID()); old != nil {
		for id := range old.GetStoreIds() {
			touched[id] = struct{}{}
		}
	}
	overlaps := bc.regions.SetRegion(region)
	for _, o := range overlaps {
		for id := range o.GetStoreIds() {
			touched[id] = struct{}{}
		}
	}
	for id := range region.GetStoreIds() {
		touched[id] = struct{}{}
	}
	for id := range touched {
		bc.refreshStoreLocked(id)
	}
	return overlaps
}

// RemoveRegion takes a region out and refreshes its stores' counters.
func (bc *BasicCluster) RemoveRegion(region *RegionInfo) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	old := bc.regions.GetRegion(region.GetID())
	if old == nil {
		return
	}
	bc.regions.RemoveRegion(old)
	for id := range old.GetStoreIds() {
		bc.refreshStoreLocked(id)
	}
}

// GetRegion returns the region with the given id, or nil.
func (bc *BasicCluster) GetRegion(regionID uint64) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.GetRegion(regionID)
}

// GetRegions returns every region, in no particular order.
func (bc *BasicCluster) GetRegions() []*RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.GetRegions()
}

// GetRegionCount returns how many regions are known.
func (bc *BasicCluster) GetRegionCount() int {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.GetRegionCount()
}

// SearchRegion returns the region whose range contains key, or nil.
func (bc *BasicCluster) SearchRegion(key []byte) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.SearchRegion(key)
}

// SearchPrevRegion returns the region that ends where the region
// containing key starts, or nil.
func (bc *BasicCluster) SearchPrevRegion(key []byte) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.SearchPrevRegion(key)
}

// ScanRange returns up to limit regions (limit <= 0: all) in key order from
// the one containing start to the last one starting before end (empty end:
// to the end of the key space).
func (bc *BasicCluster) ScanRange(start, end []byte, limit int) []*RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.ScanRange(start, end, limit)
}

// GetOverlaps returns the known regions whose range overlaps region's, in
// key order.
func (bc *BasicCluster) GetOverlaps(region *RegionInfo) []*RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.GetOverlaps(region)
}

// RandLeaderRegion returns a random region led by the store, or nil.
func (bc *BasicCluster) RandLeaderRegion(storeID uint64) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.RandLeaderRegion(storeID)
}

// RandFollowerRegion returns a random region with a follower on the store, or nil.
func (bc *BasicCluster) RandFollowerRegion(storeID uint64) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.RandFollowerRegion(storeID)
}

// RandPendingRegion returns a random region whose peer on the store is
// pending, or nil.
func (bc *BasicCluster) RandPendingRegion(storeID uint64) *RegionInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	return bc.regions.RandPendingRegion(storeID)
}

// GetRegionStores returns the known stores that hold a peer of the region.
func (bc *BasicCluster) GetRegionStores(region *RegionInfo) []*StoreInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	var out []*StoreInfo
	for _, p := range region.GetPeers() {
		if s, ok := bc.stores[p.GetStoreId()]; ok {
			out = append(out, s)
		}
	}
	return out
}

// GetFollowerStores returns the known stores that hold a follower of the region.
func (bc *BasicCluster) GetFollowerStores(region *RegionInfo) []*StoreInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	var out []*StoreInfo
	for _, p := range region.GetPeers() {
		if p.GetId() == region.GetLeader().GetId() {
			continue
		}
		if s, ok := bc.stores[p.GetStoreId()]; ok {
			out = append(out, s)
		}
	}
	return out
}

// GetLeaderStore returns the store of the region's leader, or nil.
func (bc *BasicCluster) GetLeaderStore(region *RegionInfo) *StoreInfo {
	bc.mu.RLock()
	defer bc.mu.RUnlock()
	if region.GetLeader() == nil {
		return nil
	}
	return bc.stores[region.GetLeader().GetStoreId()]
}
