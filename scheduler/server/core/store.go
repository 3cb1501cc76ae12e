package core

import (
	"fmt"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// StoreInfo is a store as the scheduler knows it. It never changes once
// made: use Clone with options to derive an updated copy.
type StoreInfo struct {
	meta             *metapb.Store
	stats            *schedulerpb.StoreStats
	lastHeartbeatTS  time.Time
	leaderCount      int
	regionCount      int
	leaderSize       int64
	regionSize       int64
	pendingPeerCount int
}

// StoreCreateOption changes a StoreInfo while it is being made.
type StoreCreateOption func(store *StoreInfo)

// NewStoreInfo makes a StoreInfo of a store. Its last heartbeat counts as
// now: a store the scheduler has just learnt of (registered, or loaded after
// a restart) gets max-store-down-time to send its first heartbeat before it
// is taken for down. The store is used as it is, not copied.
func NewStoreInfo(store *metapb.Store, opts ...StoreCreateOption) *StoreInfo {
	s := &StoreInfo{
		meta:            store,
		stats:           &schedulerpb.StoreStats{},
		lastHeartbeatTS: time.Now(),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Clone returns a copy of the store with the options applied.
func (s *StoreInfo) Clone(opts ...StoreCreateOption) *StoreInfo {
	c := *s
	c.meta = proto.Clone(s.meta).(*metapb.Store)
	for _, opt := range opts {
		opt(&c)
	}
	return &c
}

// GetID returns the store id.
func (s *StoreInfo) GetID() uint64 { return s.meta.GetId() }

// GetMeta returns the store's metapb.Store; callers must not change it.
func (s *StoreInfo) GetMeta() *metapb.Store { return s.meta }

// GetAddress returns the store's address.
func (s *StoreInfo) GetAddress() string { return s.meta.GetAddress() }

// GetState returns the store's state.
func (s *StoreInfo) GetState() metapb.StoreState { return s.meta.GetState() }

// IsUp says whether the store is in service.
func (s *StoreInfo) IsUp() bool { return s.GetState() == metapb.StoreState_Up }

// IsOffline says whether the store is being taken out of service (its
// regions are to move elsewhere).
func (s *StoreInfo) IsOffline() bool { return s.GetState() == metapb.StoreState_Offline }

// IsTombstone says whether the store is out of service for good.
func (s *StoreInfo) IsTombstone() bool { return s.GetState() == metapb.StoreState_Tombstone }

// GetStoreStats returns the last statistics the store sent (empty before
// its first heartbeat); callers must not change them.
func (s *StoreInfo) GetStoreStats() *schedulerpb.StoreStats { return s.stats }

// GetCapacity returns the store's capacity in bytes, as last reported.
func (s *StoreInfo) GetCapacity() uint64 { return s.stats.GetCapacity() }

// GetAvailable returns the store's free space in bytes, as last reported.
func (s *StoreInfo) GetAvailable() uint64 { return s.stats.GetAvailable() }

// IsBusy says whether the store reported itself busy.
func (s *StoreInfo) IsBusy() bool { return s.stats.GetIsBusy() }

// GetLastHeartbeatTS returns when the store last sent a heartbeat.
func (s *StoreInfo) GetLastHeartbeatTS() time.Time { return s.lastHeartbeatTS }

// DownTime returns how long ago the store last sent a heartbeat.
func (s *StoreInfo) DownTime() time.Duration { return time.Since(s.lastHeartbeatTS) }

// IsDisconnected says whether the store has sent no heartbeat for longer
// than disconnectTime (schedule.store-disconnect-time, 20 s by default as in
// PD): it may be restarting or cut off for a moment, so it keeps its peers,
// but it must get no new peer and no leadership until it is heard from
// again. A store silent for max-store-down-time is down as well.
func (s *StoreInfo) IsDisconnected(disconnectTime time.Duration) bool {
	return s.DownTime() > disconnectTime
}

// GetLeaderCount returns how many regions the store leads.
func (s *StoreInfo) GetLeaderCount() int { return s.leaderCount }

// GetRegionCount returns how many regions have a peer on the store.
func (s *StoreInfo) GetRegionCount() int { return s.regionCount }

// GetLeaderSize returns the total approximate size of the regions the store leads.
func (s *StoreInfo) GetLeaderSize() int64 { return s.leaderSize }

// GetRegionSize returns the total approximate size of the regions with a
// peer on the store.
func (s *StoreInfo) GetRegionSize() int64 { return s.regionSize }

// GetPendingPeerCount returns how many of the store's peers are pending.
func (s *StoreInfo) GetPendingPeerCount() int { return s.pendingPeerCount }

// String describes the store in one line for logs and test failures.
func (s *StoreInfo) String() string {
	if s == nil {
		return "store <nil>"
	}
	return fmt.Sprintf("store %d (%s, %v, last heartbeat %v ago) regions=%d size=%d leaders=%d leader_size=%d pending=%d",
		s.GetID(), s.GetAddress(), s.GetState(), s.DownTime().Round(time.Millisecond),
		s.regionCount, s.regionSize, s.leaderCount, s.leaderSize, s.pendingPeerCount)
}

// SetStoreState sets the store's state.
func SetStoreState(state metapb.StoreState) StoreCreateOption {
	return func(s *StoreInfo) { s.meta.State = state }
}

// SetStoreStats sets the statistics of the store's latest heartbeat.
func SetStoreStats(stats *schedulerpb.StoreStats) StoreCreateOption {
	return func(s *StoreInfo) {
		if stats == nil {
			stats = &schedulerpb.StoreStats{}
		}
		s.stats = stats
	}
}

// SetLastHeartbeatTS sets when the store last sent a heartbeat.
func SetLastHeartbeatTS(t time.Time) StoreCreateOption {
	return func(s *StoreInfo) { s.lastHeartbeatTS = t }
}
