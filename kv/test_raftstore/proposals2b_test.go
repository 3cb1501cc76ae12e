package test_raftstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// TestDeposedLeaderAnswersItsProposals2B: a leader cut off from the others
// takes a write it can never commit; the others elect a leader whose own
// entries take the same log indexes. Once healed, the old leader must
// answer its proposal, with an error: the entry at its index is another
// term's (a proposal matched by index alone would be acknowledged, a
// proposal silently dropped would leave its client waiting forever).
func TestDeposedLeaderAnswersItsProposals2B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	cluster.MustPut([]byte("k"), []byte("before"))
	region := cluster.GetRegion(nil)
	leader := cluster.LeaderOfRegion(region.Id)
	if leader == nil {
		fail("no leader of region %d reported", region.Id)
	}
	var others []uint64
	for _, p := range region.Peers {
		if p.StoreId != leader.StoreId {
			others = append(others, p.StoreId)
		}
	}
	cluster.AddFilter(NewPartitionFilter([]uint64{leader.StoreId}, others))
	var callbacks []*raftCallback
	for i := 0; i < 3; i++ {
		req := NewRequest(region.Id, region.RegionEpoch, []*raft_cmdpb.Request{
			NewPutCfCmd(engine_util.CfDefault, []byte("k"), []byte(fmt.Sprintf("deposed %d", i)))})
		req.Header.Peer = leader
		cb, err := sendCommand(cluster, leader.StoreId, &req)
		if err != nil {
			fail("send a put to the leader on store %d: %v", leader.StoreId, err)
		}
		callbacks = append(callbacks, &raftCallback{cb: cb, what: fmt.Sprintf("put #%d", i)})
	}
	// The majority elects a leader and fills the same indexes.
	for i := 0; i < 5; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("m%d", i)), []byte("majority"))
	}
	cluster.ClearFilters()
	cluster.MustPut([]byte("after"), []byte("heal"))

	for _, c := range callbacks {
		resp := c.cb.WaitRespWithTimeout(5 * time.Second)
		if resp == nil {
			fail("%s, proposed on the cut-off leader (store %d) and overtaken by the new leader's entries, got no answer within 5s "+
				"after the network healed: every proposal must be answered (a client would wait forever)", c.what, leader.StoreId)
		}
		if resp.GetHeader().GetError() == nil {
			fail("%s, proposed on the cut-off leader (store %d) in its old term, was acknowledged although the entry at its index "+
				"belongs to the new leader's term: a proposal may only be answered by the entry of its own term (response %v)",
				c.what, leader.StoreId, resp)
		}
	}
	cluster.MustGet([]byte("k"), []byte("before"))
	MustGetEqual(cluster.engines[leader.StoreId], []byte("after"), []byte("heal"))
	MustGetEqual(cluster.engines[leader.StoreId], []byte("k"), []byte("before"))
}

// raftCallback is a command's callback and what the command was.
type raftCallback struct {
	cb   *message.Callback
	what string
}
