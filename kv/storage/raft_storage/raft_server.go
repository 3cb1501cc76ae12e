// Package raft_storage is the Storage of project 2: every write and every
// read goes through the raft group of its region, so each is replicated and
// linearizable. It also holds the network side of a store: the transport
// that sends raft messages to other stores, and the snap worker that
// streams snapshots.
package raft_storage

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
)

// readTimeout bounds how long a read waits for its Snap command; a read
// that gives up changes nothing, and the client may retry.
const readTimeout = 5 * time.Second

// RaftStorage is a Storage over a raft store.
type RaftStorage struct {
	engines *engine_util.Engines
	config  *config.Config

	schedulerClient scheduler_client.Client
	node            *raftstore.Node
	snapManager     *snap.SnapManager
	raftRouter      *raftstore.RaftstoreRouter
	raftSystem      *raftstore.Raftstore
	raftClient      *RaftClient
	resolveWorker   *worker.Worker
	snapWorker      *worker.Worker
	snapRunner      *snapRunner

	wg sync.WaitGroup
}

// RegionError is a region error of the raft store, for the client to act
// on (retry with another peer, refresh its regions).
type RegionError struct {
	RequestErr *errorpb.Error
}

func (re *RegionError) Error() string {
	return re.RequestErr.String()
}

// RegionError is the error in protocol form.
func (re *RegionError) RegionError() *errorpb.Error {
	return re.RequestErr
}

// checkResponse turns a failed or missing response into an error.
func (rs *RaftStorage) checkResponse(resp *raft_cmdpb.RaftCmdResponse, reqCount int) error {
	if resp == nil {
		return errors.Errorf("no response within %v", readTimeout)
	}
	if resp.Header.Error != nil {
		return &RegionError{RequestErr: resp.Header.Error}
	}
	if len(resp.Responses) != reqCount {
		return errors.Errorf("responses count %d is not equal to requests count %d",
			len(resp.Responses), reqCount)
	}
	return nil
}

// NewRaftStorage makes the storage of the store described by conf, which
// talks to the scheduler through schedulerClient.
func NewRaftStorage(conf *config.Config, schedulerClient scheduler_client.Client) *RaftStorage {
	dbPath := conf.DBPath
	kvPath := filepath.Join(dbPath, "kv")
	raftPath := filepath.Join(dbPath, "raft")
	return &RaftStorage{
		engines:         &engine_util.Engines{KvPath: kvPath, RaftPath: raftPath},
		config:          conf,
		schedulerClient: schedulerClient,
	}
}

// header is the command header of a client request's context.
func header(ctx *kvrpcpb.Context) *raft_cmdpb.RaftRequestHeader {
	return &raft_cmdpb.RaftRequestHeader{
		RegionId:    ctx.GetRegionId(),
		Peer:        ctx.GetPeer(),
		RegionEpoch: ctx.GetRegionEpoch(),
		Term:        ctx.GetTerm(),
	}
}

// Write proposes batch as one command of the region in ctx and waits until
// the raft store answers: applied, or refused (not leader, stale, region
// gone, store stopping). It has no timeout on purpose: a write that gave
// up could still be applied later, after the transactional layer released
// its latches, and land after writes that were ordered after it. The raft
// store answers every proposal (see takeProposal and shutDown); only a
// leader cut off from its peers keeps a writer waiting, until it rejoins.
func (rs *RaftStorage) Write(ctx *kvrpcpb.Context, batch []storage.Modify) error {
	var reqs []*raft_cmdpb.Request
	for _, m := range batch {
		switch m.Data.(type) {
		case storage.Put:
			put := m.Data.(storage.Put)
			reqs = append(reqs, &raft_cmdpb.Request{
				CmdType: raft_cmdpb.CmdType_Put,
				Put:     &raft_cmdpb.PutRequest{Cf: put.Cf, Key: put.Key, Value: put.Value},
			})
		case storage.Delete:
			del := m.Data.(storage.Delete)
			reqs = append(reqs, &raft_cmdpb.Request{
				CmdType: raft_cmdpb.CmdType_Delete,
				Delete:  &raft_cmdpb.DeleteRequest{Cf: del.Cf, Key: del.Key},
			})
		}
	}
	request := &raft_cmdpb.RaftCmdRequest{Header: header(ctx), Requests: reqs}
	cb := message.NewCallback()
	if err := rs.raftRouter.SendRaftCommand(request, cb); err != nil {
		return &RegionError{RequestErr: &errorpb.Error{
			Message:        err.Error(),
			RegionNotFound: &errorpb.RegionNotFound{RegionId: ctx.GetRegionId()},
		}}
	}
	return rs.checkResponse(cb.WaitResp(), len(reqs))
}

// Reader reads the region in ctx at a point of its log after every write
// acknowledged before the call.
func (rs *RaftStorage) Reader(ctx *kvrpcpb.Context) (storage.StorageReader, error) {
	request := &raft_cmdpb.RaftCmdRequest{
		Header:   header(ctx),
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Snap, Snap: &raft_cmdpb.SnapRequest{}}},
	}
	cb := message.NewCallback()
	if err := rs.raftRouter.SendRaftCommand(request, cb); err != nil {
		return nil, &RegionError{RequestErr: &errorpb.Error{
			Message:        err.Error(),
			RegionNotFound: &errorpb.RegionNotFound{RegionId: ctx.GetRegionId()},
		}}
	}
	resp := cb.WaitRespWithTimeout(readTimeout)
	if resp == nil {
		// The answer may still come, with a read transaction to discard.
		go discardLateTxn(cb)
	}
	if err := rs.checkResponse(resp, 1); err != nil {
		if resp != nil && cb.Txn != nil {
			cb.Txn.Discard()
		}
		return nil, err
	}
	if cb.Txn == nil {
		return nil, errors.New("the snap command returned no read transaction")
	}
	if resp.Responses[0].CmdType != raft_cmdpb.CmdType_Snap {
		cb.Txn.Discard()
		return nil, errors.New("the snap command got a response of another type")
	}
	return NewRegionReader(cb.Txn, *resp.Responses[0].Snap.Region), nil
}

// discardLateTxn waits for an answer nobody waits for any more and
// releases its read transaction.
func discardLateTxn(cb *message.Callback) {
	cb.WaitResp()
	if cb.Txn != nil {
		cb.Txn.Discard()
	}
}

// Raft receives the raft messages another store streams to this one.
func (rs *RaftStorage) Raft(stream tinykvpb.TinyKv_RaftServer) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := rs.raftRouter.SendRaftMessage(msg); err != nil {
			return err
		}
	}
}

// Snapshot receives a snapshot another store streams to this one; the
// snap worker writes the files and, once they are complete and checked,
// passes the message on to the raft store.
func (rs *RaftStorage) Snapshot(stream tinykvpb.TinyKv_SnapshotServer) error {
	var err error
	done := make(chan struct{})
	rs.snapWorker.Sender() <- &recvSnapTask{
		stream: stream,
		callback: func(e error) {
			err = e
			close(done)
		},
	}
	<-done
	return err
}

// Start opens the engines, starts the workers and the raft store.
func (rs *RaftStorage) Start() error {
	if rs.schedulerClient == nil {
		return errors.New("raft storage needs a scheduler client")
	}
	cfg := rs.config
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := rs.openEngines(); err != nil {
		return err
	}

	rs.raftSystem, rs.raftRouter = raftstore.CreateRaftstore(cfg)

	rs.resolveWorker = worker.NewWorker("resolver", &rs.wg)
	rs.resolveWorker.Start(newResolverRunner(rs.schedulerClient))

	snapPath := filepath.Join(cfg.DBPath, "snap")
	if err := os.MkdirAll(snapPath, os.ModePerm); err != nil {
		return errors.Annotatef(err, "create snapshot directory %s", snapPath)
	}
	rs.snapManager = snap.NewSnapManager(snapPath)
	if err := rs.snapManager.Init(); err != nil {
		return err
	}
	rs.snapWorker = worker.NewWorker("snap-worker", &rs.wg)
	rs.snapRunner = newSnapRunner(rs.snapManager, rs.config, rs.raftRouter)
	rs.snapWorker.Start(rs.snapRunner)

	rs.raftClient = newRaftClient()
	trans := NewServerTransport(rs.raftClient, rs.snapWorker.Sender(), rs.raftRouter, rs.resolveWorker.Sender())

	rs.node = raftstore.NewNode(rs.raftSystem, rs.config, rs.schedulerClient)
	return rs.node.Start(context.TODO(), rs.engines, trans, rs.snapManager)
}

func (rs *RaftStorage) openEngines() error {
	kvDB, err := engine_util.CreateKVDB(rs.engines.KvPath)
	if err != nil {
		return err
	}
	raftDB, err := engine_util.CreateRaftDB(rs.engines.RaftPath)
	if err != nil {
		kvDB.Close()
		return err
	}
	rs.engines.Kv, rs.engines.Raft = kvDB, raftDB
	return nil
}

// Stop stops the raft store and every worker, then closes the engines.
// Stop the gRPC server first: a snapshot being received ends when its
// stream does.
func (rs *RaftStorage) Stop() error {
	if rs.node != nil {
		rs.node.Stop()
	}
	if rs.snapRunner != nil {
		rs.snapRunner.Stop()
	}
	if rs.resolveWorker != nil {
		rs.resolveWorker.Stop()
	}
	if rs.snapWorker != nil {
		rs.snapWorker.Stop()
	}
	rs.wg.Wait()
	if rs.raftClient != nil {
		rs.raftClient.Stop()
	}
	if rs.engines.Kv == nil {
		return nil
	}
	return rs.engines.Close()
}
