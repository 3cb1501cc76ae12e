// Package schedulers holds the schedulers that even out the cluster's load:
// balance-leader (leaders spread over the stores) and balance-region
// (region sizes spread over the stores; project 3C). AddDefaults gives a
// coordinator both.
package schedulers

import "github.com/tinykv-lab/tinykv/scheduler/server/schedule"

// AddDefaults adds balance-leader and balance-region to the coordinator.
func AddDefaults(c *schedule.Coordinator) {
	oc := c.GetOperatorController()
	c.AddScheduler(NewBalanceLeaderScheduler(oc), NewBalanceRegionScheduler(oc))
}
