package runner

import (
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// RegionTaskGen asks for a snapshot of the region at its applied index.
// Notifier must have room for one value; exactly one is sent: the snapshot,
// or nil when generating it failed (the peer then asks again later).
type RegionTaskGen struct {
	RegionId uint64
	Notifier chan<- *eraftpb.Snapshot
}

// RegionTaskApply asks to replace the data of [StartKey, EndKey) with the
// received snapshot SnapMeta of the region. Notifier (room for one value)
// gets true once the data is in place, false when applying failed.
type RegionTaskApply struct {
	RegionId uint64
	Notifier chan<- bool
	SnapMeta *eraftpb.SnapshotMetadata
	StartKey []byte
	EndKey   []byte
}

// RegionTaskDestroy asks to delete the data of [StartKey, EndKey), the range
// of a region that left this store.
type RegionTaskDestroy struct {
	RegionId uint64
	StartKey []byte
	EndKey   []byte
}

// regionTaskHandler runs the region worker: it generates, applies and
// destroys region data, one task at a time.
type regionTaskHandler struct {
	engines *engine_util.Engines
	mgr     *snap.SnapManager
}

// NewRegionTaskHandler makes the handler of the region worker.
func NewRegionTaskHandler(engines *engine_util.Engines, mgr *snap.SnapManager) *regionTaskHandler {
	return &regionTaskHandler{engines: engines, mgr: mgr}
}

// Handle runs one RegionTaskGen, RegionTaskApply or RegionTaskDestroy.
func (r *regionTaskHandler) Handle(t worker.Task) {
	switch task := t.(type) {
	case *RegionTaskGen:
		r.handleGen(task)
	case *RegionTaskApply:
		r.handleApply(task)
	case *RegionTaskDestroy:
		r.handleDestroy(task)
	default:
		log.Errorf("[snap] region worker got a task of unexpected type %T", t)
	}
}

// handleGen answers a RegionTaskGen; a failure is answered with nil.
func (r *regionTaskHandler) handleGen(task *RegionTaskGen) {
	start := time.Now()
	snapshot, err := doSnapshot(r.engines, r.mgr, task.RegionId)
	if err != nil {
		log.Errorf("[snap] region=%d generating a snapshot failed: %v", task.RegionId, err)
		metrics.SnapshotFailed("generate")
		snapshot = nil
	} else {
		metrics.Snapshot("generate", 0, time.Since(start))
		log.Infof("[snap] region=%d term=%d generated snapshot at index %d in %v",
			task.RegionId, snapshot.Metadata.Term, snapshot.Metadata.Index, time.Since(start))
	}
	if task.Notifier != nil {
		task.Notifier <- snapshot
	}
}

// doSnapshot builds the files of a snapshot of the region at its applied
// index, reading apply state, region and data through one transaction so
// that they agree, and returns the raft snapshot describing it.
func doSnapshot(engines *engine_util.Engines, mgr *snap.SnapManager, regionID uint64) (*eraftpb.Snapshot, error) {
	txn := engines.Kv.NewTransaction(false)
	defer txn.Discard()

	applyState := new(rspb.RaftApplyState)
	if err := engine_util.GetMetaFromTxn(txn, meta.ApplyStateKey(regionID), applyState); err != nil {
		return nil, errors.Annotate(err, "read apply state")
	}
	regionState := new(rspb.RegionLocalState)
	if err := engine_util.GetMetaFromTxn(txn, meta.RegionStateKey(regionID), regionState); err != nil {
		return nil, errors.Annotate(err, "read region state")
	}
	if regionState.GetState() != rspb.PeerState_Normal {
		return nil, errors.Errorf("region is in state %v, not normal", regionState.GetState())
	}
	index := applyState.GetAppliedIndex()
	term, err := termOfApplied(engines, regionID, applyState)
	if err != nil {
		return nil, err
	}
	key := snap.SnapKey{RegionID: regionID, Term: term, Index: index}
	mgr.Register(key, snap.SnapEntryGenerating)
	defer mgr.Deregister(key, snap.SnapEntryGenerating)

	s, err := mgr.GetSnapshotForBuilding(key)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	region := regionState.GetRegion()
	snapData := &rspb.RaftSnapshotData{Region: region}
	if err := s.Build(txn, region, snapData, new(snap.SnapStatistics), mgr.Deleter()); err != nil {
		return nil, err
	}
	data, err := snapData.Marshal()
	if err != nil {
		return nil, errors.Annotate(err, "encode snapshot data")
	}
	confState := util.ConfStateFromRegion(region)
	return &eraftpb.Snapshot{
		Data: data,
		Metadata: &eraftpb.SnapshotMetadata{
			ConfState: &confState,
			Index:     index,
			Term:      term,
		},
	}, nil
}

// termOfApplied is the term of the applied entry: the truncated term when
// the log was compacted up to it, else read from the raft log (which a
// concurrent log GC may just have removed: generation then fails and is
// retried).
func termOfApplied(engines *engine_util.Engines, regionID uint64, applyState *rspb.RaftApplyState) (uint64, error) {
	index := applyState.GetAppliedIndex()
	if truncated := applyState.GetTruncatedState(); truncated != nil && truncated.Index == index {
		return truncated.Term, nil
	}
	entry, err := meta.GetRaftEntry(engines.Raft, regionID, index)
	if err != nil {
		return 0, errors.Annotatef(err, "read term of applied entry %d", index)
	}
	return entry.GetTerm(), nil
}

// handleApply answers a RegionTaskApply with true when the data is in place.
func (r *regionTaskHandler) handleApply(task *RegionTaskApply) {
	start := time.Now()
	err := r.applySnap(task)
	if err != nil {
		log.Errorf("[snap] region=%d applying snapshot failed: %v", task.RegionId, err)
		metrics.SnapshotFailed("apply")
	} else {
		metrics.Snapshot("apply", 0, time.Since(start))
		log.Infof("[snap] region=%d term=%d applied snapshot at index %d in %v",
			task.RegionId, task.SnapMeta.GetTerm(), task.SnapMeta.GetIndex(), time.Since(start))
	}
	if task.Notifier != nil {
		task.Notifier <- err == nil
	}
}

// applySnap deletes the old data of the range and ingests the snapshot.
// Both steps can be repeated, so an apply cut short by a crash is simply
// done again.
func (r *regionTaskHandler) applySnap(task *RegionTaskApply) error {
	if task.SnapMeta == nil {
		return errors.New("no snapshot metadata")
	}
	key := snap.SnapKey{RegionID: task.RegionId, Term: task.SnapMeta.Term, Index: task.SnapMeta.Index}
	r.mgr.Register(key, snap.SnapEntryApplying)
	defer r.mgr.Deregister(key, snap.SnapEntryApplying)

	s, err := r.mgr.GetSnapshotForApplying(key)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := engine_util.DeleteRange(r.engines.Kv, task.StartKey, task.EndKey); err != nil {
		return errors.Annotate(err, "delete old data")
	}
	region := &metapb.Region{Id: task.RegionId, StartKey: task.StartKey, EndKey: task.EndKey}
	return s.Apply(snap.ApplyOptions{DB: r.engines.Kv, Region: region})
}

// handleDestroy deletes the data of a range.
func (r *regionTaskHandler) handleDestroy(task *RegionTaskDestroy) {
	if err := engine_util.DeleteRange(r.engines.Kv, task.StartKey, task.EndKey); err != nil {
		log.Errorf("[snap] region=%d deleting data [%x, %x) failed: %v", task.RegionId, task.StartKey, task.EndKey, err)
		return
	}
	log.Infof("[snap] region=%d deleted data [%x, %x)", task.RegionId, task.StartKey, task.EndKey)
}
