package schedulers

import (
	"sort"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

const (
	balanceLeaderName = "balance-leader"
	// balanceLeaderRetryLimit is how many leaders of one store are tried.
	balanceLeaderRetryLimit = 10
)

// balanceLeaderScheduler moves leaders from the stores that lead the most
// regions to followers on stores that lead the fewest.
type balanceLeaderScheduler struct {
	oc *schedule.OperatorController
}

// NewBalanceLeaderScheduler returns the balance-leader scheduler.
func NewBalanceLeaderScheduler(oc *schedule.OperatorController) schedule.Scheduler {
	return &balanceLeaderScheduler{oc: oc}
}

func (s *balanceLeaderScheduler) GetName() string { return balanceLeaderName }

func (s *balanceLeaderScheduler) GetMinInterval() time.Duration { return 10 * time.Millisecond }

func (s *balanceLeaderScheduler) IsScheduleAllowed(cluster schedule.Cluster) bool {
	return s.oc.OperatorCount(schedule.OpLeader) < cluster.GetLeaderScheduleLimit()
}

// Schedule takes the healthy stores in descending leader count and, for the
// first that can give one away, transfers a random leader of it to the
// follower store with the fewest leaders, when that evens them out: the
// source leads at least two more regions than the target. A disconnected
// store (silent past store-disconnect-time) may give leaders away but gets
// none: a transfer to a store that does not answer aborts, and the same
// region would be tried again and again.
func (s *balanceLeaderScheduler) Schedule(cluster schedule.Cluster) *schedule.Operator {
	stores := schedule.SelectSourceStores(cluster, cluster.GetStores(), []schedule.Filter{schedule.NewHealthFilter()})
	sort.Slice(stores, func(i, j int) bool { return stores[i].GetLeaderCount() > stores[j].GetLeaderCount() })
	for _, source := range stores {
		for i := 0; i < balanceLeaderRetryLimit; i++ {
			region := cluster.RandLeaderRegion(source.GetID())
			if region == nil {
				break
			}
			target := s.selectTarget(cluster, region)
			if target == nil || source.GetLeaderCount()-target.GetLeaderCount() < 2 {
				continue
			}
			return schedule.CreateTransferLeaderOperator(balanceLeaderName, region, source.GetID(), target.GetID(), schedule.OpBalance)
		}
	}
	return nil
}

// selectTarget returns the follower store of the region with the fewest
// leaders whose peer has caught up and that can receive the leadership
// (schedule.CanReceive: healthy, not disconnected), or nil.
func (s *balanceLeaderScheduler) selectTarget(cluster schedule.Cluster, region *core.RegionInfo) *core.StoreInfo {
	var best *core.StoreInfo
	for _, store := range cluster.GetFollowerStores(region) {
		if !schedule.CanReceive(cluster, store) || region.GetPendingPeer(region.GetStorePeer(store.GetID()).GetId()) != nil {
			continue
		}
		if best == nil || store.GetLeaderCount() < best.GetLeaderCount() {
			best = store
		}
	}
	return best
}
