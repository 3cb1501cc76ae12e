package raft_storage

import (
	"sync"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// ServerTransport sends the raftstore's messages to other stores over
// gRPC: it resolves a store's address (once, then cached), sends ordinary
// messages on the store's Raft stream, and hands messages carrying a
// snapshot to the snap worker, which streams the files separately.
type ServerTransport struct {
	raftClient        *RaftClient
	router            message.RaftRouter
	resolverScheduler chan<- worker.Task
	snapScheduler     chan<- worker.Task
	resolving         sync.Map
}

// NewServerTransport wires a transport to its workers.
func NewServerTransport(raftClient *RaftClient, snapScheduler chan<- worker.Task, router message.RaftRouter, resolverScheduler chan<- worker.Task) *ServerTransport {
	return &ServerTransport{
		raftClient:        raftClient,
		router:            router,
		resolverScheduler: resolverScheduler,
		snapScheduler:     snapScheduler,
	}
}

// Send sends msg to the store of its target peer.
func (t *ServerTransport) Send(msg *raft_serverpb.RaftMessage) error {
	storeID := msg.GetToPeer().GetStoreId()
	t.SendStore(storeID, msg)
	return nil
}

// SendStore sends msg to storeID, resolving its address first if needed.
// A message that arrives while the address is being resolved is dropped:
// raft sends again.
func (t *ServerTransport) SendStore(storeID uint64, msg *raft_serverpb.RaftMessage) {
	addr := t.raftClient.GetAddr(storeID)
	if addr != "" {
		t.WriteData(storeID, addr, msg)
		return
	}
	if _, ok := t.resolving.Load(storeID); ok {
		log.Debugf("[msg] store %d address is being resolved, msg dropped", storeID)
		return
	}
	log.Debugf("[msg] store %d address is not resolved, resolve it", storeID)
	t.resolving.Store(storeID, struct{}{})
	t.Resolve(storeID, msg)
}

// Resolve asks the resolver for the store's address, then sends msg.
func (t *ServerTransport) Resolve(storeID uint64, msg *raft_serverpb.RaftMessage) {
	callback := func(addr string, err error) {
		t.resolving.Delete(storeID)
		if err != nil {
			log.Warnf("[msg] resolve store %d address failed: %v", storeID, err)
			return
		}
		t.raftClient.InsertAddr(storeID, addr)
		t.WriteData(storeID, addr, msg)
	}
	t.resolverScheduler <- &resolveAddrTask{
		storeID:  storeID,
		callback: callback,
	}
}

// WriteData sends msg to addr: a snapshot goes through the snap worker,
// anything else on the Raft stream.
func (t *ServerTransport) WriteData(storeID uint64, addr string, msg *raft_serverpb.RaftMessage) {
	if msg.GetMessage().GetSnapshot() != nil {
		t.SendSnapshotSock(addr, msg)
		return
	}
	if err := t.raftClient.Send(storeID, addr, msg); err != nil {
		log.Debugf("[msg] send raft msg to store %d failed: %v", storeID, err)
	}
}

// SendSnapshotSock schedules the streaming of a snapshot to addr. A failed
// send is only logged: the leader sends a new snapshot when the follower
// still lags at its next heartbeat.
func (t *ServerTransport) SendSnapshotSock(addr string, msg *raft_serverpb.RaftMessage) {
	callback := func(err error) {
		if err != nil {
			log.Warnf("[snap] send snapshot of region %d to %s failed: %v", msg.GetRegionId(), addr, err)
		}
	}
	t.snapScheduler <- &sendSnapTask{
		addr:     addr,
		msg:      msg,
		callback: callback,
	}
}
