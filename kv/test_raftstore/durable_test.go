package test_raftstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// durableStates models what a power loss would leave of the stores'
// engines. The raftstore defers the fsync of its apply batches to kvdb
// (the raft log, synced, can replay them), and may defer a raft state in
// raftdb that only moves the commit index (raft learns it again), so a
// machine crash may lose what was written since an engine's last sync. An
// in-process stop loses nothing (badger finishes its writes, the page
// cache stays), so the model does it instead: at every sync of an engine
// it records the states of its regions (apply states in kvdb, raft states
// in raftdb) that sync makes durable, and after a stop it puts those
// states back. The data the lost applies wrote stays, which is harmless:
// replaying the same puts and deletes in order ends in the same state.
// What the model tests is that the store can redo the lost applies (the
// raft log must still hold them: the raft-log GC must not delete entries
// kvdb has not durably applied, and every admin command must have been
// synced with its batch), that it restarts from a commit index that went
// back, and that no raft state holding new entries, a term or a vote was
// left unsynced (that would be refused here as a broken promise).
type durableStates struct {
	mu sync.Mutex
	// states[engine][store][region] is the encoded state at the engine's
	// last sync.
	states [2]map[uint64]map[uint64][]byte
	// rolledBack counts the applied entries the crashes made the stores
	// redo; commitsLost the raft states put back to an older commit index.
	rolledBack, commitsLost uint64
}

// The two engines of a store, as indexes of durableStates.states.
const (
	kvEngine = iota
	raftEngine
)

var engineStateSuffix = [2]byte{kvEngine: meta.ApplyStateSuffix, raftEngine: meta.RaftStateSuffix}

// trackDurableStates starts recording at every sync of every store's engines.
func (c *Cluster) trackDurableStates() (*durableStates, error) {
	d := &durableStates{}
	for engine := range d.states {
		d.states[engine] = make(map[uint64]map[uint64][]byte)
	}
	for id, engines := range c.engines {
		for engine, db := range [2]*badger.DB{kvEngine: engines.Kv, raftEngine: engines.Raft} {
			id, engine, db := id, engine, db
			if !engine_util.OnSync(db, func() { d.record(engine, id, db) }) {
				if engine == kvEngine {
					return nil, fmt.Errorf("store %d: the kv engine syncs every write itself: no apply can be lost", id)
				}
				continue // a raft engine that syncs every write loses nothing
			}
			d.record(engine, id, db)
		}
	}
	return d, nil
}

// stateRegion is the region of a state key of the engine, or false.
func stateRegion(engine int, key []byte) (uint64, bool) {
	if len(key) != len(meta.ApplyStateKey(0)) || key[len(key)-1] != engineStateSuffix[engine] {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[2:10]), true
}

func (d *durableStates) record(engine int, storeID uint64, db *badger.DB) {
	states := make(map[uint64][]byte)
	prefix := []byte{meta.LocalPrefix, meta.RegionRaftPrefix}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			region, ok := stateRegion(engine, it.Item().Key())
			if !ok {
				continue
			}
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			states[region] = val
		}
		return nil
	})
	if err != nil {
		return // the engine is closing: no write can follow
	}
	d.mu.Lock()
	d.states[engine][storeID] = states
	d.mu.Unlock()
}

// loseUnsynced puts back, on a stopped store, the states of its engines'
// last syncs, as a power loss would.
func (d *durableStates) loseUnsynced(storeID uint64, engines *engine_util.Engines) error {
	if err := d.loseApplies(storeID, engines.Kv); err != nil {
		return err
	}
	return d.loseRaftStates(storeID, engines.Raft)
}

func (d *durableStates) synced(engine int, storeID uint64) map[uint64][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.states[engine][storeID]
}

func (d *durableStates) loseApplies(storeID uint64, kv *badger.DB) error {
	lost, err := putBack(kv, d.synced(kvEngine, storeID), meta.ApplyStateKey, "apply state",
		func(old, now *raft_serverpb.RaftApplyState) (uint64, error) {
			if now.AppliedIndex < old.AppliedIndex {
				return 0, fmt.Errorf("applied index %d is below %d, synced earlier", now.AppliedIndex, old.AppliedIndex)
			}
			return now.AppliedIndex - old.AppliedIndex, nil
		})
	if err != nil {
		return fmt.Errorf("store %d: %v", storeID, err)
	}
	d.mu.Lock()
	d.rolledBack += lost
	d.mu.Unlock()
	return nil
}

func (d *durableStates) loseRaftStates(storeID uint64, raftDB *badger.DB) error {
	lost, err := putBack(raftDB, d.synced(raftEngine, storeID), meta.RaftStateKey, "raft state",
		func(old, now *raft_serverpb.RaftLocalState) (uint64, error) {
			oldHS, nowHS := old.GetHardState(), now.GetHardState()
			if now.LastIndex != old.LastIndex || now.LastTerm != old.LastTerm || nowHS.GetTerm() != oldHS.GetTerm() || nowHS.GetVote() != oldHS.GetVote() {
				return 0, fmt.Errorf("raft state %v was written without a sync after %v: only a move of the commit index may wait "+
					"for the next sync (new entries, term and vote must be on disk before the peer acts on them)", now, old)
			}
			return 1, nil
		})
	if err != nil {
		return fmt.Errorf("store %d: %v", storeID, err)
	}
	d.mu.Lock()
	d.commitsLost += lost
	d.mu.Unlock()
	return nil
}

// state is a region's apply state or raft state, as S and its pointer P.
type state[S any] interface {
	*S
	proto.Message
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// putBack writes back into db the state of each region recorded at its
// last sync (synced: region -> encoded state) where it changed since.
// undone tells what putting old back in place of now undoes (summed in
// the result), or why now should never have waited for a sync.
func putBack[S any, P state[S]](db *badger.DB, synced map[uint64][]byte, key func(uint64) []byte, what string, undone func(old, now P) (uint64, error)) (uint64, error) {
	wb := new(engine_util.WriteBatch)
	var total uint64
	for region, durable := range synced {
		old, now := P(new(S)), P(new(S))
		if err := old.Unmarshal(durable); err != nil {
			return 0, fmt.Errorf("region %d: recorded %s: %v", region, what, err)
		}
		if err := engine_util.GetMeta(db, key(region), now); err != nil {
			return 0, fmt.Errorf("region %d: %s recorded at a sync is gone without a sync: %v", region, what, err)
		}
		if bytes.Equal(durable, mustMarshal(now)) {
			continue
		}
		n, err := undone(old, now)
		if err != nil {
			return 0, fmt.Errorf("region %d: %v", region, err)
		}
		total += n
		if err := wb.SetMeta(key(region), old); err != nil {
			return 0, err
		}
	}
	if err := wb.WriteToDB(db); err != nil {
		return 0, fmt.Errorf("put back the synced %ss: %v", what, err)
	}
	return total, nil
}

func mustMarshal(state interface{ Marshal() ([]byte, error) }) []byte {
	b, err := state.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}
