package schedulers

import (
	"sort"
	"time"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

const (
	balanceRegionName = "balance-region"
	// balanceRegionRetryLimit is how many regions of one store are tried.
	balanceRegionRetryLimit = 10
)

// balanceRegionScheduler moves peers from the stores that hold the most
// region data to the stores that hold the least.
type balanceRegionScheduler struct {
	oc *schedule.OperatorController
}

// NewBalanceRegionScheduler returns the balance-region scheduler.
func NewBalanceRegionScheduler(oc *schedule.OperatorController) schedule.Scheduler {
	return &balanceRegionScheduler{oc: oc}
}

func (s *balanceRegionScheduler) GetName() string { return balanceRegionName }

func (s *balanceRegionScheduler) GetMinInterval() time.Duration { return 10 * time.Millisecond }

func (s *balanceRegionScheduler) IsScheduleAllowed(cluster schedule.Cluster) bool {
	return s.oc.OperatorCount(schedule.OpRegion) < cluster.GetRegionScheduleLimit()
}

// Schedule proposes moving one peer to even out region sizes, or returns nil.
//
// Suitable stores are Up and sent a heartbeat within max-store-down-time.
// Try the suitable stores as sources in descending region size. On a
// source, pick a region at random: one whose peer there is pending if there
// is any, else one it follows, else one it leads. Skip regions with fewer
// peers than max-replicas. The target is the suitable store with the
// smallest region size that holds no peer of the region. Move only when the
// source's region size exceeds the target's by more than twice the region's
// approximate size (otherwise the move would just swap their places); the
// operator adds a peer on the target, moves the leadership off the source if
// it is there, and removes the source's peer (schedule.CreateMovePeerOperator).
func (s *balanceRegionScheduler) Schedule(cluster schedule.Cluster) *schedule.Operator {
	// Your Code Here (3C).
	//lab:begin 3C
	stores := schedule.SelectSourceStores(cluster, cluster.GetStores(), []schedule.Filter{schedule.NewHealthFilter()})
	if len(stores) < 2 {
		return nil
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].GetRegionSize() > stores[j].GetRegionSize() })
	pick := func(storeID uint64) *core.RegionInfo {
		if r := cluster.RandPendingRegion(storeID); r != nil {
			return r
		}
		if r := cluster.RandFollowerRegion(storeID); r != nil {
			return r
		}
		return cluster.RandLeaderRegion(storeID)
	}
	for _, source := range stores {
		for i := 0; i < balanceRegionRetryLimit; i++ {
			region := pick(source.GetID())
			if region == nil {
				break
			}
			if len(region.GetPeers()) < cluster.GetMaxReplicas() {
				continue
			}
			var target *core.StoreInfo
			for _, store := range stores {
				if region.GetStorePeer(store.GetID()) == nil && (target == nil || store.GetRegionSize() < target.GetRegionSize()) {
					target = store
				}
			}
			if target == nil || source.GetRegionSize()-target.GetRegionSize() <= 2*region.GetApproximateSize() {
				continue
			}
			peer, err := cluster.AllocPeer(target.GetID())
			if err != nil {
				log.Warnf("[balance-region] region=%d alloc-peer store=%d error=%q", region.GetID(), target.GetID(), err)
				return nil
			}
			op, err := schedule.CreateMovePeerOperator(balanceRegionName, cluster, region, schedule.OpBalance,
				source.GetID(), target.GetID(), peer.GetId())
			if err != nil {
				log.Warnf("[balance-region] region=%d move from=%d to=%d error=%q", region.GetID(), source.GetID(), target.GetID(), err)
				continue
			}
			return op
		}
	}
	return nil
	//lab:else
	//	return nil
	//lab:end
}
