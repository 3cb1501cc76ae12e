package runner

import (
	"context"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// SchedulerAskSplitTask asks the scheduler for the ids of a split of Region
// at SplitKey, then proposes the split to the region's leader.
type SchedulerAskSplitTask struct {
	Region   *metapb.Region
	SplitKey []byte
	Peer     *metapb.Peer
	Callback *message.Callback
}

// SchedulerRegionHeartbeatTask reports a region from its leader.
type SchedulerRegionHeartbeatTask struct {
	Region          *metapb.Region
	Peer            *metapb.Peer
	PendingPeers    []*metapb.Peer
	ApproximateSize *uint64
}

// SchedulerStoreHeartbeatTask reports the store. The handler adds the
// store's start time and what DataDir (the store's data directory) tells of
// the disk: used size, capacity, available.
type SchedulerStoreHeartbeatTask struct {
	Stats   *schedulerpb.StoreStats
	DataDir string
}

// SchedulerRegionTask asks the scheduler for region RegionID for the
// region's peer on this store, which heard from no leader since before
// AskedAt, and hands it the answer (message.MsgTypeSchedulerRegion). Done
// is called once the question is over, answered or not.
type SchedulerRegionTask struct {
	RegionID uint64
	AskedAt  time.Time
	Done     func()
}

// regionQuestionTimeout bounds a peer's question about its region: the
// question can wait for the next one, the worker's other tasks cannot.
const regionQuestionTimeout = 5 * time.Second

// schedulerTaskHandler talks to the scheduler for the store, and turns the
// scheduler's orders for regions into admin commands.
type schedulerTaskHandler struct {
	storeID         uint64
	SchedulerClient scheduler_client.Client
	router          message.RaftRouter
	// started is when the store started, reported in store heartbeats.
	started time.Time
	// ctx ends when the store shuts down: a call to a scheduler that does
	// not answer (it retries until its timeout) must not hold the stop.
	ctx context.Context
}

// NewSchedulerTaskHandler makes the scheduler worker's handler; its calls
// to the scheduler end when stop is closed.
func NewSchedulerTaskHandler(storeID uint64, schedulerClient scheduler_client.Client, router message.RaftRouter, stop <-chan struct{}) *schedulerTaskHandler {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	return &schedulerTaskHandler{
		storeID:         storeID,
		SchedulerClient: schedulerClient,
		router:          router,
		started:         time.Now(),
		ctx:             ctx,
	}
}

func (r *schedulerTaskHandler) Handle(t worker.Task) {
	switch task := t.(type) {
	case *SchedulerAskSplitTask:
		r.onAskSplit(task.Region, task.SplitKey, task.Peer, task.Callback)
	case *SchedulerRegionHeartbeatTask:
		r.onHeartbeat(task.Region, task.Peer, task.PendingPeers, task.ApproximateSize)
	case *SchedulerStoreHeartbeatTask:
		r.onStoreHeartbeat(task.Stats, task.DataDir)
	case *SchedulerRegionTask:
		r.onRegion(task)
	default:
		log.Errorf("[scheduler] unsupported worker.Task: %+v", t)
	}
}

// Start installs the handler of the scheduler's orders.
func (r *schedulerTaskHandler) Start() {
	r.SchedulerClient.SetRegionHeartbeatResponseHandler(r.storeID, r.onRegionHeartbeatResponse)
}

func (r *schedulerTaskHandler) onRegionHeartbeatResponse(resp *schedulerpb.RegionHeartbeatResponse) {
	if changePeer := resp.GetChangePeer(); changePeer != nil {
		r.sendAdminRequest(resp.RegionId, resp.RegionEpoch, resp.TargetPeer, &raft_cmdpb.AdminRequest{
			CmdType: raft_cmdpb.AdminCmdType_ChangePeer,
			ChangePeer: &raft_cmdpb.ChangePeerRequest{
				ChangeType: changePeer.ChangeType,
				Peer:       changePeer.Peer,
			},
		}, message.NewCallback())
	} else if transferLeader := resp.GetTransferLeader(); transferLeader != nil {
		r.sendAdminRequest(resp.RegionId, resp.RegionEpoch, resp.TargetPeer, &raft_cmdpb.AdminRequest{
			CmdType: raft_cmdpb.AdminCmdType_TransferLeader,
			TransferLeader: &raft_cmdpb.TransferLeaderRequest{
				Peer: transferLeader.Peer,
			},
		}, message.NewCallback())
	}
}

func (r *schedulerTaskHandler) onAskSplit(region *metapb.Region, splitKey []byte, peer *metapb.Peer, callback *message.Callback) {
	resp, err := r.SchedulerClient.AskSplit(r.ctx, region)
	if err != nil {
		log.Errorf("[split] ask split for region %d failed: %v", region.Id, err)
		callback.Done(nil)
		return
	}

	aReq := &raft_cmdpb.AdminRequest{
		CmdType: raft_cmdpb.AdminCmdType_Split,
		Split: &raft_cmdpb.SplitRequest{
			SplitKey:    splitKey,
			NewRegionId: resp.NewRegionId,
			NewPeerIds:  resp.NewPeerIds,
		},
	}
	r.sendAdminRequest(region.GetId(), region.GetRegionEpoch(), peer, aReq, callback)
}

func (r *schedulerTaskHandler) onHeartbeat(region *metapb.Region, peer *metapb.Peer, pendingPeers []*metapb.Peer, approximateSize *uint64) {
	var size uint64
	if approximateSize != nil {
		size = *approximateSize
	}

	req := &schedulerpb.RegionHeartbeatRequest{
		Region:          region,
		Leader:          peer,
		PendingPeers:    pendingPeers,
		ApproximateSize: size,
	}
	if err := r.SchedulerClient.RegionHeartbeat(req); err != nil {
		log.Warnf("[scheduler] region %d heartbeat failed: %v", region.Id, err)
	}
}

func (r *schedulerTaskHandler) onRegion(task *SchedulerRegionTask) {
	defer task.Done()
	ctx, cancel := context.WithTimeout(r.ctx, regionQuestionTimeout)
	defer cancel()
	region, _, err := r.SchedulerClient.GetRegionByID(ctx, task.RegionID)
	if err != nil {
		log.Warnf("[scheduler] get region %d failed: %v", task.RegionID, err)
		return
	}
	if region == nil {
		// Not known to the scheduler (yet): it cannot tell the peer anything.
		return
	}
	answer := &message.MsgSchedulerRegion{Region: region, AskedAt: task.AskedAt}
	if err := r.router.Send(task.RegionID, message.NewPeerMsg(message.MsgTypeSchedulerRegion, task.RegionID, answer)); err != nil {
		log.Debugf("[scheduler] region %d: the peer that asked is gone: %v", task.RegionID, err)
	}
}

func (r *schedulerTaskHandler) onStoreHeartbeat(stats *schedulerpb.StoreStats, dataDir string) {
	if err := fillStoreStats(stats, dataDir, r.started); err != nil {
		log.Warnf("[scheduler] store %d disk statistics of %s unknown: %v", stats.StoreId, dataDir, err)
	}
	if err := r.SchedulerClient.StoreHeartbeat(r.ctx, stats); err != nil {
		log.Warnf("[scheduler] store %d heartbeat failed: %v", stats.StoreId, err)
	}
}

func (r *schedulerTaskHandler) sendAdminRequest(regionID uint64, epoch *metapb.RegionEpoch, peer *metapb.Peer, req *raft_cmdpb.AdminRequest, callback *message.Callback) {
	cmd := &raft_cmdpb.RaftCmdRequest{
		Header: &raft_cmdpb.RaftRequestHeader{
			RegionId:    regionID,
			Peer:        peer,
			RegionEpoch: epoch,
		},
		AdminRequest: req,
	}
	if err := r.router.SendRaftCommand(cmd, callback); err != nil {
		callback.Done(nil)
	}
}
