package schedule

import "time"

// Scheduler looks at the whole cluster and proposes operators that even
// out its load (balance-leader, balance-region). The coordinator runs each
// scheduler on its own timer: again after GetMinInterval when it proposed
// an operator that was started (or refused only because its region runs
// one already), less and less often (up to MaxScheduleInterval) while it
// finds nothing to do or proposes what the operator controller refuses.
type Scheduler interface {
	// GetName names the scheduler in logs and operator descriptions.
	GetName() string
	// GetMinInterval is the shortest time between two runs.
	GetMinInterval() time.Duration
	// IsScheduleAllowed says whether the scheduler may propose an operator
	// now (its kind of operators is under its schedule limit).
	IsScheduleAllowed(cluster Cluster) bool
	// Schedule proposes an operator, or nil.
	Schedule(cluster Cluster) *Operator
}

// MaxScheduleInterval is the longest a scheduler waits between two runs.
const MaxScheduleInterval = 5 * time.Second
