package core

import (
	"bytes"
	"fmt"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// RegionInfo is a region as the scheduler knows it. It never changes once
// made: use Clone with options to derive an updated copy.
type RegionInfo struct {
	meta            *metapb.Region
	leader          *metapb.Peer
	pendingPeers    []*metapb.Peer
	downPeers       []*metapb.Peer
	approximateSize int64
}

// RegionCreateOption changes a RegionInfo while it is being made.
type RegionCreateOption func(region *RegionInfo)

// NewRegionInfo makes a RegionInfo of a region and its leader (nil when
// unknown). The region is used as it is, not copied.
func NewRegionInfo(region *metapb.Region, leader *metapb.Peer, opts ...RegionCreateOption) *RegionInfo {
	r := &RegionInfo{meta: region, leader: leader}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// RegionFromHeartbeat makes a RegionInfo of what a region heartbeat reports.
// A heartbeat without a region gives a RegionInfo with an empty region (id 0),
// which the caller must refuse.
func RegionFromHeartbeat(req *schedulerpb.RegionHeartbeatRequest) *RegionInfo {
	region := req.GetRegion()
	if region == nil {
		region = &metapb.Region{}
	}
	return &RegionInfo{
		meta:            region,
		leader:          req.GetLeader(),
		pendingPeers:    req.GetPendingPeers(),
		approximateSize: int64(req.GetApproximateSize()),
	}
}

// Clone returns a deep copy of the region with the options applied.
func (r *RegionInfo) Clone(opts ...RegionCreateOption) *RegionInfo {
	c := &RegionInfo{
		meta:            proto.Clone(r.meta).(*metapb.Region),
		leader:          clonePeer(r.leader),
		pendingPeers:    clonePeers(r.pendingPeers),
		downPeers:       clonePeers(r.downPeers),
		approximateSize: r.approximateSize,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func clonePeer(p *metapb.Peer) *metapb.Peer {
	if p == nil {
		return nil
	}
	return &metapb.Peer{Id: p.Id, StoreId: p.StoreId}
}

func clonePeers(peers []*metapb.Peer) []*metapb.Peer {
	if peers == nil {
		return nil
	}
	out := make([]*metapb.Peer, len(peers))
	for i, p := range peers {
		out[i] = clonePeer(p)
	}
	return out
}

// GetID returns the region id.
func (r *RegionInfo) GetID() uint64 { return r.meta.GetId() }

// GetMeta returns the region's metapb.Region; callers must not change it.
func (r *RegionInfo) GetMeta() *metapb.Region { return r.meta }

// GetLeader returns the leader peer, nil when unknown.
func (r *RegionInfo) GetLeader() *metapb.Peer { return r.leader }

// GetPeers returns the region's peers.
func (r *RegionInfo) GetPeers() []*metapb.Peer { return r.meta.GetPeers() }

// GetPeer returns the peer with the given id, or nil.
func (r *RegionInfo) GetPeer(peerID uint64) *metapb.Peer {
	for _, p := range r.meta.GetPeers() {
		if p.GetId() == peerID {
			return p
		}
	}
	return nil
}

// GetStorePeer returns the region's peer on the given store, or nil.
func (r *RegionInfo) GetStorePeer(storeID uint64) *metapb.Peer {
	for _, p := range r.meta.GetPeers() {
		if p.GetStoreId() == storeID {
			return p
		}
	}
	return nil
}

// GetStoreIds returns the ids of the stores that hold a peer of the region.
func (r *RegionInfo) GetStoreIds() map[uint64]struct{} {
	ids := make(map[uint64]struct{}, len(r.meta.GetPeers()))
	for _, p := range r.meta.GetPeers() {
		ids[p.GetStoreId()] = struct{}{}
	}
	return ids
}

// GetFollowers returns the peers that are not the leader, by store id.
func (r *RegionInfo) GetFollowers() map[uint64]*metapb.Peer {
	followers := make(map[uint64]*metapb.Peer, len(r.meta.GetPeers()))
	for _, p := range r.meta.GetPeers() {
		if p.GetId() != r.leader.GetId() {
			followers[p.GetStoreId()] = p
		}
	}
	return followers
}

// GetFollower returns one follower (the first in peer order), or nil.
func (r *RegionInfo) GetFollower() *metapb.Peer {
	for _, p := range r.meta.GetPeers() {
		if p.GetId() != r.leader.GetId() {
			return p
		}
	}
	return nil
}

// GetPendingPeers returns the peers whose log lags the leader's.
func (r *RegionInfo) GetPendingPeers() []*metapb.Peer { return r.pendingPeers }

// GetPendingPeer returns the pending peer with the given id, or nil.
func (r *RegionInfo) GetPendingPeer(peerID uint64) *metapb.Peer {
	for _, p := range r.pendingPeers {
		if p.GetId() == peerID {
			return p
		}
	}
	return nil
}

// GetDownPeers returns the peers known to be down.
func (r *RegionInfo) GetDownPeers() []*metapb.Peer { return r.downPeers }

// GetDownPeer returns the down peer with the given id, or nil.
func (r *RegionInfo) GetDownPeer(peerID uint64) *metapb.Peer {
	for _, p := range r.downPeers {
		if p.GetId() == peerID {
			return p
		}
	}
	return nil
}

// GetApproximateSize returns the region's approximate size in bytes.
func (r *RegionInfo) GetApproximateSize() int64 { return r.approximateSize }

// GetRegionEpoch returns the region's epoch.
func (r *RegionInfo) GetRegionEpoch() *metapb.RegionEpoch { return r.meta.GetRegionEpoch() }

// GetStartKey returns the first key of the region's range.
func (r *RegionInfo) GetStartKey() []byte { return r.meta.GetStartKey() }

// GetEndKey returns the end of the region's range (exclusive; empty: no end).
func (r *RegionInfo) GetEndKey() []byte { return r.meta.GetEndKey() }

// ContainsKey says whether key falls in the region's range.
func (r *RegionInfo) ContainsKey(key []byte) bool {
	return bytes.Compare(key, r.GetStartKey()) >= 0 &&
		(len(r.GetEndKey()) == 0 || bytes.Compare(key, r.GetEndKey()) < 0)
}

// String describes the region in one line for logs and test failures.
func (r *RegionInfo) String() string {
	if r == nil {
		return "region <nil>"
	}
	epoch := r.GetRegionEpoch()
	return fmt.Sprintf("region %d [%q, %q) epoch conf_ver=%d version=%d peers=%v leader=%v pending=%v size=%d",
		r.GetID(), r.GetStartKey(), r.GetEndKey(), epoch.GetConfVer(), epoch.GetVersion(),
		r.GetPeers(), r.leader, r.pendingPeers, r.approximateSize)
}

// WithLeader sets the leader.
func WithLeader(leader *metapb.Peer) RegionCreateOption {
	return func(r *RegionInfo) { r.leader = leader }
}

// WithPendingPeers sets the pending peers.
func WithPendingPeers(peers []*metapb.Peer) RegionCreateOption {
	return func(r *RegionInfo) { r.pendingPeers = peers }
}

// WithDownPeers sets the down peers.
func WithDownPeers(peers []*metapb.Peer) RegionCreateOption {
	return func(r *RegionInfo) { r.downPeers = peers }
}

// SetApproximateSize sets the approximate size in bytes.
func SetApproximateSize(size int64) RegionCreateOption {
	return func(r *RegionInfo) { r.approximateSize = size }
}

// WithStartKey sets the start of the range.
func WithStartKey(key []byte) RegionCreateOption {
	return func(r *RegionInfo) { r.meta.StartKey = key }
}

// WithEndKey sets the end of the range.
func WithEndKey(key []byte) RegionCreateOption {
	return func(r *RegionInfo) { r.meta.EndKey = key }
}

// WithIncVersion adds 1 to the epoch's version (a split or merge).
func WithIncVersion() RegionCreateOption {
	return func(r *RegionInfo) {
		if r.meta.RegionEpoch == nil {
			r.meta.RegionEpoch = &metapb.RegionEpoch{}
		}
		r.meta.RegionEpoch.Version++
	}
}

// WithIncConfVer adds 1 to the epoch's conf_ver (a membership change).
func WithIncConfVer() RegionCreateOption {
	return func(r *RegionInfo) {
		if r.meta.RegionEpoch == nil {
			r.meta.RegionEpoch = &metapb.RegionEpoch{}
		}
		r.meta.RegionEpoch.ConfVer++
	}
}

// WithAddPeer adds a peer (a membership change: conf_ver + 1); the new peer
// is pending until a later heartbeat says otherwise.
func WithAddPeer(peer *metapb.Peer) RegionCreateOption {
	return func(r *RegionInfo) {
		r.meta.Peers = append(r.meta.Peers, peer)
		r.pendingPeers = append(r.pendingPeers, peer)
		WithIncConfVer()(r)
	}
}

// WithRemoveStorePeer removes the peer on a store (a membership change:
// conf_ver + 1), also from the pending and down peers.
func WithRemoveStorePeer(storeID uint64) RegionCreateOption {
	return func(r *RegionInfo) {
		keep := func(peers []*metapb.Peer) []*metapb.Peer {
			var out []*metapb.Peer
			for _, p := range peers {
				if p.GetStoreId() != storeID {
					out = append(out, p)
				}
			}
			return out
		}
		r.meta.Peers = keep(r.meta.Peers)
		r.pendingPeers = keep(r.pendingPeers)
		r.downPeers = keep(r.downPeers)
		WithIncConfVer()(r)
	}
}
