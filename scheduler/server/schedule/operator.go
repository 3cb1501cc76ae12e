package schedule

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// OpKind says what an operator moves and who made it; the schedule limits
// count running operators by kind.
type OpKind uint32

const (
	// OpLeader: the operator transfers leadership.
	OpLeader OpKind = 1 << iota
	// OpRegion: the operator moves a peer from one store to another.
	OpRegion
	// OpReplica: the operator repairs the number or placement of replicas
	// (the replica checker's).
	OpReplica
	// OpBalance: the operator evens out load (a balance scheduler's).
	OpBalance
	// OpAdmin: someone asked for the operator by hand.
	OpAdmin
)

var opKindNames = []string{"leader", "region", "replica", "balance", "admin"}

func (k OpKind) String() string {
	var names []string
	for i, name := range opKindNames {
		if k&(1<<uint(i)) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "unknown"
	}
	return strings.Join(names, ",")
}

// PriorityLevel orders operators of one region: a new operator replaces a
// running one only with a higher priority.
type PriorityLevel int

const (
	LowPriority PriorityLevel = iota
	NormalPriority
	HighPriority
)

// How long an operator may run before it is given up.
const (
	// LeaderOperatorWaitTime bounds operators that only transfer leadership.
	LeaderOperatorWaitTime = 10 * time.Second
	// RegionOperatorWaitTime bounds operators that add or remove peers
	// (an added peer waits for a snapshot).
	RegionOperatorWaitTime = 5 * time.Minute
)

// Operator is a short plan of steps for one region, such as "add a peer on
// store 4, transfer the leader to store 2, remove the peer on store 1". It
// is made against one epoch of the region and carried out one step at a
// time by the OperatorController.
type Operator struct {
	desc        string
	regionID    uint64
	regionEpoch *metapb.RegionEpoch
	kind        OpKind
	steps       []OpStep
	priority    PriorityLevel
	createTime  time.Time
	timeout     time.Duration

	mu         sync.Mutex
	current    int // index of the first step not seen done
	status     schedulerpb.OperatorStatus
	finishTime time.Time
}

// NewOperator makes an operator for a region at the given epoch. Its kind
// gets OpLeader when a step transfers leadership and OpRegion when a step
// adds or removes a peer.
func NewOperator(desc string, regionID uint64, epoch *metapb.RegionEpoch, kind OpKind, steps ...OpStep) *Operator {
	timeout := LeaderOperatorWaitTime
	for _, s := range steps {
		switch s.(type) {
		case TransferLeader:
			kind |= OpLeader
		case AddPeer, RemovePeer:
			kind |= OpRegion
			timeout = RegionOperatorWaitTime
		}
	}
	return &Operator{
		desc:        desc,
		regionID:    regionID,
		regionEpoch: &metapb.RegionEpoch{ConfVer: epoch.GetConfVer(), Version: epoch.GetVersion()},
		kind:        kind,
		steps:       steps,
		priority:    NormalPriority,
		createTime:  time.Now(),
		timeout:     timeout,
		status:      schedulerpb.OperatorStatus_RUNNING,
	}
}

// Desc returns what the operator is for ("balance-region", "make-up-replica").
func (op *Operator) Desc() string { return op.desc }

// RegionID returns the region the operator changes.
func (op *Operator) RegionID() uint64 { return op.regionID }

// RegionEpoch returns the region's epoch the operator was made against.
func (op *Operator) RegionEpoch() *metapb.RegionEpoch { return op.regionEpoch }

// Kind returns the operator's kind.
func (op *Operator) Kind() OpKind { return op.kind }

// Len returns the number of steps.
func (op *Operator) Len() int { return len(op.steps) }

// Step returns step i.
func (op *Operator) Step(i int) OpStep { return op.steps[i] }

// SetPriorityLevel sets the priority (before the operator is added).
func (op *Operator) SetPriorityLevel(level PriorityLevel) { op.priority = level }

// GetPriorityLevel returns the priority.
func (op *Operator) GetPriorityLevel() PriorityLevel { return op.priority }

// SetTimeout sets how long the operator may run (before it is added).
func (op *Operator) SetTimeout(d time.Duration) { op.timeout = d }

// GetCreateTime returns when the operator was made.
func (op *Operator) GetCreateTime() time.Time { return op.createTime }

// ElapsedTime returns how long ago the operator was made.
func (op *Operator) ElapsedTime() time.Duration { return time.Since(op.createTime) }

// Status returns RUNNING, or how the operator ended.
func (op *Operator) Status() schedulerpb.OperatorStatus {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.status
}

// FinishTime returns when the operator ended (zero while running).
func (op *Operator) FinishTime() time.Time {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.finishTime
}

// Check moves past the steps the region shows done and returns the first
// step not done yet, or nil when every step is done.
func (op *Operator) Check(region *core.RegionInfo) OpStep {
	op.mu.Lock()
	defer op.mu.Unlock()
	for op.current < len(op.steps) && op.steps[op.current].IsFinish(region) {
		op.current++
	}
	if op.current == len(op.steps) {
		return nil
	}
	return op.steps[op.current]
}

// IsFinish says whether every step has been seen done.
func (op *Operator) IsFinish() bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.current == len(op.steps)
}

// IsTimeout says whether the operator has run longer than its timeout.
func (op *Operator) IsTimeout() bool { return time.Since(op.createTime) > op.timeout }

// confChangesDone counts the membership changes among the steps seen done.
func (op *Operator) confChangesDone() uint64 {
	op.mu.Lock()
	defer op.mu.Unlock()
	var n uint64
	for _, s := range op.steps[:op.current] {
		if s.isConfChange() {
			n++
		}
	}
	return n
}

// end records how the operator ended; it reports false when it had ended
// already.
func (op *Operator) end(status schedulerpb.OperatorStatus) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.status != schedulerpb.OperatorStatus_RUNNING {
		return false
	}
	op.status = status
	op.finishTime = time.Now()
	return true
}

// String describes the operator in one line for logs, GetOperator and test
// failures.
func (op *Operator) String() string {
	steps := make([]string, len(op.steps))
	for i, s := range op.steps {
		steps[i] = s.String()
	}
	op.mu.Lock()
	current, status := op.current, op.status
	op.mu.Unlock()
	return fmt.Sprintf("%s (kind %s, region %d, epoch conf_ver=%d version=%d, step %d of %d, %v, %v old): [%s]",
		op.desc, op.kind, op.regionID, op.regionEpoch.GetConfVer(), op.regionEpoch.GetVersion(),
		current, len(op.steps), status, op.ElapsedTime().Round(time.Millisecond), strings.Join(steps, ", "))
}
