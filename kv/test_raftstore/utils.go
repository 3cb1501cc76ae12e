package test_raftstore

import (
	"bytes"
	"fmt"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// engineWaitTimeout bounds how long the MustGet*/MustGetCf* helpers wait for
// a store's kv engine to reach the expected state (apply is asynchronous:
// a write acknowledged by the leader reaches followers a little later, and a
// healed follower may need a snapshot first).
const engineWaitTimeout = 10 * time.Second

// SleepMS sleeps ms milliseconds.
func SleepMS(ms int64) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

// NewPeer returns the peer peerID on store storeID.
func NewPeer(storeID, peerID uint64) *metapb.Peer {
	return &metapb.Peer{StoreId: storeID, Id: peerID}
}

// FindPeer returns the region's peer on storeID, or nil.
func FindPeer(region *metapb.Region, storeID uint64) *metapb.Peer {
	for _, peer := range region.GetPeers() {
		if peer.StoreId == storeID {
			return peer
		}
	}
	return nil
}

// NewBaseRequest is a command for regionID at epoch with no requests yet.
func NewBaseRequest(regionID uint64, epoch *metapb.RegionEpoch) raft_cmdpb.RaftCmdRequest {
	return raft_cmdpb.RaftCmdRequest{
		Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID, RegionEpoch: epoch},
	}
}

// NewRequest is a command carrying requests for regionID at epoch. The
// caller (or CallCommandOnLeader) fills Header.Peer with the peer to send it to.
func NewRequest(regionID uint64, epoch *metapb.RegionEpoch, requests []*raft_cmdpb.Request) raft_cmdpb.RaftCmdRequest {
	req := NewBaseRequest(regionID, epoch)
	req.Requests = requests
	return req
}

// NewAdminRequest is an admin command for regionID at epoch.
func NewAdminRequest(regionID uint64, epoch *metapb.RegionEpoch, request *raft_cmdpb.AdminRequest) *raft_cmdpb.RaftCmdRequest {
	req := NewBaseRequest(regionID, epoch)
	req.AdminRequest = request
	return &req
}

// NewPutCfCmd writes key = value in column family cf.
func NewPutCfCmd(cf string, key, value []byte) *raft_cmdpb.Request {
	return &raft_cmdpb.Request{
		CmdType: raft_cmdpb.CmdType_Put,
		Put:     &raft_cmdpb.PutRequest{Cf: cf, Key: key, Value: value},
	}
}

// NewGetCfCmd reads key in column family cf.
func NewGetCfCmd(cf string, key []byte) *raft_cmdpb.Request {
	return &raft_cmdpb.Request{
		CmdType: raft_cmdpb.CmdType_Get,
		Get:     &raft_cmdpb.GetRequest{Cf: cf, Key: key},
	}
}

// NewDeleteCfCmd deletes key in column family cf.
func NewDeleteCfCmd(cf string, key []byte) *raft_cmdpb.Request {
	return &raft_cmdpb.Request{
		CmdType: raft_cmdpb.CmdType_Delete,
		Delete:  &raft_cmdpb.DeleteRequest{Cf: cf, Key: key},
	}
}

// NewSnapCmd asks for a read transaction of the region at the applied index.
func NewSnapCmd() *raft_cmdpb.Request {
	return &raft_cmdpb.Request{
		CmdType: raft_cmdpb.CmdType_Snap,
		Snap:    &raft_cmdpb.SnapRequest{},
	}
}

// NewTransferLeaderCmd asks the leader to hand leadership to peer.
func NewTransferLeaderCmd(peer *metapb.Peer) *raft_cmdpb.AdminRequest {
	return &raft_cmdpb.AdminRequest{
		CmdType:        raft_cmdpb.AdminCmdType_TransferLeader,
		TransferLeader: &raft_cmdpb.TransferLeaderRequest{Peer: peer},
	}
}

// NewChangePeerCmd asks the leader to add or remove peer.
func NewChangePeerCmd(changeType eraftpb.ConfChangeType, peer *metapb.Peer) *raft_cmdpb.AdminRequest {
	return &raft_cmdpb.AdminRequest{
		CmdType:    raft_cmdpb.AdminCmdType_ChangePeer,
		ChangePeer: &raft_cmdpb.ChangePeerRequest{ChangeType: changeType, Peer: peer},
	}
}

// MustGetCf waits until key of column family cf in the store's kv engine
// holds value (any value when value is nil), and panics when it does not
// within engineWaitTimeout.
func MustGetCf(engine *engine_util.Engines, cf string, key []byte, value []byte) {
	deadline := time.Now().Add(engineWaitTimeout)
	for {
		val, err := engine_util.GetCF(engine.Kv, cf, key)
		if err == nil && (value == nil || bytes.Equal(val, value)) {
			return
		}
		if time.Now().After(deadline) {
			got := fmt.Sprintf("%q", val)
			if err != nil {
				got = err.Error()
			}
			failNow("store engine %s: key %q of cf %s should be %q within %v, but it is %s",
				engine.KvPath, key, cf, value, engineWaitTimeout, got)
		}
		SleepMS(20)
	}
}

// MustGetCfEqual waits until key of column family cf holds value in the
// store's kv engine.
func MustGetCfEqual(engine *engine_util.Engines, cf string, key []byte, value []byte) {
	MustGetCf(engine, cf, key, value)
}

// MustGetEqual waits until key (default column family) holds value in the
// store's kv engine.
func MustGetEqual(engine *engine_util.Engines, key []byte, value []byte) {
	MustGetCf(engine, engine_util.CfDefault, key, value)
}

// MustGetCfNone waits until key of column family cf is absent from the
// store's kv engine.
func MustGetCfNone(engine *engine_util.Engines, cf string, key []byte) {
	deadline := time.Now().Add(engineWaitTimeout)
	for {
		val, err := engine_util.GetCF(engine.Kv, cf, key)
		if err == badger.ErrKeyNotFound {
			return
		}
		if time.Now().After(deadline) {
			got := fmt.Sprintf("value %q", val)
			if err != nil {
				got = "error " + err.Error()
			}
			failNow("store engine %s: key %q of cf %s should be absent within %v, but it has %s",
				engine.KvPath, key, cf, engineWaitTimeout, got)
		}
		SleepMS(20)
	}
}

// MustGetNone waits until key (default column family) is absent from the
// store's kv engine.
func MustGetNone(engine *engine_util.Engines, key []byte) {
	MustGetCfNone(engine, engine_util.CfDefault, key)
}
