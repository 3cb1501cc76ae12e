package test_raftstore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Project 3B, deeper: what a store must do around membership changes and
// splits that the course-shaped tests only touch.

// destroyWait bounds how long a removed peer may take to disappear from its
// store: tombstone written, states cleared, data deleted (behavior.md: 6 s).
const destroyWait = 6 * time.Second

// userKeys counts the keys of every column family in [start, end) of a
// store's kv engine (an empty end is the end of the key space).
func userKeys(engines *engine_util.Engines, start, end []byte) int {
	n := 0
	_ = engines.Kv.View(func(txn *badger.Txn) error {
		for _, cf := range engine_util.CFs {
			it := engine_util.NewCFIterator(cf, txn)
			for it.Seek(start); it.Valid() && !engineKeyBeyond(it.Item().Key(), end); it.Next() {
				n++
			}
			it.Close()
		}
		return nil
	})
	return n
}

// peerLeftovers describes what a destroyed peer of regionID left on a
// store ("" when nothing): its region state not a tombstone, its apply or
// raft state, log entries, data of the range.
func peerLeftovers(engines *engine_util.Engines, regionID uint64, start, end []byte) string {
	var left []string
	state, err := meta.GetRegionLocalState(engines.Kv, regionID)
	switch {
	case err != nil:
		left = append(left, fmt.Sprintf("no region state (%v): a destroyed peer keeps a tombstone", err))
	case state.State != raft_serverpb.PeerState_Tombstone:
		left = append(left, fmt.Sprintf("region state %v, want a tombstone", state.State))
	}
	if _, err := meta.GetApplyState(engines.Kv, regionID); err == nil {
		left = append(left, "its apply state")
	}
	if _, err := meta.GetRaftLocalState(engines.Raft, regionID); err == nil {
		left = append(left, "its raft state")
	}
	logKeys := 0
	_ = engines.Raft.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		prefix := meta.RaftLogKey(regionID, 0)[:11]
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			logKeys++
		}
		return nil
	})
	if logKeys > 0 {
		left = append(left, fmt.Sprintf("%d log entries", logKeys))
	}
	if n := userKeys(engines, start, end); n > 0 {
		left = append(left, fmt.Sprintf("%d keys of its range", n))
	}
	if len(left) == 0 {
		return ""
	}
	return fmt.Sprint(left)
}

// waitDestroyed waits until the store holds nothing of the region's peer.
func waitDestroyed(fail func(string, ...interface{}), c *Cluster, storeID, regionID uint64, start, end []byte, what string) {
	deadline := time.Now().Add(destroyWait)
	for {
		left := peerLeftovers(c.engines[storeID], regionID, start, end)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			fail("%s: %v later store %d still holds, of region %d: %s", what, destroyWait, storeID, regionID, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func putKeys(c *Cluster, prefix string, n int) {
	for i := 0; i < n; i++ {
		key, value := []byte(fmt.Sprintf("%s%03d", prefix, i)), []byte(fmt.Sprintf("value %s %d", prefix, i))
		for _, cf := range engine_util.CFs {
			c.MustPutCF(cf, key, value)
		}
	}
}

func mustHoldKeys(c *Cluster, storeID uint64, prefix string, n int) {
	for i := 0; i < n; i++ {
		key, value := []byte(fmt.Sprintf("%s%03d", prefix, i)), []byte(fmt.Sprintf("value %s %d", prefix, i))
		for _, cf := range engine_util.CFs {
			MustGetCfEqual(c.engines[storeID], cf, key, value)
		}
	}
}

// TestRemovedPeerIsDestroyed3B: a removed peer leaves a tombstone and
// nothing else (data of every column family, apply and raft state, log),
// also across a restart of its store.
func TestRemovedPeerIsDestroyed3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	putKeys(cluster, "a", 30)
	mustHoldKeys(cluster, 3, "a", 30)
	cluster.MustRemovePeer(1, NewPeer(3, 3))
	waitDestroyed(fail, cluster, 3, 1, nil, nil, "peer 3 was removed from region 1")

	cluster.StopServer(3)
	cluster.StartServer(3)
	putKeys(cluster, "b", 5)
	time.Sleep(500 * time.Millisecond)
	if left := peerLeftovers(cluster.engines[3], 1, nil, nil); left != "" {
		fail("store 3, restarted after its peer of region 1 was destroyed, holds again: %s", left)
	}
	cluster.MustGet([]byte("a000"), []byte("value a 0"))
}

// appendDropFilter drops the appends a store sends: its peers' proposals
// stay uncommitted while heartbeats keep the followers from campaigning.
type appendDropFilter struct{ from uint64 }

func (f *appendDropFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	return msg.GetFromPeer().GetStoreId() != f.from || msg.GetMessage().GetMsgType() != eraftpb.MessageType_MsgAppend
}

func (f *appendDropFilter) After() {}

func (f *appendDropFilter) String() string { return fmt.Sprintf("drop appends from store %d", f.from) }

// TestStalePeerIsDestroyedAfterHeal3B: a peer cut off while it is removed
// never sees its removal; once the network heals its store must find out
// (stale messages answered with a tombstone / GC message) and destroy it.
func TestStalePeerIsDestroyedAfterHeal3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	cluster.MustTransferLeader(1, NewPeer(1, 1))
	putKeys(cluster, "a", 10)
	mustHoldKeys(cluster, 3, "a", 10)
	cluster.AddFilter(NewPartitionFilter([]uint64{1, 2}, []uint64{3}))
	cluster.MustRemovePeer(1, NewPeer(3, 3))
	putKeys(cluster, "b", 10)
	time.Sleep(time.Second) // the stale peer campaigns in vain
	if state, err := meta.GetRegionLocalState(cluster.engines[3].Kv, 1); err != nil || state.State != raft_serverpb.PeerState_Normal {
		fail("store 3 was cut off while its peer was removed: it cannot know yet, but its region state is %v (err %v)", state, err)
	}
	cluster.ClearFilters()
	waitDestroyed(fail, cluster, 3, 1, nil, nil, "the network healed after peer 3 was removed while cut off")
	// The stale peer's campaigns did not disturb the region.
	cluster.MustPut([]byte("after"), []byte("heal"))
	if leader := cluster.LeaderOfRegion(1); leader.GetStoreId() == 3 {
		fail("the removed peer on store 3 leads region 1: %v", leader)
	}
	if err := checkStoreKnowsRegions(cluster, 1); err != nil {
		fail("%v", err)
	}
}

// checkStoreKnowsRegions checks that the store's region states agree with
// the scheduler's view for every region the store has a peer of.
func checkStoreKnowsRegions(c *Cluster, storeID uint64) error {
	for _, id := range c.schedulerClient.regionIDs() {
		region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), id)
		if region == nil || FindPeer(region, storeID) == nil {
			continue
		}
		state, err := meta.GetRegionLocalState(c.engines[storeID].Kv, id)
		if err != nil {
			return fmt.Errorf("store %d holds a peer of region %v but has no region state: %v", storeID, region, err)
		}
		if state.State != raft_serverpb.PeerState_Normal || !regionsMatch(state.Region, region) {
			return fmt.Errorf("store %d: region %d state %v %v, the scheduler has %v", storeID, id, state.State, state.Region, region)
		}
	}
	return nil
}

func regionsMatch(a, b *metapb.Region) bool {
	return a.Id == b.Id && bytes.Equal(a.StartKey, b.StartKey) && bytes.Equal(a.EndKey, b.EndKey) &&
		a.RegionEpoch.Version == b.RegionEpoch.Version && a.RegionEpoch.ConfVer == b.RegionEpoch.ConfVer &&
		len(peerSetDifference(a.Peers, b.Peers)) == 0
}

// waitStoreKnowsRegions waits until checkStoreKnowsRegions passes.
func waitStoreKnowsRegions(fail func(string, ...interface{}), c *Cluster, storeID uint64, what string) {
	deadline := time.Now().Add(engineWaitTimeout)
	for {
		err := checkStoreKnowsRegions(c, storeID)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			fail("%s: after %v: %v", what, engineWaitTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSplitWhileStoreDown3B: regions split while a store is down, and
// again while it catches up, and it is crashed in the middle of that. The
// log is compacted fast, so it catches up by snapshots of regions that it
// has not split yet (such a snapshot must wait until it has). Keys are
// overwritten every round: a stale write applied over a newer snapshot
// shows. It must end up with every region, the last values, and serve.
func TestSplitWhileStoreDown3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cfg := config.NewTestConfig()
	cfg.RegionMaxSize = 800
	cfg.RegionSplitSize = 500
	cfg.RaftLogGcCountLimit = 10
	cluster, fail := startCluster(t, 3, cfg)
	defer cluster.Shutdown()

	const keys = 100
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%03d", i)) }
	value := func(round, i int) []byte { return []byte(fmt.Sprintf("v%d-%03d", round, i)) }
	write := func(round, from, to int) {
		for i := from; i < to; i++ {
			cluster.MustPut(key(i), value(round, i))
		}
	}
	cluster.StopServer(3)
	write(0, 0, keys)
	write(1, 0, keys)
	for deadline := time.Now().Add(2 * time.Second); cluster.schedulerClient.regionCount() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			fail("store 3 is down and %d keys of 15 bytes were written with RegionMaxSize 800: want a split within 2s, the scheduler knows %d region(s)",
				keys, cluster.schedulerClient.regionCount())
		}
	}
	cluster.StartServer(3)
	write(2, 0, keys/2)
	cluster.StopServer(3)
	write(2, keys/2, keys)
	cluster.StartServer(3)
	write(3, 0, keys)
	waitStoreKnowsRegions(fail, cluster, 3, "store 3 restarted twice while regions split")
	for i := 0; i < keys; i++ {
		MustGetEqual(cluster.engines[3], key(i), value(3, i))
	}
	// Store 3's peers work: without store 1, every region needs them.
	cluster.StopServer(1)
	for i := 0; i < keys; i += 3 {
		cluster.MustGet(key(i), value(3, i))
	}
	cluster.MustPut([]byte("key-last"), []byte("v"))
	cluster.StartServer(1)
}

// TestConfChangeDuringTransferLeader3B: leadership moves while membership
// changes are ordered, so orders reach a leader that is handing over, or
// one that has just taken over with a change still uncommitted.
func TestConfChangeDuringTransferLeader3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 5, config.NewTestConfig())
	defer cluster.Shutdown()
	rng := rand.New(rand.NewSource(cluster.seed))

	cluster.AddFilter(&DelayFilter{MaxDelay: 30 * time.Millisecond})
	for i := 0; i < 10; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("k%02d", i)), []byte(fmt.Sprintf("v%02d", i)))
		region := cluster.GetRegion(nil)
		target := region.Peers[rng.Intn(len(region.Peers))]
		cluster.TransferLeader(region.Id, target)
		storeID := uint64(rng.Intn(5) + 1)
		if p := FindPeer(region, storeID); p != nil && len(region.Peers) > 3 {
			cluster.MustRemovePeer(region.Id, p)
		} else if p == nil {
			cluster.MustAddPeer(region.Id, cluster.AllocPeer(storeID))
		}
	}
	cluster.ClearFilters()
	cluster.MustPut([]byte("last"), []byte("v"))
	region := cluster.GetRegion(nil)
	for storeID := uint64(1); storeID <= 5; storeID++ {
		if FindPeer(region, storeID) != nil {
			MustGetEqual(cluster.engines[storeID], []byte("k00"), []byte("v00"))
			MustGetEqual(cluster.engines[storeID], []byte("last"), []byte("v"))
		} else {
			MustGetNone(cluster.engines[storeID], []byte("k00"))
		}
	}
	if err := checkStoreKnowsRegions(cluster, region.Peers[0].StoreId); err != nil {
		fail("%v", err)
	}
}

// TestReAddPeerOnTombstoneStore3B: a store that holds the tombstone of a
// removed peer accepts the region's peer again, with the same id and with
// a new one, and keeps it across restarts.
func TestReAddPeerOnTombstoneStore3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	putKeys(cluster, "a", 10)
	cluster.MustRemovePeer(1, NewPeer(3, 3))
	waitDestroyed(fail, cluster, 3, 1, nil, nil, "peer 3 was removed")
	putKeys(cluster, "b", 10)
	cluster.StopServer(3)
	cluster.StartServer(3)

	for turn, peer := range []*metapb.Peer{NewPeer(3, 3), cluster.AllocPeer(3)} {
		cluster.MustAddPeer(1, peer)
		mustHoldKeys(cluster, 3, "a", 10)
		mustHoldKeys(cluster, 3, "b", 10)
		cluster.StopServer(3)
		cluster.StartServer(3)
		waitStoreKnowsRegions(fail, cluster, 3, fmt.Sprintf("turn %d: peer %v re-added on store 3 over its tombstone, then restarted", turn, peer))
		cluster.MustTransferLeader(1, peer)
		cluster.MustGet([]byte("b009"), []byte("value b 9"))
		cluster.MustPut([]byte(fmt.Sprintf("turn-%d", turn)), []byte("led by store 3"))
		cluster.MustTransferLeader(1, NewPeer(1, 1))
		if turn == 0 {
			cluster.MustRemovePeer(1, peer)
			waitDestroyed(fail, cluster, 3, 1, nil, nil, "peer 3 was removed a second time")
		}
	}
}

// sendCommand hands a command to a store's router without waiting.
func sendCommand(c *Cluster, storeID uint64, req *raft_cmdpb.RaftCmdRequest) (*message.Callback, error) {
	sim := c.simulator.(*NodeSimulator)
	sim.mu.RLock()
	router := sim.routers[storeID]
	sim.mu.RUnlock()
	if router == nil {
		return nil, fmt.Errorf("store %d is not running", storeID)
	}
	cb := message.NewCallback()
	return cb, router.SendRaftCommand(req, cb)
}

// TestCommandsAppliedAfterSplitAreCheckedAgain3B: commands proposed with
// the pre-split epoch before the split applied, and applied after it, must
// be checked again when they apply: a put or get of a key now in the right
// half must fail, and a Snap must describe the region as it is then.
func TestCommandsAppliedAfterSplitAreCheckedAgain3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	for _, k := range []string{"a", "c", "m", "x", "y"} {
		cluster.MustPut([]byte(k), []byte("old "+k))
	}
	cluster.MustTransferLeader(1, NewPeer(1, 1))
	region := cluster.GetRegion(nil)
	split, err := cluster.schedulerClient.AskSplit(context.Background(), region)
	if err != nil {
		fail("ask split: %v", err)
	}
	leader := FindPeer(region, 1)
	command := func(admin *raft_cmdpb.AdminRequest, reqs ...*raft_cmdpb.Request) *message.Callback {
		req := NewRequest(region.Id, region.RegionEpoch, reqs)
		req.AdminRequest = admin
		req.Header.Peer = leader
		cb, err := sendCommand(cluster, 1, &req)
		if err != nil {
			fail("send a command to store 1: %v", err)
		}
		return cb
	}

	// Nothing store 1 proposes commits until the filter goes.
	cluster.AddFilter(&appendDropFilter{from: 1})
	splitCb := command(&raft_cmdpb.AdminRequest{
		CmdType: raft_cmdpb.AdminCmdType_Split,
		Split:   &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: split.NewRegionId, NewPeerIds: split.NewPeerIds},
	})
	putCb := command(nil, NewPutCfCmd(engine_util.CfDefault, []byte("x"), []byte("late")))
	getCb := command(nil, NewGetCfCmd(engine_util.CfDefault, []byte("y")))
	snapCb := command(nil, NewSnapCmd())
	time.Sleep(100 * time.Millisecond)
	cluster.ClearFilters()

	wait := func(what string, cb *message.Callback) *raft_cmdpb.RaftCmdResponse {
		resp := cb.WaitRespWithTimeout(5 * time.Second)
		if resp == nil {
			fail("%s, proposed on store 1 with the epoch %v: no answer within 5s", what, region.RegionEpoch)
		}
		if cb.Txn != nil {
			defer cb.Txn.Discard()
		}
		return resp
	}
	if resp := wait("the split at \"m\"", splitCb); resp.GetHeader().GetError() != nil {
		fail("the split at \"m\" was refused: %v", resp.GetHeader().GetError())
	}
	if resp := wait("put x", putCb); resp.GetHeader().GetError() == nil {
		fail("put of x was proposed to region %d before the split at \"m\" applied and applied after it: "+
			"it must be refused at apply time (x is now in region %d), got %v", region.Id, split.NewRegionId, resp)
	}
	if resp := wait("get y", getCb); resp.GetHeader().GetError() == nil {
		fail("get of y was proposed to region %d before the split at \"m\" applied and applied after it: "+
			"it must be refused at apply time, got %v", region.Id, resp)
	}
	if resp := wait("snap", snapCb); resp.GetHeader().GetError() == nil {
		got := resp.GetResponses()
		if len(got) != 1 || got[0].GetSnap().GetRegion() == nil || !bytes.Equal(got[0].GetSnap().GetRegion().GetEndKey(), []byte("m")) {
			fail("a Snap applied after the split at \"m\" must be refused or describe the region as it is then ([\"\", \"m\")), got %v", resp)
		}
	}
	cluster.MustGet([]byte("x"), []byte("old x"))
	cluster.MustGet([]byte("y"), []byte("old y"))
	values := cluster.Scan(nil, nil)
	want := []string{"old a", "old c", "old m", "old x", "old y"}
	if fmt.Sprintf("%q", values) != fmt.Sprintf("%q", want) {
		fail("a scan over both halves: want %q, got %q", want, values)
	}
	MustGetEqual(cluster.engines[3], []byte("x"), []byte("old x"))
}

// reportDelay bounds how long after a leader applies a membership change
// or a split the scheduler may learn of it, when the heartbeat tick is far
// longer: the leader must report at once, not at its next tick.
const reportDelay = 300 * time.Millisecond

// waitReported waits until storeID's kvdb holds region regionID with an
// epoch accepted by ok, then measures how long the scheduler takes to see
// that epoch too.
func waitReported(fail func(string, ...interface{}), c *Cluster, storeID, regionID uint64, ok func(*metapb.RegionEpoch) bool, what string) {
	deadline := time.Now().Add(engineWaitTimeout)
	for {
		state, err := meta.GetRegionLocalState(c.engines[storeID].Kv, regionID)
		if err == nil && ok(state.Region.RegionEpoch) {
			break
		}
		if time.Now().After(deadline) {
			fail("%s: store %d did not apply it within %v (region state %v, err %v)", what, storeID, engineWaitTimeout, state, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	applied := time.Now()
	for {
		region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if region != nil && ok(region.RegionEpoch) {
			return
		}
		if time.Since(applied) > reportDelay {
			fail("%s: store %d applied it, but %v later the scheduler still has %v: a leader reports a membership change "+
				"or a split right after applying it (here the heartbeat tick is %v)", what, storeID, reportDelay, region, c.cfg.SchedulerHeartbeatTickInterval)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestChangesReportedAtOnce3B: with a heartbeat tick of two seconds, the
// scheduler must still learn of each membership change and split within
// reportDelay of the leader applying it.
func TestChangesReportedAtOnce3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cfg := config.NewTestConfig()
	cfg.SchedulerHeartbeatTickInterval = 2 * time.Second
	cfg.RegionMaxSize = 800
	cfg.RegionSplitSize = 500
	cluster, fail := startCluster(t, 3, cfg)
	defer cluster.Shutdown()

	cluster.MustPut([]byte("k0"), []byte("v0"))
	leader := cluster.LeaderOfRegion(1)
	if leader == nil {
		fail("no leader of region 1 reported")
	}
	other := NewPeer(leader.StoreId%3+1, leader.StoreId%3+1)
	confVer := cluster.GetRegion(nil).RegionEpoch.ConfVer
	for turn, add := range []bool{false, true, false, true} {
		cluster.schedulerClient.mu.Lock()
		cluster.schedulerClient.operators[1] = &operator{kind: opRemovePeer, peer: other}
		if add {
			cluster.schedulerClient.operators[1] = &operator{kind: opAddPeer, peer: other}
		}
		cluster.schedulerClient.mu.Unlock()
		want := confVer + 1
		waitReported(fail, cluster, leader.StoreId, 1, func(e *metapb.RegionEpoch) bool { return e.ConfVer >= want },
			fmt.Sprintf("membership change %d (add %v of %v)", turn, add, other))
		confVer = want
		if add {
			MustGetEqual(cluster.engines[other.StoreId], []byte("k0"), []byte("v0"))
		}
	}
	for i := 0; i < 60; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("key-%03d", i)), []byte(fmt.Sprintf("value-%03d", i)))
	}
	leader = cluster.LeaderOfRegion(1)
	waitReported(fail, cluster, leader.StoreId, 1, func(e *metapb.RegionEpoch) bool { return e.Version > 1 }, "the split of region 1")
}

// lateHeartbeatFilter holds the heartbeats to store to back for delay and
// drops every other message to it: the store hears of a new peer only
// after the peer's region may have moved on.
type lateHeartbeatFilter struct {
	to    uint64
	delay time.Duration
}

func (f *lateHeartbeatFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	return msg.GetToPeer().GetStoreId() != f.to || msg.GetMessage().GetMsgType() == eraftpb.MessageType_MsgHeartbeat
}

func (f *lateHeartbeatFilter) After() {}

func (f *lateHeartbeatFilter) Delay(msg *raft_serverpb.RaftMessage) time.Duration {
	if msg.GetToPeer().GetStoreId() == f.to {
		return f.delay
	}
	return 0
}

func (f *lateHeartbeatFilter) String() string {
	return fmt.Sprintf("heartbeats to store %d %v late, other messages to it dropped", f.to, f.delay)
}

// TestPeerCreatedAfterItsRemovalIsDestroyed3B: a peer is added to store 4
// and removed again before any message reaches the store; then the
// leader's heartbeats to it arrive, late (as messages queued for a store
// that was down do), and create the peer, empty. Nobody sends to it any
// more and, knowing no peers, it never campaigns, so no stale-message
// answer reaches it: the store must still get rid of it (the framework's
// peer asks the scheduler once it heard from no leader for
// MaxLeaderMissingDuration; kv/raftstore/stale_peer.go).
func TestPeerCreatedAfterItsRemovalIsDestroyed3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cfg := config.NewTestConfig()
	cluster, fail := startCluster(t, 4, cfg)
	defer cluster.Shutdown()

	var removed time.Time
	waitPeersReported := func(want int, within time.Duration, what string) {
		deadline := time.Now().Add(within)
		for cluster.schedulerClient.peersReported(4) != want {
			if time.Now().After(deadline) {
				fail("%s: store 4 reports %d peers, want %d, %v after the last removal",
					what, cluster.schedulerClient.peersReported(4), want, time.Since(removed).Round(time.Millisecond))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cluster.MustRemovePeer(1, NewPeer(4, 4))
	removed = time.Now()
	waitDestroyed(fail, cluster, 4, 1, nil, nil, "peer 4 was removed")
	waitPeersReported(0, destroyWait, "peer 4 was removed and destroyed")

	const late = 2 * time.Second
	cluster.AddFilter(&lateHeartbeatFilter{to: 4, delay: late})
	peer := cluster.AllocPeer(4)
	cluster.schedulerClient.AddPeer(1, peer)
	cluster.MustHavePeer(1, peer)
	// A few heartbeats (one every 2 ticks) to the new peer wait in the network.
	time.Sleep(6 * cfg.RaftBaseTickInterval)
	cluster.MustRemovePeer(1, peer)
	removed = time.Now()
	waitPeersReported(1, late+2*time.Second, fmt.Sprintf("the late heartbeats did not create the removed peer %v on store 4 (the test's premise)", peer))
	waitPeersReported(0, late+cfg.MaxLeaderMissingDuration+5*time.Second,
		fmt.Sprintf("store 4 keeps the empty peer %d of region 1 that a late heartbeat created after the peer was removed "+
			"(it heard from no leader for max-leader-missing-duration %v; it should have asked the scheduler and destroyed itself)",
			peer.Id, cfg.MaxLeaderMissingDuration))
	cluster.ClearFilters()
	cluster.MustPut([]byte("k"), []byte("v"))
}
