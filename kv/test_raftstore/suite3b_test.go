package test_raftstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Project 3B: membership change and region split. The tests of the shape
// TinyKV-style course suites have, then the generic driver with peers
// moving and regions splitting (see driver_test.go).

// splitSize3B is the RegionMaxSize of the split scenarios: small enough
// that the clients' writes split the key space into tens of regions.
const splitSize3B = 1024

// startCluster starts a cluster for test t and returns it with a fail
// function that adds the seed to the message.
// commandOnLeader sends request to its region's leader, following leader
// hints and retrying when no answer comes, and returns the first answer
// that is not NotLeader (errors such as EpochNotMatch included, unlike
// CallCommandOnLeader); nil when none came within timeout.
func commandOnLeader(c *Cluster, request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) *raft_cmdpb.RaftCmdResponse {
	deadline := time.Now().Add(timeout)
	finder := newLeaderFinder()
	for time.Now().Before(deadline) {
		region, leader, _ := c.schedulerClient.GetRegionByID(context.Background(), request.Header.RegionId)
		if region == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		target := finder.pick(region, leader)
		request.Header.Peer = target
		resp, txn, _ := c.callOnStore(target.StoreId, request, minDuration(attemptTimeout, time.Until(deadline)))
		discardTxn(txn)
		if resp == nil {
			finder.noAnswer(region)
			continue
		}
		if err := resp.GetHeader().GetError(); err != nil && err.GetNotLeader() != nil {
			finder.afterError(region, err)
			continue
		}
		return resp
	}
	return nil
}

func TestTransferLeader3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, _ := startCluster(t, 5, config.NewTestConfig())
	defer cluster.Shutdown()

	regionID := cluster.GetRegion(nil).Id
	for round := 0; round < 2; round++ {
		for id := uint64(1); id <= 5; id++ {
			cluster.MustTransferLeader(regionID, NewPeer(id, id))
			cluster.MustPut([]byte(fmt.Sprintf("k-%d-%d", round, id)), []byte("v"))
		}
	}
	// Transferring to the leader itself changes nothing.
	cluster.MustTransferLeader(regionID, NewPeer(5, 5))

	// A transferee that lags behind gets the log first: it must lead with
	// every committed write.
	cluster.AddFilter(NewPartitionFilter([]uint64{1}, []uint64{2, 3, 4, 5}))
	for i := 0; i < 20; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("lag-%02d", i)), []byte(fmt.Sprint(i)))
	}
	cluster.ClearFilters()
	cluster.MustTransferLeader(regionID, NewPeer(1, 1))
	for i := 0; i < 20; i++ {
		cluster.MustGet([]byte(fmt.Sprintf("lag-%02d", i)), []byte(fmt.Sprint(i)))
	}
	MustGetEqual(cluster.engines[1], []byte("lag-19"), []byte("19"))
}

// TestBasicConfChange3B shrinks region 1 to one peer and grows it again,
// reusing peer ids: an id removed from a store comes back to it, and an id
// that lived on one store later names a peer on another.
func TestBasicConfChange3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 5, config.NewTestConfig())
	defer cluster.Shutdown()

	cluster.MustTransferLeader(1, NewPeer(1, 1))
	for id := uint64(2); id <= 5; id++ {
		cluster.MustRemovePeer(1, NewPeer(id, id))
	}
	if region := cluster.GetRegion(nil); len(region.Peers) != 1 || region.RegionEpoch.ConfVer != 5 {
		fail("after removing 4 of 5 peers the region should have one peer and conf_ver 1+4 = 5, it is %v", region)
	}
	cluster.MustPut([]byte("k1"), []byte("v1"))
	MustGetNone(cluster.engines[2], []byte("k1"))

	// Peer 2 comes back to store 2 with the same id: it starts empty and
	// receives a snapshot.
	cluster.MustAddPeer(1, NewPeer(2, 2))
	cluster.MustPut([]byte("k2"), []byte("v2"))
	cluster.MustGet([]byte("k2"), []byte("v2"))
	MustGetEqual(cluster.engines[2], []byte("k1"), []byte("v1"))
	MustGetEqual(cluster.engines[2], []byte("k2"), []byte("v2"))
	MustGetNone(cluster.engines[5], []byte("k1"))

	cluster.MustAddPeer(1, NewPeer(3, 3))
	cluster.MustRemovePeer(1, NewPeer(2, 2))
	cluster.MustPut([]byte("k3"), []byte("v3"))
	cluster.MustGet([]byte("k3"), []byte("v3"))
	for _, k := range []string{"k1", "k2", "k3"} {
		MustGetEqual(cluster.engines[3], []byte(k), []byte("v"+k[1:]))
	}
	// The removed peer's data is gone from its store.
	MustGetNone(cluster.engines[2], []byte("k1"))
	MustGetNone(cluster.engines[2], []byte("k2"))

	cluster.MustAddPeer(1, NewPeer(2, 2))
	for _, k := range []string{"k1", "k2", "k3"} {
		MustGetEqual(cluster.engines[2], []byte(k), []byte("v"+k[1:]))
	}

	// Id 4 lived on store 4; now it names a peer on store 2.
	cluster.MustRemovePeer(1, NewPeer(2, 2))
	cluster.MustAddPeer(1, NewPeer(2, 4))
	cluster.MustRemovePeer(1, NewPeer(3, 3))
	cluster.MustPut([]byte("k4"), []byte("v4"))
	MustGetEqual(cluster.engines[2], []byte("k1"), []byte("v1"))
	MustGetEqual(cluster.engines[2], []byte("k4"), []byte("v4"))
	MustGetNone(cluster.engines[3], []byte("k1"))
	MustGetNone(cluster.engines[3], []byte("k4"))

	region := cluster.GetRegion(nil)
	if want := uint64(1 + 4 + 2 + 1 + 1 + 1 + 1 + 1); region.RegionEpoch.ConfVer != want {
		fail("region after 11 membership changes: want conf_ver %d, got %v", want, region)
	}
}

// commitAnnouncementFilter drops, from store from to store to, the appends
// that carry no entries: the messages by which a leader tells a follower
// that entries it already holds are committed.
type commitAnnouncementFilter struct {
	from, to uint64
}

func (f *commitAnnouncementFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	m := msg.GetMessage()
	return !(msg.GetFromPeer().GetStoreId() == f.from && msg.GetToPeer().GetStoreId() == f.to &&
		m.GetMsgType() == eraftpb.MessageType_MsgAppend && len(m.GetEntries()) == 0)
}

func (f *commitAnnouncementFilter) After() {}

func (f *commitAnnouncementFilter) String() string {
	return fmt.Sprintf("drop commit announcements %d -> %d", f.from, f.to)
}

// TestConfChangeRemoveLeader3B removes the leader of a five-peer region,
// then, again and again, the leader of a two-peer region while the leader
// cannot tell the other peer that its removal committed: the peer left
// alone must still be able to lead.
func TestConfChangeRemoveLeader3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 5, config.NewTestConfig())
	defer cluster.Shutdown()
	cluster.requestTimeout = 15 * time.Second

	cluster.MustTransferLeader(1, NewPeer(1, 1))
	cluster.MustPut([]byte("k0"), []byte("v0"))
	cluster.MustRemovePeer(1, NewPeer(1, 1))
	cluster.MustPut([]byte("k1"), []byte("v1"))
	waitLeaderNotOn(fail, cluster, 1, 1, "the leader on store 1 removed itself")
	MustGetNone(cluster.engines[1], []byte("k0"))

	cluster.MustRemovePeer(1, NewPeer(4, 4))
	cluster.MustRemovePeer(1, NewPeer(5, 5))
	// Now {2, 3}. Each turn the leader removes itself while its commit
	// announcements to the other peer are lost, and comes back with a new id.
	peers := map[uint64]*metapb.Peer{2: NewPeer(2, 2), 3: NewPeer(3, 3)}
	leaderStore, other := uint64(2), uint64(3)
	for turn := 0; turn < 4; turn++ {
		cluster.MustTransferLeader(1, peers[leaderStore])
		filter := &commitAnnouncementFilter{from: leaderStore, to: other}
		cluster.AddFilter(filter)
		cluster.schedulerClient.RemovePeer(1, peers[leaderStore])
		time.Sleep(time.Second)
		cluster.ClearFilters()
		cluster.MustNonePeer(1, peers[leaderStore])
		key := []byte(fmt.Sprintf("turn-%d", turn))
		cluster.MustPut(key, []byte("ok"))
		waitLeaderNotOn(fail, cluster, 1, leaderStore, fmt.Sprintf("turn %d: the leader on store %d of a two-peer region removed itself", turn, leaderStore))
		MustGetNone(cluster.engines[leaderStore], []byte("k1"))
		peers[leaderStore] = cluster.AllocPeer(leaderStore)
		cluster.MustAddPeer(1, peers[leaderStore])
		MustGetEqual(cluster.engines[leaderStore], key, []byte("ok"))
		leaderStore, other = other, leaderStore
	}
	cluster.MustGet([]byte("k1"), []byte("v1"))
}

// waitLeaderNotOn waits until the scheduler hears of a leader of the
// region on another store than storeID (a removed leader may report once
// more before the new leader does).
func waitLeaderNotOn(fail func(string, ...interface{}), c *Cluster, regionID, storeID uint64, what string) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, leader, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if leader != nil && leader.StoreId != storeID {
			return
		}
		if time.Now().After(deadline) {
			fail("%s: 2s after a write succeeded, the leader reported is still %v", what, leader)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfChangeRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, crash: true, confChange: true})
}

func TestConfChangeRecoverManyClients3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 20, crash: true, confChange: true})
}

func TestConfChangeUnreliable3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, confChange: true})
}

func TestConfChangeUnreliableRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, confChange: true})
}

func TestConfChangeSnapshotUnreliableRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, maxRaftLog: gcLimit2C, confChange: true})
}

func TestConfChangeSnapshotUnreliableRecoverConcurrentPartition3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, partitions: true, maxRaftLog: gcLimit2C,
		confChange: true, minReplicas: 3})
}

// TestOneSplit3B fills region 1 just past RegionMaxSize with one store cut
// off, and checks the split: where it cuts, how fast the scheduler knows,
// the answers to commands with the old epoch or a key of the other half,
// and that the cut-off store catches up with both halves.
func TestOneSplit3B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cfg := config.NewTestConfig()
	cfg.RegionMaxSize = 800
	cfg.RegionSplitSize = 500
	cluster, fail := startCluster(t, 5, cfg)
	defer cluster.Shutdown()

	cluster.MustPut([]byte("k1"), []byte("v1"))
	cluster.MustPut([]byte("k2"), []byte("v2"))
	before := cluster.GetRegion([]byte("k1"))
	// Cut off a follower's store. A leader cut off keeps calling itself
	// leader (and telling the scheduler so), and each put would first wait
	// a second for its answer: this test took 60-90 s in 3 of 9 runs.
	leader := cluster.LeaderOfRegion(before.Id)
	if leader == nil {
		fail("region %d has no leader within %v", before.Id, leaderWaitTimeout)
	}
	var cut uint64
	var others []uint64
	for id := uint64(1); id <= 5; id++ {
		if cut == 0 && id != leader.StoreId {
			cut = id
			continue
		}
		others = append(others, id)
	}
	cluster.AddFilter(NewPartitionFilter(others, []uint64{cut}))
	// 99 pairs of 8 bytes: with k1 and k2, 800 bytes, not over the limit.
	// The split checks of the next ticks find nothing to do; then one last
	// small write carries the region over (808 bytes): a size gate that
	// waits for more growth than that never splits it. In key order (k1,
	// k100 ... k199, k2) the running total first exceeds 500 at k162.
	for i := 100; i < 199; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i)))
	}
	time.Sleep(300 * time.Millisecond)
	cluster.MustPut([]byte("k199"), []byte("v199"))
	lastWrite := time.Now()

	var left, right *metapb.Region
	for {
		left, _, _ = cluster.schedulerClient.GetRegion(context.Background(), []byte("k1"))
		right, _, _ = cluster.schedulerClient.GetRegion(context.Background(), []byte("k2"))
		if left != nil && right != nil && left.Id != right.Id {
			break
		}
		if time.Since(lastWrite) > 200*time.Millisecond {
			fail("200ms after the region grew past RegionMaxSize (808 > 800 bytes), the scheduler does not know both halves: "+
				"k1 is in %v, k2 in %v (is the split reported right after it is applied?)", left, right)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cluster.ClearFilters()

	splitKey := []byte("k162")
	switch {
	case left.Id != before.Id:
		fail("the left half must keep the region's id %d, it is %v", before.Id, left)
	case !bytes.Equal(left.StartKey, before.StartKey) || !bytes.Equal(right.EndKey, before.EndKey):
		fail("the halves must cover the old range [%q, %q): left %v, right %v", before.StartKey, before.EndKey, left, right)
	case !bytes.Equal(left.EndKey, splitKey) || !bytes.Equal(right.StartKey, splitKey):
		fail("the split key must be %q (the first key at which the running size exceeds 500): left %v, right %v", splitKey, left, right)
	case left.RegionEpoch.Version != before.RegionEpoch.Version+1 || right.RegionEpoch.Version != before.RegionEpoch.Version+1:
		fail("a split adds one to the version of both halves (was %v): left %v, right %v", before.RegionEpoch, left.RegionEpoch, right.RegionEpoch)
	case left.RegionEpoch.ConfVer != before.RegionEpoch.ConfVer || right.RegionEpoch.ConfVer != before.RegionEpoch.ConfVer:
		fail("a split does not change conf_ver (was %v): left %v, right %v", before.RegionEpoch, left.RegionEpoch, right.RegionEpoch)
	case len(right.Peers) != len(before.Peers):
		fail("the right half has a peer on every store of the old region %v: %v", before.Peers, right.Peers)
	}
	for _, p := range before.Peers {
		if q := FindPeer(right, p.StoreId); q == nil || q.Id == p.Id {
			fail("the right half needs a new peer id on store %d (the old region's peer is %v): %v", p.StoreId, p, right.Peers)
		}
	}

	// A command for the left half with a key now in the right half.
	req := NewRequest(left.Id, left.RegionEpoch, []*raft_cmdpb.Request{NewGetCfCmd(engine_util.CfDefault, []byte("k2"))})
	resp := commandOnLeader(cluster, &req, 5*time.Second)
	if resp.GetHeader().GetError().GetKeyNotInRegion() == nil {
		fail("get of k2 sent to region %d [%q, %q) with its current epoch: want KeyNotInRegion, got %v", left.Id, left.StartKey, left.EndKey, resp)
	}
	// A command with the epoch from before the split.
	req = NewRequest(left.Id, before.RegionEpoch, []*raft_cmdpb.Request{NewGetCfCmd(engine_util.CfDefault, []byte("k1"))})
	resp = commandOnLeader(cluster, &req, 5*time.Second)
	notMatch := resp.GetHeader().GetError().GetEpochNotMatch()
	if notMatch == nil {
		fail("get of k1 with the epoch from before the split %v: want EpochNotMatch, got %v", before.RegionEpoch, resp)
	}
	if ids := regionIDsOf(notMatch.CurrentRegions); !ids[left.Id] || !ids[right.Id] {
		fail("EpochNotMatch after a split should list both halves %d and %d, it lists %v", left.Id, right.Id, notMatch.CurrentRegions)
	}

	// The cut-off store learns the split and both halves' data.
	MustGetEqual(cluster.engines[cut], []byte("k100"), []byte("v100"))
	MustGetEqual(cluster.engines[cut], []byte("k199"), []byte("v199"))
	cluster.MustPut([]byte("k3"), []byte("v3"))
	MustGetEqual(cluster.engines[cut], []byte("k3"), []byte("v3"))
	cluster.MustGet([]byte("k1"), []byte("v1"))
	cluster.MustGet([]byte("k2"), []byte("v2"))
}

func regionIDsOf(regions []*metapb.Region) map[uint64]bool {
	ids := make(map[uint64]bool)
	for _, r := range regions {
		ids[r.Id] = true
	}
	return ids
}

func TestSplitRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, crash: true, regionMaxSize: splitSize3B})
}

func TestSplitRecoverManyClients3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 20, crash: true, regionMaxSize: splitSize3B})
}

func TestSplitUnreliable3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, regionMaxSize: splitSize3B})
}

func TestSplitUnreliableRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, regionMaxSize: splitSize3B})
}

func TestSplitConfChangeSnapshotUnreliableRecover3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, maxRaftLog: gcLimit2C,
		confChange: true, regionMaxSize: splitSize3B})
}

func TestSplitConfChangeSnapshotUnreliableRecoverConcurrentPartition3B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, partitions: true, maxRaftLog: gcLimit2C,
		confChange: true, minReplicas: 3, regionMaxSize: splitSize3B})
}
