package core

import (
	"bytes"
	"math/rand"
	"sync"
	"time"
)

// regionSet is a set of region ids that can be picked from at random in
// constant time; it also keeps the sum of the members' sizes.
type regionSet struct {
	ids  []uint64
	pos  map[uint64]int
	size int64
}

func newRegionSet() *regionSet { return &regionSet{pos: map[uint64]int{}} }

func (s *regionSet) add(id uint64, size int64) {
	if _, ok := s.pos[id]; ok {
		return
	}
	s.pos[id] = len(s.ids)
	s.ids = append(s.ids, id)
	s.size += size
}

func (s *regionSet) remove(id uint64, size int64) {
	i, ok := s.pos[id]
	if !ok {
		return
	}
	last := s.ids[len(s.ids)-1]
	s.ids[i] = last
	s.pos[last] = i
	s.ids = s.ids[:len(s.ids)-1]
	delete(s.pos, id)
	s.size -= size
}

func (s *regionSet) len() int { return len(s.ids) }

// RegionsInfo indexes the known regions by id, by range, and per store by
// the role of the store's peer. It is not safe for concurrent use on its
// own: BasicCluster guards it.
type RegionsInfo struct {
	tree      *regionTree
	regions   map[uint64]*RegionInfo
	leaders   map[uint64]*regionSet // store id → regions it leads
	followers map[uint64]*regionSet // store id → regions it follows
	pending   map[uint64]*regionSet // store id → regions whose peer there is pending
	rnd       *lockedRand
}

// NewRegionsInfo returns an empty index.
func NewRegionsInfo() *RegionsInfo {
	return &RegionsInfo{
		tree:      newRegionTree(),
		regions:   map[uint64]*RegionInfo{},
		leaders:   map[uint64]*regionSet{},
		followers: map[uint64]*regionSet{},
		pending:   map[uint64]*regionSet{},
		rnd:       &lockedRand{rnd: rand.New(rand.NewSource(time.Now().UnixNano()))},
	}
}

func setOf(m map[uint64]*regionSet, storeID uint64) *regionSet {
	s, ok := m[storeID]
	if !ok {
		s = newRegionSet()
		m[storeID] = s
	}
	return s
}

// GetRegion returns the region with the given id, or nil.
func (r *RegionsInfo) GetRegion(regionID uint64) *RegionInfo { return r.regions[regionID] }

// SetRegion puts region in the index, replacing the region of the same id
// and taking out every region whose range it overlaps. It returns the
// overlapped regions it took out (not the one of the same id).
func (r *RegionsInfo) SetRegion(region *RegionInfo) []*RegionInfo {
	if old, ok := r.regions[region.GetID()]; ok {
		r.removeFromStores(old)
		if bytes.Equal(old.GetStartKey(), region.GetStartKey()) && bytes.Equal(old.GetEndKey(), region.GetEndKey()) {
			// The usual heartbeat: same range, so nothing else overlaps.
			r.tree.tree.ReplaceOrInsert(region)
			r.regions[region.GetID()] = region
			r.addToStores(region)
			return nil
		}
		r.tree.remove(old)
	}
	overlaps := r.tree.update(region)
	for _, o := range overlaps {
		r.removeFromStores(o)
		delete(r.regions, o.GetID())
	}
	r.regions[region.GetID()] = region
	r.addToStores(region)
	return overlaps
}

// RemoveRegion takes the region out of the index.
func (r *RegionsInfo) RemoveRegion(region *RegionInfo) {
	old, ok := r.regions[region.GetID()]
	if !ok {
		return
	}
	r.removeFromStores(old)
	r.tree.remove(old)
	delete(r.regions, old.GetID())
}

func (r *RegionsInfo) addToStores(region *RegionInfo) {
	id, size := region.GetID(), region.GetApproximateSize()
	leaderID := region.GetLeader().GetId()
	for _, p := range region.GetPeers() {
		if leaderID != 0 && p.GetId() == leaderID {
			setOf(r.leaders, p.GetStoreId()).add(id, size)
		} else {
			setOf(r.followers, p.GetStoreId()).add(id, size)
		}
	}
	for _, p := range region.GetPendingPeers() {
		setOf(r.pending, p.GetStoreId()).add(id, size)
	}
}

func (r *RegionsInfo) removeFromStores(region *RegionInfo) {
	id, size := region.GetID(), region.GetApproximateSize()
	for _, p := range region.GetPeers() {
		if s, ok := r.leaders[p.GetStoreId()]; ok {
			s.remove(id, size)
		}
		if s, ok := r.followers[p.GetStoreId()]; ok {
			s.remove(id, size)
		}
	}
	for _, p := range region.GetPendingPeers() {
		if s, ok := r.pending[p.GetStoreId()]; ok {
			s.remove(id, size)
		}
	}
}

// GetRegions returns every region, in no particular order.
func (r *RegionsInfo) GetRegions() []*RegionInfo {
	out := make([]*RegionInfo, 0, len(r.regions))
	for _, region := range r.regions {
		out = append(out, region)
	}
	return out
}

// GetRegionCount returns how many regions the index holds.
func (r *RegionsInfo) GetRegionCount() int { return len(r.regions) }

// SearchRegion returns the region whose range contains key, or nil.
func (r *RegionsInfo) SearchRegion(key []byte) *RegionInfo { return r.tree.search(key) }

// SearchPrevRegion returns the region just before the one containing key
// (the one ending where it starts), or nil.
func (r *RegionsInfo) SearchPrevRegion(key []byte) *RegionInfo { return r.tree.searchPrev(key) }

// ScanRange returns up to limit regions (limit <= 0: all) in key order from
// the one containing start to the last one starting before end (empty end:
// to the end of the key space).
func (r *RegionsInfo) ScanRange(start, end []byte, limit int) []*RegionInfo {
	return r.tree.scanRange(start, end, limit)
}

// GetOverlaps returns the regions whose range overlaps region's, in key
// order (the region itself included if it is in the index).
func (r *RegionsInfo) GetOverlaps(region *RegionInfo) []*RegionInfo {
	return r.tree.getOverlaps(region)
}

func (r *RegionsInfo) randFrom(m map[uint64]*regionSet, storeID uint64) *RegionInfo {
	s, ok := m[storeID]
	if !ok || s.len() == 0 {
		return nil
	}
	return r.regions[s.ids[r.rnd.intn(s.len())]]
}

// RandLeaderRegion returns a random region led by the store, or nil.
func (r *RegionsInfo) RandLeaderRegion(storeID uint64) *RegionInfo {
	return r.randFrom(r.leaders, storeID)
}

// RandFollowerRegion returns a random region with a follower on the store, or nil.
func (r *RegionsInfo) RandFollowerRegion(storeID uint64) *RegionInfo {
	return r.randFrom(r.followers, storeID)
}

// RandPendingRegion returns a random region whose peer on the store is
// pending, or nil.
func (r *RegionsInfo) RandPendingRegion(storeID uint64) *RegionInfo {
	return r.randFrom(r.pending, storeID)
}

// SetRandSeed makes the random picks replayable.
func (r *RegionsInfo) SetRandSeed(seed int64) {
	r.rnd.mu.Lock()
	defer r.rnd.mu.Unlock()
	r.rnd.rnd = rand.New(rand.NewSource(seed))
}

// GetStoreLeaderCount returns how many regions the store leads.
func (r *RegionsInfo) GetStoreLeaderCount(storeID uint64) int { return lenOf(r.leaders, storeID) }

// GetStoreFollowerCount returns how many regions have a follower on the store.
func (r *RegionsInfo) GetStoreFollowerCount(storeID uint64) int { return lenOf(r.followers, storeID) }

// GetStoreRegionCount returns how many regions have a peer on the store.
func (r *RegionsInfo) GetStoreRegionCount(storeID uint64) int {
	return r.GetStoreLeaderCount(storeID) + r.GetStoreFollowerCount(storeID)
}

// GetStorePendingPeerCount returns how many of the store's peers are pending.
func (r *RegionsInfo) GetStorePendingPeerCount(storeID uint64) int { return lenOf(r.pending, storeID) }

// GetStoreLeaderRegionSize returns the total size of the regions the store leads.
func (r *RegionsInfo) GetStoreLeaderRegionSize(storeID uint64) int64 {
	return sizeOf(r.leaders, storeID)
}

// GetStoreRegionSize returns the total size of the regions with a peer on the store.
func (r *RegionsInfo) GetStoreRegionSize(storeID uint64) int64 {
	return sizeOf(r.leaders, storeID) + sizeOf(r.followers, storeID)
}

func lenOf(m map[uint64]*regionSet, storeID uint64) int {
	if s, ok := m[storeID]; ok {
		return s.len()
	}
	return 0
}

func sizeOf(m map[uint64]*regionSet, storeID uint64) int64 {
	if s, ok := m[storeID]; ok {
		return s.size
	}
	return 0
}

// lockedRand is a random source safe for concurrent use: random picks happen
// under BasicCluster's read lock, by several goroutines at once.
type lockedRand struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func (l *lockedRand) intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rnd.Intn(n)
}
