package client

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/golang/protobuf/proto"
	"github.com/google/btree"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// Location is where a region lives as far as the cache knows: the region
// (range, epoch, peers) and the peer believed to lead it. Both are copies
// the caller may keep.
type Location struct {
	Region *metapb.Region
	Leader *metapb.Peer
}

// Contains reports whether key lies in the location's region.
func (l *Location) Contains(key []byte) bool {
	return inRegion(key, l.Region)
}

func inRegion(key []byte, region *metapb.Region) bool {
	return bytes.Compare(key, region.StartKey) >= 0 &&
		(len(region.EndKey) == 0 || bytes.Compare(key, region.EndKey) < 0)
}

// cachedRegion is one region in the cache with the peer requests go to.
type cachedRegion struct {
	region *metapb.Region
	leader *metapb.Peer // never nil: a peer of region
}

// RegionCache keeps the regions the client has learnt, by start key, and
// asks the scheduler for the ones it lacks. Region errors from the stores
// correct it: a new leader, a region gone or split. It is safe for
// concurrent use.
type RegionCache struct {
	sched Scheduler

	mu   sync.Mutex
	tree *btree.BTreeG[*cachedRegion] // by start key; no two overlap
	byID map[uint64]*cachedRegion
}

func newRegionCache(sched Scheduler) *RegionCache {
	less := func(a, b *cachedRegion) bool { return bytes.Compare(a.region.StartKey, b.region.StartKey) < 0 }
	return &RegionCache{sched: sched, tree: btree.NewG(8, less), byID: make(map[uint64]*cachedRegion)}
}

// Locate returns the location of the region holding key, from the cache or
// else from the scheduler.
func (rc *RegionCache) Locate(ctx context.Context, key []byte) (*Location, error) {
	if loc := rc.lookup(key); loc != nil {
		return loc, nil
	}
	region, leader, err := rc.sched.GetRegion(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("asking the scheduler for the region of key %q: %v", key, err)
	}
	if region == nil || region.Id == 0 {
		// Normal for a moment after a split: the scheduler has not heard
		// of the new region yet.
		return nil, fmt.Errorf("the scheduler knows no region for key %q yet", key)
	}
	if !inRegion(key, region) {
		return nil, fmt.Errorf("the scheduler answered region %d [%q, %q) for key %q, which is outside it",
			region.Id, region.StartKey, region.EndKey, key)
	}
	return rc.insert(region, leader), nil
}

// lookup answers from the cache only; nil when key's region is not cached.
func (rc *RegionCache) lookup(key []byte) *Location {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var found *cachedRegion
	rc.tree.DescendLessOrEqual(&cachedRegion{region: &metapb.Region{StartKey: key}}, func(r *cachedRegion) bool {
		found = r
		return false
	})
	if found == nil || !inRegion(key, found.region) {
		return nil
	}
	return found.location()
}

func (r *cachedRegion) location() *Location {
	return &Location{Region: proto.Clone(r.region).(*metapb.Region), Leader: proto.Clone(r.leader).(*metapb.Peer)}
}

// insert caches region (dropping every cached region it overlaps) with
// leader, or with its first peer when the leader is unknown.
func (rc *RegionCache) insert(region *metapb.Region, leader *metapb.Peer) *Location {
	region = proto.Clone(region).(*metapb.Region)
	entry := &cachedRegion{region: region, leader: pickLeader(region, leader)}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if old, ok := rc.byID[region.Id]; ok {
		rc.removeLocked(old)
	}
	var overlapped []*cachedRegion
	rc.tree.DescendLessOrEqual(&cachedRegion{region: &metapb.Region{StartKey: region.StartKey}}, func(r *cachedRegion) bool {
		if len(r.region.EndKey) == 0 || bytes.Compare(r.region.EndKey, region.StartKey) > 0 {
			overlapped = append(overlapped, r)
		}
		return false
	})
	rc.tree.AscendGreaterOrEqual(&cachedRegion{region: &metapb.Region{StartKey: region.StartKey}}, func(r *cachedRegion) bool {
		if len(region.EndKey) > 0 && bytes.Compare(r.region.StartKey, region.EndKey) >= 0 {
			return false
		}
		overlapped = append(overlapped, r)
		return true
	})
	for _, r := range overlapped {
		rc.removeLocked(r)
	}
	rc.tree.ReplaceOrInsert(entry)
	rc.byID[region.Id] = entry
	return entry.location()
}

func (rc *RegionCache) removeLocked(r *cachedRegion) {
	rc.tree.Delete(r)
	if rc.byID[r.region.Id] == r {
		delete(rc.byID, r.region.Id)
	}
}

// pickLeader is leader when it is a peer of region, else the first peer.
func pickLeader(region *metapb.Region, leader *metapb.Peer) *metapb.Peer {
	if p := findPeer(region, leader.GetId(), leader.GetStoreId()); p != nil {
		return proto.Clone(p).(*metapb.Peer)
	}
	if len(region.Peers) > 0 {
		return proto.Clone(region.Peers[0]).(*metapb.Peer)
	}
	return &metapb.Peer{}
}

// findPeer finds the peer of region with id (or, when id is 0, on storeID).
func findPeer(region *metapb.Region, id, storeID uint64) *metapb.Peer {
	for _, p := range region.Peers {
		if (id != 0 && p.Id == id) || (id == 0 && storeID != 0 && p.StoreId == storeID) {
			return p
		}
	}
	return nil
}

// Invalidate forgets a region; the next request for its keys asks the
// scheduler.
func (rc *RegionCache) Invalidate(regionID uint64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r, ok := rc.byID[regionID]; ok {
		rc.removeLocked(r)
	}
}

// UpdateLeader records leader as the leader of a cached region and reports
// whether it could; a leader that is not a peer of the cached region makes
// the region stale, so it is forgotten.
func (rc *RegionCache) UpdateLeader(regionID uint64, leader *metapb.Peer) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r, ok := rc.byID[regionID]
	if !ok {
		return false
	}
	p := findPeer(r.region, leader.GetId(), leader.GetStoreId())
	if p == nil {
		rc.removeLocked(r)
		return false
	}
	r.leader = proto.Clone(p).(*metapb.Peer)
	return true
}

// NextPeer moves a region's requests from the peer on failedStore to the
// next peer of the region, for when that store does not answer or does not
// know the leader.
func (rc *RegionCache) NextPeer(regionID, failedStore uint64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r, ok := rc.byID[regionID]
	if !ok || len(r.region.Peers) == 0 || r.leader.StoreId != failedStore {
		return
	}
	for i, p := range r.region.Peers {
		if p.Id == r.leader.Id {
			r.leader = proto.Clone(r.region.Peers[(i+1)%len(r.region.Peers)]).(*metapb.Peer)
			return
		}
	}
	r.leader = proto.Clone(r.region.Peers[0]).(*metapb.Peer)
}

// OnEpochNotMatch replaces a region with the current regions a store
// listed, led by the peer on that store (which answered as their leader).
func (rc *RegionCache) OnEpochNotMatch(regionID, storeID uint64, current []*metapb.Region) {
	rc.Invalidate(regionID)
	for _, region := range current {
		if region.GetId() == 0 || region.RegionEpoch == nil {
			continue
		}
		rc.insert(region, findPeer(region, 0, storeID))
	}
}
