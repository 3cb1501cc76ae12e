package raftstore

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/Connor1996/badger"
	"github.com/google/btree"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// regionItem indexes a region by its end key in storeMeta.regionRanges, so
// the region containing a key is the first whose end key is greater.
type regionItem struct {
	region *metapb.Region
}

func regionItemLess(a, b regionItem) bool {
	return endKeyLess(a.region.EndKey, b.region.EndKey)
}

// endKeyLess orders end keys, the empty end key (end of the key space) last.
func endKeyLess(a, b []byte) bool {
	if len(b) == 0 {
		return len(a) != 0
	}
	if len(a) == 0 {
		return false
	}
	return bytes.Compare(a, b) < 0
}

// storeMeta is what the store knows of all its regions; the raft worker and
// the store worker share it under the lock.
type storeMeta struct {
	sync.RWMutex
	// regionRanges holds the regions by end key.
	regionRanges *btree.BTreeG[regionItem]
	// regions maps region id to region.
	regions map[uint64]*metapb.Region
	// pendingVotes are vote requests for regions not created yet.
	pendingVotes []*raft_serverpb.RaftMessage
}

func newStoreMeta() *storeMeta {
	return &storeMeta{
		regionRanges: btree.NewG(8, regionItemLess),
		regions:      map[uint64]*metapb.Region{},
	}
}

// maxPendingVotes bounds the votes kept for regions not created yet: a
// store whose split never comes (its peer was removed) would otherwise
// keep them forever. Votes are repeated, so dropping the oldest is safe.
const maxPendingVotes = 1024

// addPendingVote keeps a vote for a region this store will create when it
// applies a split; the caller holds the lock.
func (m *storeMeta) addPendingVote(msg *raft_serverpb.RaftMessage) {
	if len(m.pendingVotes) >= maxPendingVotes {
		m.pendingVotes = append(m.pendingVotes[:0], m.pendingVotes[1:]...)
	}
	m.pendingVotes = append(m.pendingVotes, msg)
}

// takePendingVotes removes and returns the votes kept for regionID; the
// caller holds the lock.
func (m *storeMeta) takePendingVotes(regionID uint64) []*raft_serverpb.RaftMessage {
	var taken []*raft_serverpb.RaftMessage
	kept := m.pendingVotes[:0]
	for _, vote := range m.pendingVotes {
		if vote.RegionId == regionID {
			taken = append(taken, vote)
		} else {
			kept = append(kept, vote)
		}
	}
	m.pendingVotes = kept
	return taken
}

// getOverlapRegions lists the regions whose range intersects region's.
func (m *storeMeta) getOverlapRegions(region *metapb.Region) []*metapb.Region {
	var result []*metapb.Region
	probe := regionItem{region: &metapb.Region{EndKey: region.StartKey}}
	m.regionRanges.AscendGreaterOrEqual(probe, func(item regionItem) bool {
		if len(region.EndKey) > 0 && bytes.Compare(item.region.StartKey, region.EndKey) >= 0 {
			return false
		}
		// An item whose end key equals our start key does not overlap.
		if len(item.region.EndKey) > 0 && bytes.Compare(item.region.EndKey, region.StartKey) <= 0 {
			return true
		}
		result = append(result, item.region)
		return true
	})
	return result
}

// GlobalContext is what every peer of the store shares.
type GlobalContext struct {
	cfg                  *config.Config
	engine               *engine_util.Engines
	store                *metapb.Store
	storeMeta            *storeMeta
	snapMgr              *snap.SnapManager
	router               *router
	trans                Transport
	schedulerTaskSender  chan<- worker.Task
	regionTaskSender     chan<- worker.Task
	snapGenTaskSender    chan<- worker.Task
	raftLogGCTaskSender  chan<- worker.Task
	splitCheckTaskSender chan<- worker.Task
	schedulerClient      scheduler_client.Client
	tickDriverSender     chan uint64
	// askingScheduler is set while a peer's question about its region is
	// with the scheduler worker: one at a time (stale_peer.go).
	askingScheduler atomic.Bool
}

// Transport sends raft messages to other stores.
type Transport interface {
	Send(msg *raft_serverpb.RaftMessage) error
}

// loadPeers creates a peer for every region this store has a live
// RegionLocalState of, finishing snapshot applies a crash interrupted.
func (bs *Raftstore) loadPeers() ([]*peer, error) {
	startKey := meta.RegionMetaMinKey
	endKey := meta.RegionMetaMaxKey
	ctx := bs.ctx
	kvEngine := ctx.engine.Kv
	storeID := ctx.store.Id

	var totalCount, tombStoneCount int
	var regionPeers []*peer

	kvWB := new(engine_util.WriteBatch)
	raftWB := new(engine_util.WriteBatch)
	err := kvEngine.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(startKey); it.Valid(); it.Next() {
			item := it.Item()
			if bytes.Compare(item.Key(), endKey) >= 0 {
				break
			}
			regionID, suffix, err := meta.DecodeRegionMetaKey(item.Key())
			if err != nil {
				return err
			}
			if suffix != meta.RegionStateSuffix {
				continue
			}
			val, err := item.Value()
			if err != nil {
				return errors.WithStack(err)
			}
			totalCount++
			localState := new(raft_serverpb.RegionLocalState)
			if err := localState.Unmarshal(val); err != nil {
				return errors.WithStack(err)
			}
			region := localState.Region
			if localState.State == raft_serverpb.PeerState_Tombstone {
				tombStoneCount++
				bs.clearStaleMeta(kvWB, raftWB, localState)
				continue
			}

			peer, err := createPeer(ctx, region)
			if err != nil {
				return err
			}
			if localState.State == PeerStateApplying {
				peer.peerStorage.snapState = snapState{stateType: snapStateApplying}
			}
			ctx.storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: region})
			ctx.storeMeta.regions[regionID] = region
			regionPeers = append(regionPeers, peer)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := kvWB.WriteToDB(ctx.engine.Kv); err != nil {
		return nil, err
	}
	if err := raftWB.WriteToDB(ctx.engine.Raft); err != nil {
		return nil, err
	}

	regions := make([]*metapb.Region, len(regionPeers))
	for i, p := range regionPeers {
		regions[i] = p.Region()
	}
	if err := bs.clearDataOutsideRegions(regions); err != nil {
		return nil, err
	}
	log.Infof("[store] store=%d starts with %d regions, including %d tombstones and %d peers",
		storeID, totalCount, tombStoneCount, len(regionPeers))
	return regionPeers, nil
}

// clearDataOutsideRegions deletes the data that lies in none of the
// store's live regions: what a peer destroyed right before a crash left
// (its tombstone is written first, its range deleted after, by the region
// worker). No region needs it: one that comes to cover the range again
// arrives by snapshot, which replaces the range's data anyway. Regions that
// overlap would be a corrupt store: then nothing is deleted.
func (bs *Raftstore) clearDataOutsideRegions(regions []*metapb.Region) error {
	sorted := slices.Clone(regions)
	slices.SortFunc(sorted, func(a, b *metapb.Region) int { return bytes.Compare(a.StartKey, b.StartKey) })
	var gaps [][2][]byte
	from := []byte{}
	for i, region := range sorted {
		if i > 0 && (len(from) == 0 || bytes.Compare(region.StartKey, from) < 0) {
			log.Errorf("[store] store=%d regions %v and %v overlap: data outside the regions is kept", bs.ctx.store.Id, sorted[i-1], region)
			return nil
		}
		if bytes.Compare(from, region.StartKey) < 0 {
			gaps = append(gaps, [2][]byte{from, region.StartKey})
		}
		from = region.EndKey
	}
	if len(sorted) == 0 || len(from) > 0 {
		gaps = append(gaps, [2][]byte{from, nil})
	}
	for _, gap := range gaps {
		if err := engine_util.DeleteRange(bs.ctx.engine.Kv, gap[0], gap[1]); err != nil {
			return errors.Annotatef(err, "delete the data in [%x, %x), outside the store's regions", gap[0], gap[1])
		}
		log.Debugf("[store] store=%d no data left in [%x, %x), outside its regions", bs.ctx.store.Id, gap[0], gap[1])
	}
	return nil
}

// clearStaleMeta deletes what a destroyed peer left behind.
func (bs *Raftstore) clearStaleMeta(kvWB, raftWB *engine_util.WriteBatch, originState *raft_serverpb.RegionLocalState) {
	region := originState.Region
	raftState, err := meta.GetRaftLocalState(bs.ctx.engine.Raft, region.Id)
	if err != nil {
		// The raft state is gone: a previous start already cleaned up.
		return
	}
	if err := ClearMeta(bs.ctx.engine, kvWB, raftWB, region.Id, raftState.LastIndex); err != nil {
		log.Errorf("[store] clearing meta of tombstone region %d failed: %v", region.Id, err)
		return
	}
	meta.WriteRegionState(kvWB, region, raft_serverpb.PeerState_Tombstone)
}

// workers are the background task queues of one store.
type workers struct {
	raftLogGCWorker  *worker.Worker
	schedulerWorker  *worker.Worker
	splitCheckWorker *worker.Worker
	regionWorker     *worker.Worker
	snapGenWorker    *worker.Worker
	wg               *sync.WaitGroup
}

// Raftstore is one store: its peers, the raft and store workers that drive
// them, and the background workers.
type Raftstore struct {
	ctx        *GlobalContext
	storeState *storeState
	router     *router
	workers    *workers
	tickDriver *tickDriver
	closeCh    chan struct{}
	wg         *sync.WaitGroup
}

func (bs *Raftstore) start(
	meta *metapb.Store,
	cfg *config.Config,
	engines *engine_util.Engines,
	trans Transport,
	schedulerClient scheduler_client.Client,
	snapMgr *snap.SnapManager) error {
	if bs.workers != nil {
		return errors.New("raftstore is already started")
	}
	if meta.Id == 0 {
		return errors.New("store id must not be 0")
	}
	if err := cfg.Validate(); err != nil {
		return errors.Annotate(err, "invalid raftstore config")
	}
	wg := new(sync.WaitGroup)
	bs.workers = &workers{
		splitCheckWorker: worker.NewWorker("split-check", wg),
		regionWorker:     worker.NewWorker("snapshot-worker", wg),
		snapGenWorker:    worker.NewWorker("snapshot-generator", wg),
		raftLogGCWorker:  worker.NewWorker("raft-gc-worker", wg),
		schedulerWorker:  worker.NewWorker("scheduler-worker", wg),
		wg:               wg,
	}
	bs.ctx = &GlobalContext{
		cfg:                  cfg,
		engine:               engines,
		store:                meta,
		storeMeta:            newStoreMeta(),
		snapMgr:              snapMgr,
		router:               bs.router,
		trans:                trans,
		schedulerTaskSender:  bs.workers.schedulerWorker.Sender(),
		regionTaskSender:     bs.workers.regionWorker.Sender(),
		snapGenTaskSender:    bs.workers.snapGenWorker.Sender(),
		splitCheckTaskSender: bs.workers.splitCheckWorker.Sender(),
		raftLogGCTaskSender:  bs.workers.raftLogGCWorker.Sender(),
		schedulerClient:      schedulerClient,
		tickDriverSender:     bs.tickDriver.newRegionCh,
	}
	regionPeers, err := bs.loadPeers()
	if err != nil {
		return err
	}

	for _, peer := range regionPeers {
		bs.router.register(peer)
	}
	bs.startWorkers(regionPeers)
	return nil
}

func (bs *Raftstore) startWorkers(peers []*peer) {
	ctx := bs.ctx
	workers := bs.workers
	router := bs.router
	bs.wg.Add(2) // raftWorker, storeWorker
	rw := newRaftWorker(ctx, router)
	go rw.run(bs.closeCh, bs.wg)
	sw := newStoreWorker(ctx, bs.storeState)
	go sw.run(bs.closeCh, bs.wg)
	router.sendStore(message.Msg{Type: message.MsgTypeStoreStart, Data: ctx.store})
	for i := 0; i < len(peers); i++ {
		regionID := peers[i].regionId
		_ = router.send(regionID, message.Msg{RegionID: regionID, Type: message.MsgTypeStart})
	}
	engines := ctx.engine
	cfg := ctx.cfg
	workers.splitCheckWorker.Start(runner.NewSplitCheckHandler(engines.Kv, NewRaftstoreRouter(router), cfg))
	workers.regionWorker.Start(runner.NewRegionTaskHandler(engines, ctx.snapMgr))
	workers.snapGenWorker.Start(runner.NewRegionTaskHandler(engines, ctx.snapMgr))
	workers.raftLogGCWorker.Start(runner.NewRaftLogGCTaskHandler())
	workers.schedulerWorker.Start(runner.NewSchedulerTaskHandler(ctx.store.Id, ctx.schedulerClient, NewRaftstoreRouter(router), bs.closeCh))
	bs.wg.Add(1)
	go bs.tickDriver.run(bs.closeCh, bs.wg)
}

// shutDown stops the raft, store and tick loops, then the workers, and
// waits for every goroutine. Commands still waiting are answered with
// ErrRegionNotFound, so their clients retry elsewhere at once.
func (bs *Raftstore) shutDown() {
	close(bs.closeCh)
	bs.wg.Wait()
	bs.answerWaitingCommands()
	bs.workers.splitCheckWorker.Stop()
	bs.workers.regionWorker.Stop()
	bs.workers.snapGenWorker.Stop()
	bs.workers.raftLogGCWorker.Stop()
	bs.workers.schedulerWorker.Stop()
	bs.workers.wg.Wait()
}

// answerWaitingCommands answers the proposals of every peer and the
// commands still queued for the raft worker, which has stopped.
func (bs *Raftstore) answerWaitingCommands() {
	bs.router.peers.Range(func(_, value interface{}) bool {
		p := value.(*peerState).peer
		for _, proposal := range p.proposals {
			notifyReqRegionRemoved(p.regionId, proposal.cb)
		}
		p.proposals = nil
		return true
	})
	for {
		select {
		case msg := <-bs.router.peerSender:
			if cmd, ok := msg.Data.(*message.MsgRaftCmd); ok {
				notifyReqRegionRemoved(msg.RegionID, cmd.Callback)
			}
		default:
			return
		}
	}
}

// CreateRaftstore makes a store that is not started yet, and the router
// that reaches it.
func CreateRaftstore(cfg *config.Config) (*Raftstore, *RaftstoreRouter) {
	storeSender, storeState := newStoreState(cfg)
	router := newRouter(storeSender)
	raftstore := &Raftstore{
		router:     router,
		storeState: storeState,
		tickDriver: newTickDriver(cfg.RaftBaseTickInterval, router, storeState.ticker),
		closeCh:    make(chan struct{}),
		wg:         new(sync.WaitGroup),
	}
	return raftstore, NewRaftstoreRouter(router)
}
