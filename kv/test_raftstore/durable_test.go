package test_raftstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// durableApplies models what a power loss would leave of the stores' kv
// engines. The raftstore defers the fsync of its apply batches (the raft
// log, always synced, can replay them), so a machine crash may lose the
// applies since the engine's last sync. An in-process stop loses nothing
// (badger finishes its writes, the page cache stays), so the model does it
// instead: at every sync of a store's kvdb it records the apply states that
// sync makes durable, and after a stop it puts those states back. The data
// the lost applies wrote stays, which is harmless: replaying the same
// puts and deletes in order ends in the same state. What the model tests
// is that the store can redo the lost applies: the raft log must still
// hold them (the raft-log GC must not delete entries kvdb has not durably
// applied), and every admin command must have been synced with its batch.
type durableApplies struct {
	mu sync.Mutex
	// states[store][region] is the encoded apply state at the store's last sync.
	states map[uint64]map[uint64][]byte
	// rolledBack counts the applied entries the crashes made the stores redo.
	rolledBack uint64
}

// trackDurableApplies starts recording at every kvdb sync of every store.
func (c *Cluster) trackDurableApplies() (*durableApplies, error) {
	d := &durableApplies{states: make(map[uint64]map[uint64][]byte)}
	for id, engines := range c.engines {
		id, kv := id, engines.Kv
		if !engine_util.OnSync(kv, func() { d.record(id, kv) }) {
			return nil, fmt.Errorf("store %d: the kv engine syncs every write itself: no apply can be lost", id)
		}
		d.record(id, kv)
	}
	return d, nil
}

// applyStateRegion is the region of an apply state key of kvdb, or false.
func applyStateRegion(key []byte) (uint64, bool) {
	if len(key) != len(meta.ApplyStateKey(0)) || key[len(key)-1] != meta.ApplyStateSuffix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[2:10]), true
}

func (d *durableApplies) record(storeID uint64, kv *badger.DB) {
	states := make(map[uint64][]byte)
	prefix := []byte{meta.LocalPrefix, meta.RegionRaftPrefix}
	err := kv.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			region, ok := applyStateRegion(it.Item().Key())
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
	d.states[storeID] = states
	d.mu.Unlock()
}

// loseUnsynced puts back, on a stopped store, the apply states of its last
// kvdb sync, as a power loss would.
func (d *durableApplies) loseUnsynced(storeID uint64, kv *badger.DB) error {
	d.mu.Lock()
	states := d.states[storeID]
	d.mu.Unlock()
	wb := new(engine_util.WriteBatch)
	var lost uint64
	for region, durable := range states {
		var old, now raft_serverpb.RaftApplyState
		if err := old.Unmarshal(durable); err != nil {
			return fmt.Errorf("store %d region %d: recorded apply state: %v", storeID, region, err)
		}
		if err := engine_util.GetMeta(kv, meta.ApplyStateKey(region), &now); err != nil {
			return fmt.Errorf("store %d region %d: apply state recorded at a sync is gone without a sync: %v", storeID, region, err)
		}
		if bytes.Equal(durable, mustMarshal(&now)) {
			continue
		}
		if now.AppliedIndex < old.AppliedIndex {
			return fmt.Errorf("store %d region %d: applied index %d is below %d, synced earlier", storeID, region, now.AppliedIndex, old.AppliedIndex)
		}
		lost += now.AppliedIndex - old.AppliedIndex
		if err := wb.SetMeta(meta.ApplyStateKey(region), &old); err != nil {
			return err
		}
	}
	if err := wb.WriteToDB(kv); err != nil {
		return fmt.Errorf("store %d: put back the synced apply states: %v", storeID, err)
	}
	d.mu.Lock()
	d.rolledBack += lost
	d.mu.Unlock()
	return nil
}

func mustMarshal(state *raft_serverpb.RaftApplyState) []byte {
	b, err := state.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}
