package schedule

import (
	"sync"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
)

// HeartbeatStreams sends a message to the store that leads a region, on
// that store's region heartbeat stream. The server implements it; the
// controller uses it to send an operator's first step as soon as the
// operator is added, without waiting for the region's next heartbeat.
type HeartbeatStreams interface {
	SendMsg(region *core.RegionInfo, msg *schedulerpb.RegionHeartbeatResponse)
}

// HistoryLimit is how many ended operators the controller remembers for
// GetOperatorStatus.
const HistoryLimit = 1024

// OperatorController runs operators: at most one per region, the first step
// not yet done sent to the region's leader on every heartbeat of the region,
// until the region shows every step done or the operator times out. Safe
// for concurrent use.
type OperatorController struct {
	cluster   Cluster
	hbStreams HeartbeatStreams

	mu        sync.Mutex
	operators map[uint64]*Operator // region id → running operator
	counts    map[OpKind]uint64    // running operators by kind flag
	history   map[uint64]*Operator // region id → last ended operator
	ended     []*Operator          // ended operators, oldest first, at most HistoryLimit
}

// NewOperatorController returns a controller for the cluster; hbStreams may
// be nil (steps then go out only in heartbeat responses).
func NewOperatorController(cluster Cluster, hbStreams HeartbeatStreams) *OperatorController {
	return &OperatorController{
		cluster:   cluster,
		hbStreams: hbStreams,
		operators: map[uint64]*Operator{},
		counts:    map[OpKind]uint64{},
		history:   map[uint64]*Operator{},
	}
}

// AddOperator starts an operator. It refuses (false) an operator whose
// region is unknown or has moved past the operator's epoch, one with a step
// that brings a peer or the leadership to a store that cannot receive it
// (unknown, or not CanReceive: down, offline, tombstone or disconnected),
// and one for a region that already runs an operator of the same or a
// higher priority; a lower-priority one is replaced (it ends with status
// REPLACE).
func (oc *OperatorController) AddOperator(op *Operator) bool {
	if op == nil {
		return false
	}
	region := oc.cluster.GetRegion(op.RegionID())
	if region == nil {
		log.Debugf("[operator] region=%d refused=%q reason=region-unknown", op.RegionID(), op.Desc())
		return false
	}
	if epoch := region.GetRegionEpoch(); epoch.GetVersion() != op.RegionEpoch().GetVersion() ||
		epoch.GetConfVer() != op.RegionEpoch().GetConfVer() {
		log.Debugf("[operator] region=%d refused=%q reason=stale-epoch epoch=%v", op.RegionID(), op.Desc(), epoch)
		return false
	}
	for i := 0; i < op.Len(); i++ {
		if storeID, ok := stepTarget(op.Step(i)); ok {
			if why := oc.unusableTarget(storeID); why != "" {
				log.Debugf("[operator] region=%d refused=%q reason=target-store-%s store=%d step=%v",
					op.RegionID(), op.Desc(), why, storeID, op.Step(i))
				return false
			}
		}
	}
	oc.mu.Lock()
	if old, ok := oc.operators[op.RegionID()]; ok {
		if op.GetPriorityLevel() <= old.GetPriorityLevel() {
			oc.mu.Unlock()
			return false
		}
		oc.endLocked(old, schedulerpb.OperatorStatus_REPLACE)
	}
	oc.operators[op.RegionID()] = op
	oc.countLocked(op.Kind(), 1)
	oc.mu.Unlock()
	observe.OperatorCreated(op.Kind().String())
	log.Infof("[operator] region=%d added=%q", op.RegionID(), op)
	if oc.hbStreams != nil {
		if msg := oc.Dispatch(region); msg != nil {
			oc.hbStreams.SendMsg(region, msg)
		}
	}
	return true
}

// countLocked adds delta (1 or -1) to the count of every kind flag of k.
func (oc *OperatorController) countLocked(k OpKind, delta int) {
	for flag := OpKind(1); flag <= OpAdmin; flag <<= 1 {
		if k&flag != 0 {
			oc.counts[flag] = uint64(int(oc.counts[flag]) + delta)
		}
	}
}

// endLocked takes a running operator out with the given status and
// remembers it.
func (oc *OperatorController) endLocked(op *Operator, status schedulerpb.OperatorStatus) {
	if oc.operators[op.RegionID()] != op || !op.end(status) {
		return
	}
	delete(oc.operators, op.RegionID())
	oc.countLocked(op.Kind(), -1)
	observe.OperatorFinished(op.RegionID(), op.Kind().String(), status.String(), op.String())
	oc.history[op.RegionID()] = op
	oc.ended = append(oc.ended, op)
	if len(oc.ended) > HistoryLimit {
		oldest := oc.ended[0]
		oc.ended = oc.ended[1:]
		if oc.history[oldest.RegionID()] == oldest {
			delete(oc.history, oldest.RegionID())
		}
	}
	log.Infof("[operator] region=%d ended=%v operator=%q", op.RegionID(), status, op)
}

func (oc *OperatorController) end(op *Operator, status schedulerpb.OperatorStatus) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	oc.endLocked(op, status)
}

// RemoveOperator cancels the region's running operator, if any.
func (oc *OperatorController) RemoveOperator(regionID uint64) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if op, ok := oc.operators[regionID]; ok {
		oc.endLocked(op, schedulerpb.OperatorStatus_CANCEL)
	}
}

// GetOperator returns the region's running operator, or nil.
func (oc *OperatorController) GetOperator(regionID uint64) *Operator {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.operators[regionID]
}

// GetOperators returns the running operators.
func (oc *OperatorController) GetOperators() []*Operator {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	out := make([]*Operator, 0, len(oc.operators))
	for _, op := range oc.operators {
		out = append(out, op)
	}
	return out
}

// GetOperatorStatus returns the region's running operator, else the last
// one that ended (among the last HistoryLimit), else nil. Its Status()
// tells which.
func (oc *OperatorController) GetOperatorStatus(regionID uint64) *Operator {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if op, ok := oc.operators[regionID]; ok {
		return op
	}
	return oc.history[regionID]
}

// OperatorCount returns how many running operators have the kind flag.
func (oc *OperatorController) OperatorCount(kind OpKind) uint64 {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.counts[kind]
}

// CheckTimeouts ends the running operators that have timed out (those of
// regions that stopped sending heartbeats would otherwise hold their slot).
func (oc *OperatorController) CheckTimeouts() {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	for _, op := range oc.operators {
		if op.IsTimeout() {
			oc.endLocked(op, schedulerpb.OperatorStatus_TIMEOUT)
		}
	}
}

// Dispatch is called with every region heartbeat (the region as just
// reported). It returns the message to send back to the region's leader:
// the step of the region's operator not yet seen done, or nil when there is
// nothing to send. It ends the operator when every step is done (SUCCESS),
// when it has timed out (TIMEOUT), or when the region changed membership in
// a way the operator did not or the store the next step goes to can no
// longer receive it (CANCEL: see AddOperator). A step already under way (an added peer that is still
// pending) is not sent again. The caller sets the response header.
func (oc *OperatorController) Dispatch(region *core.RegionInfo) *schedulerpb.RegionHeartbeatResponse {
	op := oc.GetOperator(region.GetID())
	if op == nil {
		return nil
	}
	if op.IsTimeout() {
		oc.end(op, schedulerpb.OperatorStatus_TIMEOUT)
		return nil
	}
	step := op.Check(region)
	if step == nil {
		oc.end(op, schedulerpb.OperatorStatus_SUCCESS)
		return nil
	}
	if storeID, ok := stepTarget(step); ok {
		if why := oc.unusableTarget(storeID); why != "" {
			// A peer added on a store that went silent does not catch up,
			// and a leader does not move there: waiting for the timeout
			// would keep the replica checker away from the region for
			// minutes, and balance-leader would try the store again.
			log.Infof("[operator] region=%d cancel=%q reason=target-store-%s store=%d",
				region.GetID(), op.Desc(), why, storeID)
			oc.end(op, schedulerpb.OperatorStatus_CANCEL)
			return nil
		}
	}
	applied := op.confChangesDone()
	if ap, ok := step.(AddPeer); ok && region.GetStorePeer(ap.ToStore) != nil {
		applied++ // added, still catching up
	}
	if region.GetRegionEpoch().GetConfVer() > op.RegionEpoch().GetConfVer()+applied {
		log.Infof("[operator] region=%d cancel=%q reason=membership-changed-elsewhere epoch=%v",
			region.GetID(), op.Desc(), region.GetRegionEpoch())
		oc.end(op, schedulerpb.OperatorStatus_CANCEL)
		return nil
	}
	leader := region.GetLeader()
	if leader == nil {
		return nil
	}
	resp := &schedulerpb.RegionHeartbeatResponse{
		RegionId:    region.GetID(),
		RegionEpoch: region.GetRegionEpoch(),
		TargetPeer:  leader,
	}
	switch s := step.(type) {
	case AddPeer:
		if region.GetStorePeer(s.ToStore) != nil {
			return nil // added, catching up
		}
		resp.ChangePeer = &schedulerpb.ChangePeer{
			ChangeType: eraftpb.ConfChangeType_AddNode,
			Peer:       &metapb.Peer{Id: s.PeerID, StoreId: s.ToStore},
		}
	case RemovePeer:
		resp.ChangePeer = &schedulerpb.ChangePeer{
			ChangeType: eraftpb.ConfChangeType_RemoveNode,
			Peer:       &metapb.Peer{Id: s.PeerID, StoreId: s.FromStore},
		}
	case TransferLeader:
		target := region.GetStorePeer(s.ToStore)
		if target == nil {
			oc.end(op, schedulerpb.OperatorStatus_CANCEL)
			return nil
		}
		resp.TransferLeader = &schedulerpb.TransferLeader{Peer: target}
	}
	return resp
}

// unusableTarget says why the store cannot receive a peer or the leadership
// of a region ("unknown", "Down", "Disconnected", "Offline", "Tombstone"),
// or "" when it can.
func (oc *OperatorController) unusableTarget(storeID uint64) string {
	store := oc.cluster.GetStore(storeID)
	switch {
	case store == nil:
		return "unknown"
	case CanReceive(oc.cluster, store):
		return ""
	}
	return StoreStateName(oc.cluster, store)
}

// stepTarget is the store a step brings a peer or the leadership to.
func stepTarget(step OpStep) (uint64, bool) {
	switch s := step.(type) {
	case AddPeer:
		return s.ToStore, true
	case TransferLeader:
		return s.ToStore, true
	}
	return 0, false
}
