package raftstore

import (
	"bytes"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

const (
	// initEpochVer and initEpochConfVer are the epoch of a bootstrapped region.
	initEpochVer     uint64 = 1
	initEpochConfVer uint64 = 1
)

// isRangeEmpty reports whether engine has no key in [startKey, endKey).
func isRangeEmpty(engine *badger.DB, startKey, endKey []byte) (bool, error) {
	var hasData bool
	err := engine.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		it.Seek(startKey)
		if it.Valid() {
			item := it.Item()
			if bytes.Compare(item.Key(), endKey) < 0 {
				hasData = true
			}
		}
		return nil
	})
	if err != nil {
		return false, errors.WithStack(err)
	}
	return !hasData, err
}

// BootstrapStore writes the store's identity into an empty store.
func BootstrapStore(engines *engine_util.Engines, clusterID, storeID uint64) error {
	ident := new(raft_serverpb.StoreIdent)
	empty, err := isRangeEmpty(engines.Kv, meta.MinKey, meta.MaxKey)
	if err != nil {
		return err
	}
	if !empty {
		return errors.New("kv store is not empty and has already had data")
	}
	empty, err = isRangeEmpty(engines.Raft, meta.MinKey, meta.MaxKey)
	if err != nil {
		return err
	}
	if !empty {
		return errors.New("raft store is not empty and has already had data")
	}
	ident.ClusterId = clusterID
	ident.StoreId = storeID
	err = engine_util.PutMeta(engines.Kv, meta.StoreIdentKey, ident)
	if err != nil {
		return err
	}
	return nil
}

// PrepareBootstrap creates the cluster's first region on this store (one
// peer, covering every key) and marks it as not yet reported to the
// scheduler (PrepareBootstrapKey).
func PrepareBootstrap(engines *engine_util.Engines, storeID, regionID, peerID uint64) (*metapb.Region, error) {
	region := &metapb.Region{
		Id:       regionID,
		StartKey: []byte{},
		EndKey:   []byte{},
		RegionEpoch: &metapb.RegionEpoch{
			Version: initEpochVer,
			ConfVer: initEpochConfVer,
		},
		Peers: []*metapb.Peer{
			{
				Id:      peerID,
				StoreId: storeID,
			},
		},
	}
	err := PrepareBootstrapCluster(engines, region)
	if err != nil {
		return nil, err
	}
	return region, nil
}

// PrepareBootstrapCluster writes the first region's initial states.
func PrepareBootstrapCluster(engines *engine_util.Engines, region *metapb.Region) error {
	state := new(raft_serverpb.RegionLocalState)
	state.Region = region
	kvWB := new(engine_util.WriteBatch)
	if err := kvWB.SetMeta(meta.PrepareBootstrapKey, state); err != nil {
		return err
	}
	if err := kvWB.SetMeta(meta.RegionStateKey(region.Id), state); err != nil {
		return err
	}
	if err := writeInitialApplyState(kvWB, region.Id); err != nil {
		return err
	}
	if err := engines.WriteKV(kvWB); err != nil {
		return err
	}
	raftWB := new(engine_util.WriteBatch)
	if err := writeInitialRaftState(raftWB, region.Id); err != nil {
		return err
	}
	return engines.WriteRaft(raftWB)
}

func writeInitialApplyState(kvWB *engine_util.WriteBatch, regionID uint64) error {
	applyState := &raft_serverpb.RaftApplyState{
		AppliedIndex: meta.RaftInitLogIndex,
		TruncatedState: &raft_serverpb.RaftTruncatedState{
			Index: meta.RaftInitLogIndex,
			Term:  meta.RaftInitLogTerm,
		},
	}
	return kvWB.SetMeta(meta.ApplyStateKey(regionID), applyState)
}

func writeInitialRaftState(raftWB *engine_util.WriteBatch, regionID uint64) error {
	raftState := &raft_serverpb.RaftLocalState{
		HardState: &eraftpb.HardState{
			Term:   meta.RaftInitLogTerm,
			Commit: meta.RaftInitLogIndex,
		},
		LastIndex: meta.RaftInitLogIndex,
		LastTerm:  meta.RaftInitLogTerm,
	}
	return raftWB.SetMeta(meta.RaftStateKey(regionID), raftState)
}

// ClearPrepareBootstrap undoes PrepareBootstrap: the scheduler chose
// another store's region to start the cluster.
func ClearPrepareBootstrap(engines *engine_util.Engines, regionID uint64) error {
	if err := engines.Raft.Update(func(txn *badger.Txn) error {
		return txn.Delete(meta.RaftStateKey(regionID))
	}); err != nil {
		return errors.WithStack(err)
	}
	if err := engine_util.SyncDB(engines.Raft); err != nil {
		return err
	}
	wb := new(engine_util.WriteBatch)
	wb.DeleteMeta(meta.PrepareBootstrapKey)
	wb.DeleteMeta(meta.RegionStateKey(regionID))
	wb.DeleteMeta(meta.ApplyStateKey(regionID))
	return engines.WriteKV(wb)
}

// ClearPrepareBootstrapState removes the mark once the scheduler knows the
// first region.
func ClearPrepareBootstrapState(engines *engine_util.Engines) error {
	err := engines.Kv.Update(func(txn *badger.Txn) error {
		return txn.Delete(meta.PrepareBootstrapKey)
	})
	if err == nil {
		err = engine_util.SyncDB(engines.Kv)
	}
	return errors.WithStack(err)
}
