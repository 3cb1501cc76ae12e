package schedule

import (
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// Options are the settings checkers and schedulers read on every run.
// *config.ScheduleOption implements them.
type Options interface {
	GetMaxReplicas() int
	GetMaxStoreDownTime() time.Duration
	GetStoreDisconnectTime() time.Duration
	GetLeaderScheduleLimit() uint64
	GetRegionScheduleLimit() uint64
	GetReplicaScheduleLimit() uint64
	GetPatrolRegionInterval() time.Duration
}

// Cluster is what a checker or a scheduler needs of the cluster: the stores
// and regions (as *core.BasicCluster answers them), new peer ids, and the
// settings. The server's RaftCluster implements it by embedding
// *core.BasicCluster and *config.ScheduleOption and adding AllocPeer.
type Cluster interface {
	Options

	GetStores() []*core.StoreInfo
	GetStore(storeID uint64) *core.StoreInfo
	GetRegion(regionID uint64) *core.RegionInfo
	GetRegionStores(region *core.RegionInfo) []*core.StoreInfo
	GetFollowerStores(region *core.RegionInfo) []*core.StoreInfo
	GetLeaderStore(region *core.RegionInfo) *core.StoreInfo
	ScanRange(start, end []byte, limit int) []*core.RegionInfo
	RandLeaderRegion(storeID uint64) *core.RegionInfo
	RandFollowerRegion(storeID uint64) *core.RegionInfo
	RandPendingRegion(storeID uint64) *core.RegionInfo

	// AllocPeer returns a new peer, with a fresh id, on the given store.
	AllocPeer(storeID uint64) (*metapb.Peer, error)
}
