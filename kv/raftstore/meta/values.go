package meta

import (
	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// The log of a bootstrapped region starts as if entries up to index 5 of
// term 5 had been applied and compacted: a peer created later by a message
// (log empty, index 0) is then always behind and gets a snapshot.
const (
	RaftInitLogTerm  = 5
	RaftInitLogIndex = 5
)

// GetRegionLocalState reads the region's RegionLocalState from kvdb.
func GetRegionLocalState(db *badger.DB, regionId uint64) (*raft_serverpb.RegionLocalState, error) {
	regionLocalState := new(raft_serverpb.RegionLocalState)
	if err := engine_util.GetMeta(db, RegionStateKey(regionId), regionLocalState); err != nil {
		return regionLocalState, err
	}
	return regionLocalState, nil
}

// GetRaftLocalState reads the region's RaftLocalState from raftdb.
func GetRaftLocalState(db *badger.DB, regionId uint64) (*raft_serverpb.RaftLocalState, error) {
	raftLocalState := new(raft_serverpb.RaftLocalState)
	if err := engine_util.GetMeta(db, RaftStateKey(regionId), raftLocalState); err != nil {
		return raftLocalState, err
	}
	return raftLocalState, nil
}

// GetApplyState reads the region's RaftApplyState from kvdb.
func GetApplyState(db *badger.DB, regionId uint64) (*raft_serverpb.RaftApplyState, error) {
	applyState := new(raft_serverpb.RaftApplyState)
	if err := engine_util.GetMeta(db, ApplyStateKey(regionId), applyState); err != nil {
		return nil, err
	}
	return applyState, nil
}

// GetRaftEntry reads one log entry of the region from raftdb.
func GetRaftEntry(db *badger.DB, regionId, idx uint64) (*eraftpb.Entry, error) {
	entry := new(eraftpb.Entry)
	if err := engine_util.GetMeta(db, RaftLogKey(regionId, idx), entry); err != nil {
		return nil, err
	}
	return entry, nil
}

// InitRaftLocalState returns the region's raft state, creating it when the
// store has none: an initialised region (with peers) starts at
// (RaftInitLogIndex, RaftInitLogTerm), a region created by a message at 0.
func InitRaftLocalState(raftEngine *badger.DB, region *metapb.Region) (*raft_serverpb.RaftLocalState, error) {
	raftState, err := GetRaftLocalState(raftEngine, region.Id)
	if err != nil && err != badger.ErrKeyNotFound {
		return nil, err
	}
	if err == badger.ErrKeyNotFound {
		raftState = new(raft_serverpb.RaftLocalState)
		raftState.HardState = new(eraftpb.HardState)
		if len(region.Peers) > 0 {
			raftState.LastIndex = RaftInitLogIndex
			raftState.LastTerm = RaftInitLogTerm
			raftState.HardState.Term = RaftInitLogTerm
			raftState.HardState.Commit = RaftInitLogIndex
			if err := engine_util.PutMeta(raftEngine, RaftStateKey(region.Id), raftState); err != nil {
				return raftState, err
			}
		}
	}
	return raftState, nil
}

// InitApplyState returns the region's apply state, creating it like
// InitRaftLocalState does.
func InitApplyState(kvEngine *badger.DB, region *metapb.Region) (*raft_serverpb.RaftApplyState, error) {
	applyState, err := GetApplyState(kvEngine, region.Id)
	if err != nil && err != badger.ErrKeyNotFound {
		return nil, err
	}
	if err == badger.ErrKeyNotFound {
		applyState = new(raft_serverpb.RaftApplyState)
		applyState.TruncatedState = new(raft_serverpb.RaftTruncatedState)
		if len(region.Peers) > 0 {
			applyState.AppliedIndex = RaftInitLogIndex
			applyState.TruncatedState.Index = RaftInitLogIndex
			applyState.TruncatedState.Term = RaftInitLogTerm
		}
		if err := engine_util.PutMeta(kvEngine, ApplyStateKey(region.Id), applyState); err != nil {
			return applyState, err
		}
	}
	return applyState, nil
}

// WriteRegionState puts the region's RegionLocalState into kvWB.
func WriteRegionState(kvWB *engine_util.WriteBatch, region *metapb.Region, state raft_serverpb.PeerState) {
	regionState := new(raft_serverpb.RegionLocalState)
	regionState.State = state
	regionState.Region = region
	if err := kvWB.SetMeta(RegionStateKey(region.Id), regionState); err != nil {
		// Encoding a well-formed message cannot fail.
		panic(err)
	}
}
