package schedule

import (
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

var _ Cluster = (*mockcluster.Cluster)(nil)

// newTestCluster has stores 1..n and region 1 on stores 1, 2, 3 led by 1.
func newTestCluster(t *testing.T, stores int) *mockcluster.Cluster {
	t.Helper()
	mc := mockcluster.New()
	for id := uint64(1); id <= uint64(stores); id++ {
		mc.AddStore(id)
	}
	mc.AddRegion(1, 100, 1, 2, 3)
	return mc
}

// describe says in a few words what a heartbeat response asks for.
func describe(resp *schedulerpb.RegionHeartbeatResponse) string {
	switch {
	case resp == nil:
		return "nothing"
	case resp.GetChangePeer() != nil:
		p := resp.GetChangePeer().GetPeer()
		kind := "add"
		if resp.GetChangePeer().GetChangeType() == eraftpb.ConfChangeType_RemoveNode {
			kind = "remove"
		}
		return kind + " " + storeName(p.GetStoreId())
	case resp.GetTransferLeader() != nil:
		return "leader to " + storeName(resp.GetTransferLeader().GetPeer().GetStoreId())
	}
	return "an empty response"
}

func storeName(id uint64) string { return "store " + string(rune('0'+id)) }

func mustApply(t *testing.T, mc *mockcluster.Cluster, resp *schedulerpb.RegionHeartbeatResponse) *core.RegionInfo {
	t.Helper()
	region, err := mc.Apply(resp)
	if err != nil {
		t.Fatalf("the leader cannot carry out the step: %v", err)
	}
	return region
}

func expectDispatch(t *testing.T, oc *OperatorController, region *core.RegionInfo, want, when string) *schedulerpb.RegionHeartbeatResponse {
	t.Helper()
	resp := oc.Dispatch(region)
	if got := describe(resp); got != want {
		t.Fatalf("%s: want the leader told %q, got %q (operator %v)", when, want, got, oc.GetOperatorStatus(region.GetID()))
	}
	if resp != nil {
		if resp.GetRegionId() != region.GetID() || resp.GetTargetPeer().GetId() != region.GetLeader().GetId() ||
			resp.GetRegionEpoch().GetConfVer() != region.GetRegionEpoch().GetConfVer() {
			t.Fatalf("%s: response must carry region %d, its epoch %v and its leader %v; got %v",
				when, region.GetID(), region.GetRegionEpoch(), region.GetLeader(), resp)
		}
	}
	return resp
}

// mustAddMove starts an operator that moves region's peer from store from
// to store to.
func mustAddMove(t *testing.T, oc *OperatorController, mc *mockcluster.Cluster, region *core.RegionInfo, from, to uint64) *Operator {
	t.Helper()
	op, err := CreateMovePeerOperator("test-move", mc, region, OpBalance, from, to, mc.AllocID())
	if err != nil {
		t.Fatalf("CreateMovePeerOperator: %v", err)
	}
	if !oc.AddOperator(op) {
		t.Fatalf("AddOperator refused %v", op)
	}
	return op
}

func TestOperatorLifecycleMovePeer(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	op := mustAddMove(t, oc, mc, region, 3, 4)
	if oc.OperatorCount(OpRegion) != 1 || oc.OperatorCount(OpBalance) != 1 || oc.OperatorCount(OpLeader) != 0 {
		t.Fatalf("running counts: want 1 region, 1 balance, 0 leader; got %d, %d, %d",
			oc.OperatorCount(OpRegion), oc.OperatorCount(OpBalance), oc.OperatorCount(OpLeader))
	}
	resp := expectDispatch(t, oc, region, "add store 4", "first heartbeat")
	expectDispatch(t, oc, region, "add store 4", "next heartbeat, step not done: re-sent")
	region = mustApply(t, mc, resp)
	expectDispatch(t, oc, region, "nothing", "peer on store 4 added but pending")
	region = mc.CatchUp(1)
	resp = expectDispatch(t, oc, region, "remove store 3", "peer on store 4 caught up")
	expectDispatch(t, oc, region, "remove store 3", "remove not done yet: re-sent")
	region = mustApply(t, mc, resp)
	expectDispatch(t, oc, region, "nothing", "all steps done")
	if oc.GetOperator(1) != nil {
		t.Fatalf("a finished operator is still running: %v", oc.GetOperator(1))
	}
	if got := oc.GetOperatorStatus(1); got != op || got.Status() != schedulerpb.OperatorStatus_SUCCESS {
		t.Fatalf("history: want the move operator with SUCCESS, got %v", got)
	}
	if oc.OperatorCount(OpRegion) != 0 || oc.OperatorCount(OpBalance) != 0 {
		t.Fatalf("counts after the end: want 0, got region %d balance %d", oc.OperatorCount(OpRegion), oc.OperatorCount(OpBalance))
	}
	if region.GetStorePeer(3) != nil || region.GetStorePeer(4) == nil {
		t.Fatalf("region after the move: want peers on 1, 2, 4; got %v", region)
	}
}

func TestOperatorMoveLeaderPeer(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	op, err := CreateMovePeerOperator("test-move-leader", mc, region, OpBalance, 1, 4, mc.AllocID())
	if err != nil {
		t.Fatalf("CreateMovePeerOperator: %v", err)
	}
	if op.Len() != 3 || op.Kind()&OpLeader == 0 {
		t.Fatalf("moving the leader's peer: want add, transfer leader, remove (kind with leader), got %v", op)
	}
	oc.AddOperator(op)
	region = mustApply(t, mc, expectDispatch(t, oc, region, "add store 4", "first heartbeat"))
	region = mc.CatchUp(1)
	resp := expectDispatch(t, oc, region, "leader to store 2", "peer added: leadership moves off store 1 first")
	region = mustApply(t, mc, resp)
	resp = expectDispatch(t, oc, region, "remove store 1", "new leader on store 2")
	region = mustApply(t, mc, resp)
	expectDispatch(t, oc, region, "nothing", "done")
	if op.Status() != schedulerpb.OperatorStatus_SUCCESS {
		t.Fatalf("want SUCCESS, got %v", op)
	}
}

func TestOperatorTimeout(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	op := CreateTransferLeaderOperator("test-transfer", region, 1, 2, OpBalance)
	op.SetTimeout(20 * time.Millisecond)
	oc.AddOperator(op)
	expectDispatch(t, oc, region, "leader to store 2", "first heartbeat")
	time.Sleep(40 * time.Millisecond)
	expectDispatch(t, oc, region, "nothing", "after the timeout")
	if op.Status() != schedulerpb.OperatorStatus_TIMEOUT || oc.GetOperator(1) != nil {
		t.Fatalf("want the operator ended with TIMEOUT, got %v (running: %v)", op, oc.GetOperator(1))
	}
	// Without heartbeats, CheckTimeouts ends it and frees the limit.
	op2 := CreateTransferLeaderOperator("test-transfer-2", region, 1, 3, OpBalance)
	op2.SetTimeout(20 * time.Millisecond)
	oc.AddOperator(op2)
	time.Sleep(40 * time.Millisecond)
	oc.CheckTimeouts()
	if op2.Status() != schedulerpb.OperatorStatus_TIMEOUT || oc.OperatorCount(OpLeader) != 0 {
		t.Fatalf("CheckTimeouts: want TIMEOUT and no leader operator counted, got %v, count %d", op2, oc.OperatorCount(OpLeader))
	}
	if got := oc.GetOperatorStatus(1); got != op2 {
		t.Fatalf("history keeps the latest ended operator: want %v, got %v", op2, got)
	}
}

func TestOperatorReplacementByPriority(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	low := CreateTransferLeaderOperator("balance", region, 1, 2, OpBalance)
	same := CreateTransferLeaderOperator("balance-again", region, 1, 3, OpBalance)
	high := CreateAddPeerOperator("urgent", region, 4, mc.AllocID(), OpReplica)
	high.SetPriorityLevel(HighPriority)
	if !oc.AddOperator(low) {
		t.Fatalf("first operator refused")
	}
	if oc.AddOperator(same) {
		t.Fatalf("an operator of the same priority replaced the running one")
	}
	if !oc.AddOperator(high) {
		t.Fatalf("a higher-priority operator was refused")
	}
	if low.Status() != schedulerpb.OperatorStatus_REPLACE {
		t.Fatalf("replaced operator: want REPLACE, got %v", low)
	}
	if oc.GetOperator(1) != high || oc.OperatorCount(OpLeader) != 0 || oc.OperatorCount(OpReplica) != 1 {
		t.Fatalf("want only the urgent operator running and counted, got %v (leader %d, replica %d)",
			oc.GetOperator(1), oc.OperatorCount(OpLeader), oc.OperatorCount(OpReplica))
	}
	lower := CreateTransferLeaderOperator("balance-late", region, 1, 2, OpBalance)
	if oc.AddOperator(lower) {
		t.Fatalf("a lower-priority operator replaced a higher one")
	}
	expectDispatch(t, oc, region, "add store 4", "the urgent operator runs")
}

func TestOperatorStaleEpoch(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	stale := CreateTransferLeaderOperator("stale", region, 1, 2, OpBalance)
	mc.PutRegion(region.Clone(core.WithIncVersion()))
	if oc.AddOperator(stale) {
		t.Fatalf("an operator made before a split (older version) was accepted")
	}
	region = mc.GetRegion(1)
	op := CreateAddPeerOperator("add", region, 4, mc.AllocID(), OpReplica)
	if !oc.AddOperator(op) {
		t.Fatalf("an operator of the current epoch was refused")
	}
	// Someone else removes the peer on store 3: the plan no longer fits.
	changed := region.Clone(core.WithRemoveStorePeer(3))
	mc.PutRegion(changed)
	expectDispatch(t, oc, changed, "nothing", "membership changed by someone else")
	if op.Status() != schedulerpb.OperatorStatus_CANCEL {
		t.Fatalf("want CANCEL, got %v", op)
	}
}

type recordStreams struct {
	sent []*schedulerpb.RegionHeartbeatResponse
}

func (r *recordStreams) SendMsg(_ *core.RegionInfo, msg *schedulerpb.RegionHeartbeatResponse) {
	r.sent = append(r.sent, msg)
}

func TestOperatorSentAtOnceAndHistoryBounded(t *testing.T) {
	mc := newTestCluster(t, 4)
	streams := &recordStreams{}
	oc := NewOperatorController(mc, streams)
	region := mc.GetRegion(1)
	oc.AddOperator(CreateTransferLeaderOperator("now", region, 1, 3, OpBalance))
	if len(streams.sent) != 1 || describe(streams.sent[0]) != "leader to store 3" {
		t.Fatalf("AddOperator must send the first step at once: sent %v", streams.sent)
	}
	for id := uint64(2); id < HistoryLimit+50; id++ {
		r := mc.AddRegion(id, 1, 1, 2)
		oc.AddOperator(CreateTransferLeaderOperator("t", r, 1, 2, OpBalance))
		oc.RemoveOperator(id)
	}
	if len(oc.history) > HistoryLimit || len(oc.ended) > HistoryLimit {
		t.Fatalf("history grows without bound: %d regions, %d ended (limit %d)", len(oc.history), len(oc.ended), HistoryLimit)
	}
	if got := oc.GetOperatorStatus(HistoryLimit + 10); got == nil || got.Status() != schedulerpb.OperatorStatus_CANCEL {
		t.Fatalf("a recent canceled operator must be in the history, got %v", got)
	}
	if got := oc.GetOperatorStatus(2); got != nil {
		t.Fatalf("the oldest ended operators are forgotten past the limit, region 2 still has %v", got)
	}
}

func TestRemovePeerOperatorErrors(t *testing.T) {
	mc := mockcluster.New()
	mc.AddStore(1)
	region := mc.AddRegion(1, 1, 1)
	if _, err := CreateRemovePeerOperator("x", mc, OpReplica, region, 1); err == nil {
		t.Fatalf("removing a region's only peer (the leader) must be refused")
	}
	if _, err := CreateRemovePeerOperator("x", mc, OpReplica, region, 2); err == nil {
		t.Fatalf("removing a peer from a store without one must be refused")
	}
	if _, err := CreateMovePeerOperator("x", mc, region, OpBalance, 1, 1, 5); err == nil {
		t.Fatalf("moving a peer onto a store that holds one must be refused")
	}
}

func TestOperatorCancelledWhenTargetStoreGoesDown(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	op := mustAddMove(t, oc, mc, region, 3, 4)
	region = mustApply(t, mc, expectDispatch(t, oc, region, "add store 4", "first heartbeat"))
	expectDispatch(t, oc, region, "nothing", "peer on store 4 added but pending")
	// Store 4 dies before its new peer catches up: the peer never will.
	mc.SetStoreLastHeartbeat(4, mc.GetMaxStoreDownTime()+time.Minute)
	expectDispatch(t, oc, region, "nothing", "store 4 down")
	if oc.GetOperator(1) != nil {
		t.Fatalf("an operator waiting for a peer on a down store still runs (it would block the region until its %v timeout): %v",
			op.timeout, oc.GetOperator(1))
	}
	if got := oc.GetOperatorStatus(1); got != op || got.Status() != schedulerpb.OperatorStatus_CANCEL {
		t.Fatalf("history: want the move operator CANCEL, got %v", got)
	}
	if oc.OperatorCount(OpRegion) != 0 {
		t.Fatalf("running region operators after the cancel: want 0, got %d", oc.OperatorCount(OpRegion))
	}
}

// disconnected is a silence past store-disconnect-time (20 s) but far
// within max-store-down-time (30 min).
const disconnected = 25 * time.Second

func TestOperatorRefusedForTargetThatCannotReceive(t *testing.T) {
	mc := newTestCluster(t, 5)
	streams := &recordStreams{}
	oc := NewOperatorController(mc, streams)
	region := mc.GetRegion(1)
	move := func(from, to uint64) *Operator {
		t.Helper()
		op, err := CreateMovePeerOperator("test-move", mc, region, OpBalance, from, to, mc.AllocID())
		if err != nil {
			t.Fatalf("CreateMovePeerOperator: %v", err)
		}
		return op
	}
	refused := func(op *Operator, why string) {
		t.Helper()
		if oc.AddOperator(op) {
			t.Fatalf("%s: AddOperator must refuse %v", why, op)
		}
		if oc.GetOperator(1) != nil || oc.OperatorCount(OpBalance) != 0 || len(streams.sent) != 0 {
			t.Fatalf("%s: a refused operator must change nothing; running %v, %d balance operators, sent %v",
				why, oc.GetOperator(1), oc.OperatorCount(OpBalance), streams.sent)
		}
	}
	mc.SetStoreLastHeartbeat(4, disconnected)
	refused(move(3, 4), "a peer added on store 4, silent for 25s")
	refused(CreateAddPeerOperator("test-add", region, 4, mc.AllocID(), OpReplica), "a replica on store 4, silent for 25s")
	mc.SetStoreLastHeartbeat(2, disconnected)
	refused(CreateTransferLeaderOperator("test-leader", region, 1, 2, OpBalance), "the leadership to store 2, silent for 25s")
	mc.SetStoreState(5, metapb.StoreState_Offline)
	refused(move(3, 5), "a peer added on offline store 5")
	refused(CreateTransferLeaderOperator("test-leader", region, 1, 9, OpBalance), "the leadership to unknown store 9")

	// The leader's peer moves: its leadership goes to a follower that can
	// take it (3, not the disconnected 2).
	mc.SetStoreState(5, metapb.StoreState_Up)
	if got := stepsOf(move(1, 5)); got != "add 5, leader 1->3, remove 1" {
		t.Fatalf("moving the leader's peer with store 2 disconnected: want \"add 5, leader 1->3, remove 1\", got %q", got)
	}
	mc.SetStoreLastHeartbeat(4, mc.GetStoreDisconnectTime()-5*time.Second)
	if op := move(3, 4); !oc.AddOperator(op) {
		t.Fatalf("store 4 silent for 15s, within store-disconnect-time: AddOperator must take %v", op)
	}
	oc.RemoveOperator(1)
	mc.SetStoreLastHeartbeat(1, disconnected)
	mc.SetStoreLastHeartbeat(2, 0)
	if op := CreateTransferLeaderOperator("test-leader", region, 1, 2, OpBalance); !oc.AddOperator(op) {
		t.Fatalf("store 1 disconnected may give its leadership away: AddOperator must take %v", op)
	}
}

func TestOperatorCancelledWhenTargetStoreDisconnects(t *testing.T) {
	mc := newTestCluster(t, 4)
	oc := NewOperatorController(mc, nil)
	region := mc.GetRegion(1)
	op := mustAddMove(t, oc, mc, region, 3, 4)
	region = mustApply(t, mc, expectDispatch(t, oc, region, "add store 4", "first heartbeat"))
	mc.SetStoreLastHeartbeat(4, mc.GetStoreDisconnectTime()-5*time.Second)
	expectDispatch(t, oc, region, "nothing", "peer on store 4 pending, store 4 silent for 15s")
	if oc.GetOperator(1) != op {
		t.Fatalf("store 4 silent for 15s, within store-disconnect-time: the move must go on, got %v", oc.GetOperatorStatus(1))
	}
	mc.SetStoreLastHeartbeat(4, disconnected)
	expectDispatch(t, oc, region, "nothing", "store 4 silent for 25s")
	if got := oc.GetOperatorStatus(1); got != op || got.Status() != schedulerpb.OperatorStatus_CANCEL {
		t.Fatalf("the next step adds a peer on disconnected store 4: want the move CANCEL, got %v", got)
	}

	region = mc.AddRegion(2, 100, 1, 2, 3)
	tl := CreateTransferLeaderOperator("test-leader", region, 1, 2, OpBalance)
	if !oc.AddOperator(tl) {
		t.Fatalf("AddOperator refused %v", tl)
	}
	mc.SetStoreLastHeartbeat(2, disconnected)
	expectDispatch(t, oc, region, "nothing", "the leadership was to go to store 2, silent for 25s")
	if got := oc.GetOperatorStatus(2); got != tl || got.Status() != schedulerpb.OperatorStatus_CANCEL {
		t.Fatalf("a transfer to disconnected store 2: want CANCEL, got %v", got)
	}
	if oc.OperatorCount(OpLeader) != 0 || oc.OperatorCount(OpRegion) != 0 {
		t.Fatalf("running after the cancels: want none, got %d leader and %d region operators", oc.OperatorCount(OpLeader), oc.OperatorCount(OpRegion))
	}

	// A disconnected source does not stop its leadership from moving away.
	mc.SetStoreLastHeartbeat(2, 0)
	mc.SetStoreLastHeartbeat(1, disconnected)
	region = mc.AddRegion(3, 100, 1, 2, 3)
	if !oc.AddOperator(CreateTransferLeaderOperator("test-leader", region, 1, 3, OpBalance)) {
		t.Fatalf("a transfer away from disconnected store 1 was refused")
	}
	expectDispatch(t, oc, region, "leader to store 3", "leadership leaves disconnected store 1")
}
