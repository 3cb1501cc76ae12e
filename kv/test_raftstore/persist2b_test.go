package test_raftstore

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Project 2B, persist before acknowledging: a store crashes at the worst
// instant (see crash.go), right after it acknowledged something, and what
// it acknowledged must have been on disk already.

// crashWaitTimeout bounds the wait for an armed crash to fire.
const crashWaitTimeout = 10 * time.Second

// TestAckedWriteSurvivesFollowerCrash2B: with one store cut off, a write
// is committed by the leader and the one follower that acknowledges it;
// that follower crashes right after sending its append response, and the
// leader is then lost for good. The follower, restarted, and the third
// store must still have the write: the follower told the leader it had
// the entry, so it must have saved it before saying so.
func TestAckedWriteSurvivesFollowerCrash2B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()

	cluster.MustPut([]byte("before"), []byte("the crash"))
	region := cluster.GetRegion(nil)
	// Cut off a store that is not the leader (as the network saw it
	// last): the write needs the other two.
	leader, _ := cluster.transport().checks.latestLeader(region.Id)
	var followers []uint64
	for _, p := range region.Peers {
		if p.Id != leader {
			followers = append(followers, p.StoreId)
		}
	}
	if len(followers) != 2 {
		fail("no leader of region %d seen on the network (peers %v)", region.Id, region.Peers)
	}
	cutOff := followers[cluster.rng.Intn(len(followers))]
	others := make([]uint64, 0, 2)
	for _, p := range region.Peers {
		if p.StoreId != cutOff {
			others = append(others, p.StoreId)
		}
	}
	cluster.AddFilter(NewPartitionFilter([]uint64{cutOff}, others))

	key, value := []byte("acknowledged"), []byte("must survive the crash")
	crash := cluster.CrashServerAfter(0, AfterAck(0, region.Id, PutOf(key)))
	cluster.MustPut(key, value)
	if !crash.Wait(crashWaitTimeout) {
		fail("the put of %q was answered, but no store acknowledged its entry within %v "+
			"(store %d cut off, the leader was peer %d): the harness could not stage the crash", key, crashWaitTimeout, cutOff, leader)
	}
	crashed, ackedTo := crash.StoreID(), crash.Message().GetToPeer().GetStoreId()
	ack := crash.Message().GetMessage()

	// The leader goes away for good; the crashed follower comes back and
	// meets the store that never saw the write.
	cluster.StopServer(ackedTo)
	cluster.ClearFilters()
	cluster.StartServer(crashed)
	if got := cluster.Get(key); !bytes.Equal(got, value) {
		fail("acknowledged write lost: the put of %q = %q was answered after store %d acknowledged its entry "+
			"(append response to store %d, term %d, index %d) and crashed right after; with store %d gone, stores %d and %d read %q. "+
			"Store %d sent its append response before saving the entry: HandleRaftReady must call SaveReadyState before sending the Ready's messages",
			key, value, crashed, ackedTo, ack.GetTerm(), ack.GetIndex(), ackedTo, crashed, cutOff, got, crashed)
	}
}

// TestGrantedVoteSurvivesCrash2B: the leader V of term T grants its vote
// to X for term T+1 and crashes right after sending it; X wins term T+1
// with it and is then cut off. V, restarted, meets the third store Y,
// which never heard of term T+1. V must remember its vote: if it forgot
// it, V and Y elect a second leader of term T+1.
func TestGrantedVoteSurvivesCrash2B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()
	checks := cluster.transport().checks

	// Let every log catch up, so that any of the stores can be elected.
	cluster.MustPut([]byte("before"), []byte("the elections"))
	time.Sleep(300 * time.Millisecond)
	region := cluster.GetRegion(nil)
	leaderPeer, term := checks.latestLeader(region.Id)
	var v, x, y uint64
	var others []uint64
	for _, p := range region.Peers {
		if p.Id == leaderPeer {
			v = p.StoreId
		} else {
			others = append(others, p.StoreId)
		}
	}
	if v == 0 || len(others) != 2 {
		fail("no leader of region %d seen on the network (peers %v)", region.Id, region.Peers)
	}
	x = others[cluster.rng.Intn(2)]
	y = others[0] + others[1] - x

	// X stops hearing from V (but for V's answers to X's vote requests) and
	// never hears from Y: X campaigns, Y stays a follower of V.
	cluster.AddFilter(&messageFilter{
		name: fmt.Sprintf("X=%d cut from Y=%d, only votes from V=%d to X", x, y, v),
		drop: func(msg *raft_serverpb.RaftMessage) bool {
			from, to := msg.GetFromPeer().GetStoreId(), msg.GetToPeer().GetStoreId()
			if (from == x && to == y) || (from == y && to == x) {
				return true
			}
			return from == v && to == x && msg.GetMessage().GetMsgType() != eraftpb.MessageType_MsgRequestVoteResponse
		},
	})
	crash := cluster.CrashServerAfter(v, AfterSent(v, region.Id, func(m *eraftpb.Message) bool {
		return m.GetMsgType() == eraftpb.MessageType_MsgRequestVoteResponse && !m.GetReject() && m.GetTerm() > term
	}))
	if !crash.Wait(crashWaitTimeout) {
		fail("store %d (leader in term %d) granted no vote within %v of store %d losing its heartbeats: the harness could not stage the crash",
			v, term, crashWaitTimeout, x)
	}
	voteTerm := crash.Message().GetMessage().GetTerm()
	cluster.AddFilter(NewPartitionFilter([]uint64{x}, []uint64{v, y}))
	cluster.StartServer(v)

	// V and Y elect a leader; a write through it tells when.
	cluster.MustPut([]byte("after"), []byte("the elections"))
	if leaders := checks.leadersOf(region.Id, voteTerm); len(leaders) > 1 {
		fail("two leaders in term %d of region %d: peers %v. Store %d granted its vote for term %d to store %d and crashed right after; "+
			"restarted, it voted again in that term. Store %d sent its vote before saving its hard state: "+
			"HandleRaftReady must call SaveReadyState before sending the Ready's messages",
			voteTerm, region.Id, leaders, v, voteTerm, x, v)
	}
}

// messageFilter drops the messages drop picks.
type messageFilter struct {
	name string
	drop func(msg *raft_serverpb.RaftMessage) bool
}

func (f *messageFilter) Before(msg *raft_serverpb.RaftMessage) bool { return !f.drop(msg) }

func (f *messageFilter) After() {}

func (f *messageFilter) String() string { return f.name }
