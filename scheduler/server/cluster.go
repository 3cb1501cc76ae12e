package server

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/id"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedulers"
)

// RaftCluster is the bootstrapped cluster as the leader sees it: the stores
// and regions (core.BasicCluster, kept current by heartbeats and persisted
// in etcd), the settings in force, and the scheduling on top of them. It
// implements schedule.Cluster.
type RaftCluster struct {
	*core.BasicCluster
	*config.ScheduleOption

	clusterID uint64
	kv        *kv.Etcd
	ids       *id.Allocator
	saver     *regionSaver
	hbStreams *heartbeatStreams
	coord     *schedule.Coordinator

	metaMu sync.Mutex
	meta   *metapb.Cluster

	// storeMu serialises store changes (PutStore, state changes) so that
	// the address check and the write see one another.
	storeMu sync.Mutex
	// regionMu serialises region heartbeats: the staleness checks and the
	// update of one heartbeat see every earlier update.
	regionMu sync.Mutex

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrRegionStale is the error of a heartbeat older than what is cached.
var ErrRegionStale = errors.New("region is stale")

func staleRegion(region, cached *metapb.Region) error {
	return errors.Annotatef(ErrRegionStale, "region %d epoch %s is older than cached region %d epoch %s",
		region.GetId(), epochString(region.GetRegionEpoch()), cached.GetId(), epochString(cached.GetRegionEpoch()))
}

func epochString(e *metapb.RegionEpoch) string {
	return fmt.Sprintf("{conf_ver %d, version %d}", e.GetConfVer(), e.GetVersion())
}

// newRaftCluster makes the cluster of meta with nothing loaded.
func newRaftCluster(ctx context.Context, clusterID uint64, store *kv.Etcd, ids *id.Allocator,
	opt *config.ScheduleOption, meta *metapb.Cluster) *RaftCluster {
	ctx, cancel := context.WithCancel(ctx)
	return &RaftCluster{
		BasicCluster:   core.NewBasicCluster(),
		ScheduleOption: opt,
		clusterID:      clusterID,
		kv:             store,
		ids:            ids,
		meta:           meta,
		hbStreams:      newHeartbeatStreams(clusterID),
		ctx:            ctx,
		cancel:         cancel,
	}
}

// load reads the persisted stores and regions. Regions come back without a
// leader: the scheduler learns the leader from the next heartbeat.
func (c *RaftCluster) load() error {
	start := time.Now()
	if err := loadStores(c.kv, func(s *metapb.Store) {
		c.BasicCluster.PutStore(core.NewStoreInfo(s))
	}); err != nil {
		return err
	}
	if err := loadRegions(c.kv, func(r *metapb.Region) {
		c.BasicCluster.PutRegion(core.NewRegionInfo(r, nil))
	}); err != nil {
		return err
	}
	log.Infof("[cluster] cluster=%d loaded stores=%d regions=%d in %v",
		c.clusterID, c.GetStoreCount(), c.GetRegionCount(), time.Since(start).Round(time.Millisecond))
	return nil
}

// start begins persisting regions in the background and scheduling.
func (c *RaftCluster) start() {
	c.saver = newRegionSaver(c.kv)
	c.coord = schedule.NewCoordinator(c, c.hbStreams)
	schedulers.AddDefaults(c.coord)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.coord.Run(c.ctx)
	}()
}

// stop ends scheduling and writes the regions still pending.
func (c *RaftCluster) stop() {
	c.cancel()
	c.wg.Wait()
	c.hbStreams.close()
	if c.saver != nil {
		c.saver.stop()
	}
}

// dispatch hands the region, as now cached, to the scheduling and sends
// the order for it, if any, to its leader.
func (c *RaftCluster) dispatch(regionID uint64) {
	if c.coord == nil {
		return
	}
	region := c.GetRegion(regionID)
	if region == nil {
		return
	}
	if msg := c.coord.OnRegionHeartbeat(region); msg != nil {
		c.hbStreams.SendMsg(region, msg)
	}
}

// getOperator answers GetOperator: the region's running operator, else the
// last one that ended; nil when there is neither.
func (c *RaftCluster) getOperator(regionID uint64) *schedulerpb.GetOperatorResponse {
	if c.coord == nil {
		return nil
	}
	op := c.coord.GetOperatorController().GetOperatorStatus(regionID)
	if op == nil {
		return nil
	}
	return &schedulerpb.GetOperatorResponse{
		RegionId: regionID,
		Desc:     []byte(op.String()),
		Status:   op.Status(),
		Kind:     []byte(op.Kind().String()),
	}
}

// GetMeta returns the cluster's metapb.Cluster.
func (c *RaftCluster) GetMeta() *metapb.Cluster {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	return proto.Clone(c.meta).(*metapb.Cluster)
}

// putMeta persists a new metapb.Cluster (the cluster id cannot change).
func (c *RaftCluster) putMeta(meta *metapb.Cluster) error {
	if meta.GetId() != c.clusterID {
		return errors.Errorf("cluster config names cluster %d, this is cluster %d", meta.GetId(), c.clusterID)
	}
	if meta.GetMaxPeerCount() > 7 {
		return errors.Errorf("cluster config: max_peer_count %d: at most 7", meta.GetMaxPeerCount())
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	var b kv.Batch
	if err := putProto(&b, clusterMetaKey, meta); err != nil {
		return err
	}
	if err := c.kv.Commit(&b); err != nil {
		return err
	}
	c.meta = proto.Clone(meta).(*metapb.Cluster)
	if n := meta.GetMaxPeerCount(); n > 0 {
		c.SetMaxReplicas(int(n))
	}
	return nil
}

// AllocPeer returns a new peer with a fresh id on the store.
func (c *RaftCluster) AllocPeer(storeID uint64) (*metapb.Peer, error) {
	peerID, err := c.ids.Alloc()
	if err != nil {
		return nil, err
	}
	return &metapb.Peer{Id: peerID, StoreId: storeID}, nil
}

// storeError is an error that answers a request with a header error type.
type storeError struct {
	typ schedulerpb.ErrorType
	msg string
}

func (e *storeError) Error() string { return e.msg }

func tombstoneError(storeID uint64) error {
	return &storeError{typ: schedulerpb.ErrorType_STORE_TOMBSTONE, msg: fmt.Sprintf("store %d is a tombstone", storeID)}
}

// PutStore registers a store or updates its address. The address must not
// be another live store's. A store keeps its state (a restart does not bring
// an Offline store back Up); a request whose state is Offline takes the
// store offline, one whose state is Tombstone buries it if it holds no
// region. A tombstone store stays one.
func (c *RaftCluster) PutStore(store *metapb.Store) error {
	if store.GetId() == 0 {
		return errors.New("put store: store id 0")
	}
	if store.GetAddress() == "" {
		return errors.Errorf("put store %d: empty address", store.GetId())
	}
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	for _, s := range c.GetStores() {
		if s.GetID() != store.GetId() && !s.IsTombstone() && s.GetAddress() == store.GetAddress() {
			return errors.Errorf("put store %d: address %s is already used by store %d", store.GetId(), store.GetAddress(), s.GetID())
		}
	}
	meta := proto.Clone(store).(*metapb.Store)
	old := c.GetStore(store.GetId())
	switch {
	case old == nil:
		if meta.State == metapb.StoreState_Tombstone {
			return errors.Errorf("put store %d: a new store cannot be a tombstone", store.GetId())
		}
	case old.IsTombstone():
		return tombstoneError(store.GetId())
	case meta.State == metapb.StoreState_Up:
		meta.State = old.GetState()
	case meta.State == metapb.StoreState_Tombstone && old.GetRegionCount() > 0:
		return errors.Errorf("put store %d: cannot bury a store that holds %d regions (take it offline first)",
			store.GetId(), old.GetRegionCount())
	}
	var b kv.Batch
	if err := putProto(&b, storeKey(meta.GetId()), meta); err != nil {
		return err
	}
	if err := c.kv.Commit(&b); err != nil {
		return err
	}
	if old == nil {
		c.BasicCluster.PutStore(core.NewStoreInfo(meta))
		log.Infof("[cluster] store=%d address=%s registered", meta.GetId(), meta.GetAddress())
	} else {
		c.BasicCluster.PutStore(core.NewStoreInfo(meta, core.SetStoreStats(old.GetStoreStats()),
			core.SetLastHeartbeatTS(old.GetLastHeartbeatTS())))
		if old.GetState() != meta.GetState() || old.GetAddress() != meta.GetAddress() {
			log.Infof("[cluster] store=%d address=%s state=%s updated", meta.GetId(), meta.GetAddress(), meta.GetState())
		}
	}
	return nil
}

// HandleStoreHeartbeat records a store's statistics and the time they came.
// An Offline store that holds no region any more becomes a Tombstone.
func (c *RaftCluster) HandleStoreHeartbeat(stats *schedulerpb.StoreStats) error {
	storeID := stats.GetStoreId()
	store := c.GetStore(storeID)
	if store == nil {
		return errors.Errorf("store heartbeat: store %d not found", storeID)
	}
	if store.IsTombstone() {
		return tombstoneError(storeID)
	}
	c.BasicCluster.PutStore(store.Clone(core.SetStoreStats(proto.Clone(stats).(*schedulerpb.StoreStats)),
		core.SetLastHeartbeatTS(time.Now())))
	if store.IsOffline() && store.GetRegionCount() == 0 {
		bury := proto.Clone(store.GetMeta()).(*metapb.Store)
		bury.State = metapb.StoreState_Tombstone
		if err := c.PutStore(bury); err != nil {
			log.Warnf("[cluster] store=%d offline and empty, cannot make it a tombstone: %v", storeID, err)
		}
	}
	return nil
}

// HandleRegionHeartbeat takes a heartbeat into the cache.
func (c *RaftCluster) HandleRegionHeartbeat(region *core.RegionInfo) error {
	if err := checkHeartbeatRegion(region); err != nil {
		return err
	}
	c.regionMu.Lock()
	defer c.regionMu.Unlock()
	return c.processRegionHeartbeat(region)
}

// checkHeartbeatRegion refuses a heartbeat the cache cannot take: no region
// id, no epoch, no peers, a leader that is not one of the peers, or a range
// that ends before it starts.
func checkHeartbeatRegion(region *core.RegionInfo) error {
	meta := region.GetMeta()
	switch {
	case meta.GetId() == 0:
		return errors.New("region heartbeat without a region id")
	case meta.GetRegionEpoch() == nil:
		return errors.Errorf("region %d: heartbeat without an epoch", meta.GetId())
	case len(meta.GetPeers()) == 0:
		return errors.Errorf("region %d: heartbeat without peers", meta.GetId())
	case region.GetLeader() == nil || region.GetPeer(region.GetLeader().GetId()) == nil:
		return errors.Errorf("region %d: heartbeat leader %v is not a peer of the region", meta.GetId(), region.GetLeader())
	case len(meta.GetEndKey()) > 0 && bytes.Compare(meta.GetStartKey(), meta.GetEndKey()) >= 0:
		return errors.Errorf("region %d: start key %q is not before end key %q", meta.GetId(), meta.GetStartKey(), meta.GetEndKey())
	}
	return nil
}

// processRegionHeartbeat takes a region heartbeat from its leader into the
// cache. A heartbeat whose epoch (version or conf_ver) is older than the
// cached region of the same id is stale; so is one whose range overlaps a
// cached region of a higher version. A stale heartbeat is refused with an
// error wrapping ErrRegionStale and changes nothing. Otherwise the region
// replaces the cached one and every cached region its range overlaps, when
// anything the scheduler uses changed (epoch, leader, pending peers,
// approximate size); a region whose metadata changed is persisted.
func (c *RaftCluster) processRegionHeartbeat(region *core.RegionInfo) error {
	// Your Code Here (3C).
	//lab:begin 3C
	origin := c.GetRegion(region.GetID())
	if origin != nil {
		e, o := region.GetRegionEpoch(), origin.GetRegionEpoch()
		if e.GetVersion() < o.GetVersion() || e.GetConfVer() < o.GetConfVer() {
			return staleRegion(region.GetMeta(), origin.GetMeta())
		}
	}
	overlaps := c.GetOverlaps(region)
	others := 0
	for _, o := range overlaps {
		if o.GetID() == region.GetID() {
			continue
		}
		others++
		if region.GetRegionEpoch().GetVersion() < o.GetRegionEpoch().GetVersion() {
			return staleRegion(region.GetMeta(), o.GetMeta())
		}
	}
	if origin != nil && others == 0 && !regionChanged(origin, region) {
		return nil
	}
	if origin == nil || metaChanged(origin.GetMeta(), region.GetMeta()) {
		c.saveRegion(region.GetMeta())
	}
	for _, o := range c.PutRegion(region) {
		c.removeRegion(o.GetID())
		log.Infof("[cluster] region=%d replaced by region=%d epoch=%s", o.GetID(), region.GetID(), epochString(region.GetRegionEpoch()))
	}
	//lab:end
	return nil
}

// regionChanged reports whether a heartbeat changes anything the scheduler
// uses of the cached region.
func regionChanged(origin, region *core.RegionInfo) bool {
	if metaChanged(origin.GetMeta(), region.GetMeta()) {
		return true
	}
	if origin.GetLeader().GetId() != region.GetLeader().GetId() {
		return true
	}
	if origin.GetApproximateSize() != region.GetApproximateSize() {
		return true
	}
	return !samePeers(origin.GetPendingPeers(), region.GetPendingPeers()) ||
		!samePeers(origin.GetDownPeers(), region.GetDownPeers())
}

// metaChanged reports whether the persisted part of a region changed.
func metaChanged(origin, region *metapb.Region) bool {
	oe, e := origin.GetRegionEpoch(), region.GetRegionEpoch()
	return oe.GetVersion() != e.GetVersion() || oe.GetConfVer() != e.GetConfVer() ||
		!bytes.Equal(origin.GetStartKey(), region.GetStartKey()) ||
		!bytes.Equal(origin.GetEndKey(), region.GetEndKey()) ||
		!samePeers(origin.GetPeers(), region.GetPeers())
}

func samePeers(a, b []*metapb.Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetId() != b[i].GetId() || a[i].GetStoreId() != b[i].GetStoreId() {
			return false
		}
	}
	return true
}

// saveRegion persists a region in the background (nothing in tests that
// build a cluster without a store).
func (c *RaftCluster) saveRegion(region *metapb.Region) {
	if c.saver != nil {
		c.saver.save(proto.Clone(region).(*metapb.Region))
	}
}

// removeRegion deletes a persisted region in the background.
func (c *RaftCluster) removeRegion(regionID uint64) {
	if c.saver != nil {
		c.saver.remove(regionID)
	}
}

// askSplit answers the ids of a split of region: a new region id and one
// new peer id per peer, in peer order.
func (c *RaftCluster) askSplit(region *metapb.Region) (*schedulerpb.AskSplitResponse, error) {
	if region.GetId() == 0 || len(region.GetPeers()) == 0 {
		return nil, errors.Errorf("ask split: region %d with %d peers: want a region with peers", region.GetId(), len(region.GetPeers()))
	}
	if c.GetRegion(region.GetId()) == nil {
		log.Debugf("[cluster] region=%d asks to split before its first heartbeat", region.GetId())
	}
	newID, err := c.ids.Alloc()
	if err != nil {
		return nil, err
	}
	peerIDs := make([]uint64, len(region.GetPeers()))
	for i := range peerIDs {
		if peerIDs[i], err = c.ids.Alloc(); err != nil {
			return nil, err
		}
	}
	log.Infof("[cluster] region=%d split: new region=%d peers=%v", region.GetId(), newID, peerIDs)
	return &schedulerpb.AskSplitResponse{NewRegionId: newID, NewPeerIds: peerIDs}, nil
}
