package test_raftstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
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
	cluster := NewTestCluster(3, config.NewTestConfig())
	cluster.name = t.Name()
	cluster.Start()
	defer cluster.Shutdown()
	fail := func(format string, args ...interface{}) {
		t.Helper()
		t.Fatalf(format+"\n(seed %d: replay with %s=%d)", append(args, cluster.seed, SeedEnv, cluster.seed)...)
	}

	cluster.MustPut([]byte("before"), []byte("the crash"))
	region := cluster.GetRegion(nil)
	leader := cluster.LeaderOfRegion(region.Id)
	if leader == nil {
		fail("no leader of region %d reported within %v of start", region.Id, leaderWaitTimeout)
	}
	// Cut off a store that is not the leader: the write needs the other two.
	var followers []uint64
	for _, p := range region.Peers {
		if p.StoreId != leader.StoreId {
			followers = append(followers, p.StoreId)
		}
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
			"(store %d cut off, the leader was store %d): the harness could not stage the crash", key, crashWaitTimeout, cutOff, leader.StoreId)
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
