package raftstore

import (
	"sync"
	"sync/atomic"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// peerState is a peer as the router sees it; closed is set once the peer
// is destroyed, so late messages are refused.
type peerState struct {
	closed uint32
	peer   *peer
	// leader is whether the peer led after its last Ready (for the
	// store's leader count); only the raft worker touches it.
	leader bool
}

// router delivers messages to the peers of this store. Every peer message
// goes into peerSender, read by the raft worker; store messages into
// storeSender, read by the store worker.
type router struct {
	peers       sync.Map // regionID -> *peerState
	peerSender  chan message.Msg
	storeSender chan<- message.Msg
}

func newRouter(storeSender chan<- message.Msg) *router {
	return &router{
		peerSender:  make(chan message.Msg, 40960),
		storeSender: storeSender,
	}
}

func (pr *router) get(regionID uint64) *peerState {
	v, ok := pr.peers.Load(regionID)
	if ok {
		return v.(*peerState)
	}
	return nil
}

func (pr *router) register(peer *peer) {
	id := peer.regionId
	newPeer := &peerState{peer: peer}
	if old, loaded := pr.peers.Swap(id, newPeer); !loaded || atomic.LoadUint32(&old.(*peerState).closed) == 1 {
		metrics.RegionAdded()
	}
}

func (pr *router) close(regionID uint64) {
	v, ok := pr.peers.Load(regionID)
	if ok {
		ps := v.(*peerState)
		atomic.StoreUint32(&ps.closed, 1)
		pr.peers.Delete(regionID)
		metrics.RegionRemoved()
		if ps.leader {
			ps.leader = false
			metrics.LeaderChanged(false)
		}
	}
}

func (pr *router) send(regionID uint64, msg message.Msg) error {
	msg.RegionID = regionID
	p := pr.get(regionID)
	if p == nil || atomic.LoadUint32(&p.closed) == 1 {
		return errPeerNotFound
	}
	pr.peerSender <- msg
	return nil
}

func (pr *router) sendStore(msg message.Msg) {
	pr.storeSender <- msg
}

var errPeerNotFound = errors.New("peer not found")

// RaftstoreRouter is the router as the rest of the server sees it.
type RaftstoreRouter struct {
	router *router
}

// NewRaftstoreRouter wraps the store's router.
func NewRaftstoreRouter(router *router) *RaftstoreRouter {
	return &RaftstoreRouter{router: router}
}

// Send delivers msg to the peer of regionID.
func (r *RaftstoreRouter) Send(regionID uint64, msg message.Msg) error {
	return r.router.send(regionID, msg)
}

// SendRaftMessage delivers a message from another store; a message for a
// region without a peer here goes to the store worker, which may create one.
func (r *RaftstoreRouter) SendRaftMessage(msg *raft_serverpb.RaftMessage) error {
	regionID := msg.RegionId
	if r.router.send(regionID, message.NewPeerMsg(message.MsgTypeRaftMessage, regionID, msg)) != nil {
		r.router.sendStore(message.NewPeerMsg(message.MsgTypeStoreRaftMessage, regionID, msg))
	}
	return nil
}

// SendRaftCommand proposes a command to the peer of its region.
func (r *RaftstoreRouter) SendRaftCommand(req *raft_cmdpb.RaftCmdRequest, cb *message.Callback) error {
	cmd := &message.MsgRaftCmd{
		Request:  req,
		Callback: cb,
	}
	if req.GetHeader() == nil {
		return errors.New("raft command without a header")
	}
	regionID := req.Header.RegionId
	cb.Queued()
	return r.router.send(regionID, message.NewPeerMsg(message.MsgTypeRaftCmd, regionID, cmd))
}
