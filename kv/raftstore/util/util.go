// Package util holds the raftstore's region errors, the checks of region
// epochs and key ranges, and small helpers shared by the store and tests.
package util

import (
	"bytes"
	"fmt"
	"os"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// RaftInvalidIndex is the index of no entry.
const RaftInvalidIndex uint64 = 0

// InvalidID is the id of no peer, store or region.
const InvalidID uint64 = 0

// CheckKeyInRegion returns ErrKeyNotInRegion unless start <= key < end.
func CheckKeyInRegion(key []byte, region *metapb.Region) error {
	if bytes.Compare(key, region.StartKey) >= 0 && (len(region.EndKey) == 0 || bytes.Compare(key, region.EndKey) < 0) {
		return nil
	}
	return &ErrKeyNotInRegion{Key: key, Region: region}
}

// CheckKeyInRegionExclusive returns ErrKeyNotInRegion unless start < key < end.
func CheckKeyInRegionExclusive(key []byte, region *metapb.Region) error {
	if bytes.Compare(region.StartKey, key) < 0 && (len(region.EndKey) == 0 || bytes.Compare(key, region.EndKey) < 0) {
		return nil
	}
	return &ErrKeyNotInRegion{Key: key, Region: region}
}

// CheckKeyInRegionInclusive returns ErrKeyNotInRegion unless start <= key <= end.
func CheckKeyInRegionInclusive(key []byte, region *metapb.Region) error {
	if bytes.Compare(key, region.StartKey) >= 0 && (len(region.EndKey) == 0 || bytes.Compare(key, region.EndKey) <= 0) {
		return nil
	}
	return &ErrKeyNotInRegion{Key: key, Region: region}
}

// IsEpochStale reports whether epoch is older than checkEpoch in either of
// its versions.
func IsEpochStale(epoch *metapb.RegionEpoch, checkEpoch *metapb.RegionEpoch) bool {
	return epoch.Version < checkEpoch.Version || epoch.ConfVer < checkEpoch.ConfVer
}

// IsVoteMessage reports whether msg asks for a vote.
func IsVoteMessage(msg *eraftpb.Message) bool {
	return msg.GetMsgType() == eraftpb.MessageType_MsgRequestVote
}

// IsFirstVoteMessage reports whether msg is a vote request of the first
// election of a region just created by a split (its log is at the initial index).
func IsFirstVoteMessage(msg *eraftpb.Message) bool {
	return IsVoteMessage(msg) && msg.Term == meta.RaftInitLogTerm+1
}

// IsInitialMsg reports whether msg may create a peer on a store that has
// none for the region: a vote request, or a leader's heartbeat (heartbeats
// carry no commit index, so a leader that just added a peer reaches it
// with one).
func IsInitialMsg(msg *eraftpb.Message) bool {
	return msg.MsgType == eraftpb.MessageType_MsgRequestVote ||
		(msg.MsgType == eraftpb.MessageType_MsgHeartbeat && msg.Commit == RaftInvalidIndex)
}

// NewTestEngines opens kv and raft engines in fresh temp directories; the
// test calls Destroy on them.
func NewTestEngines() *engine_util.Engines {
	engines := new(engine_util.Engines)
	var err error
	engines.KvPath, err = os.MkdirTemp("", "tinykv-test-kv")
	if err != nil {
		panic("create kv dir failed: " + err.Error())
	}
	engines.Kv, err = engine_util.CreateKVDB(engines.KvPath)
	if err != nil {
		panic("open kv engine failed: " + err.Error())
	}
	engines.RaftPath, err = os.MkdirTemp("", "tinykv-test-raft")
	if err != nil {
		panic("create raft dir failed: " + err.Error())
	}
	engines.Raft, err = engine_util.CreateRaftDB(engines.RaftPath)
	if err != nil {
		panic("open raft engine failed: " + err.Error())
	}
	return engines
}

// CheckRegionEpoch checks the epoch of req against region: a request made
// for an older version of the region (before a split or a membership change
// that matters to it) gets ErrEpochNotMatch. includeRegion adds region to
// the error's current regions.
func CheckRegionEpoch(req *raft_cmdpb.RaftCmdRequest, region *metapb.Region, includeRegion bool) error {
	checkVer, checkConfVer := false, false
	if req.AdminRequest == nil {
		checkVer = true
	} else {
		switch req.AdminRequest.CmdType {
		case raft_cmdpb.AdminCmdType_CompactLog, raft_cmdpb.AdminCmdType_InvalidAdmin:
		case raft_cmdpb.AdminCmdType_ChangePeer:
			checkConfVer = true
		case raft_cmdpb.AdminCmdType_Split, raft_cmdpb.AdminCmdType_TransferLeader:
			checkVer = true
			checkConfVer = true
		}
	}
	if !checkVer && !checkConfVer {
		return nil
	}
	if req.Header == nil {
		return fmt.Errorf("missing header")
	}
	if req.Header.RegionEpoch == nil {
		return fmt.Errorf("missing epoch")
	}
	fromEpoch := req.Header.RegionEpoch
	currentEpoch := region.RegionEpoch

	// Epochs must be equal, not merely "not older": a request made for a
	// newer epoch than this peer has applied would read a range the peer
	// does not own yet.
	if (checkConfVer && fromEpoch.ConfVer != currentEpoch.ConfVer) ||
		(checkVer && fromEpoch.Version != currentEpoch.Version) {
		err := &ErrEpochNotMatch{}
		if includeRegion {
			err.Regions = []*metapb.Region{region}
		}
		err.Message = fmt.Sprintf("current epoch of region %d is %s, but you sent %s",
			region.Id, currentEpoch, fromEpoch)
		return err
	}
	return nil
}

// FindPeer returns the region's peer on storeID, or nil.
func FindPeer(region *metapb.Region, storeID uint64) *metapb.Peer {
	for _, peer := range region.Peers {
		if peer.StoreId == storeID {
			return peer
		}
	}
	return nil
}

// RemovePeer removes the region's peer on storeID and returns it, or nil.
func RemovePeer(region *metapb.Region, storeID uint64) *metapb.Peer {
	for i, peer := range region.Peers {
		if peer.StoreId == storeID {
			region.Peers = append(region.Peers[:i], region.Peers[i+1:]...)
			return peer
		}
	}
	return nil
}

// ConfStateFromRegion lists the peer ids of region as a raft ConfState.
func ConfStateFromRegion(region *metapb.Region) (confState eraftpb.ConfState) {
	for _, p := range region.Peers {
		confState.Nodes = append(confState.Nodes, p.GetId())
	}
	return
}

// CopyRegion returns a deep copy of region.
func CopyRegion(region *metapb.Region) *metapb.Region {
	return proto.Clone(region).(*metapb.Region)
}

// PeerEqual reports whether two peers are the same peer.
func PeerEqual(l, r *metapb.Peer) bool {
	return l.StoreId == r.StoreId && l.Id == r.Id
}

// RegionEqual reports whether two regions have the same id and epoch.
func RegionEqual(l, r *metapb.Region) bool {
	if l == nil || r == nil {
		return false
	}
	return l.Id == r.Id && l.RegionEpoch.Version == r.RegionEpoch.Version && l.RegionEpoch.ConfVer == r.RegionEpoch.ConfVer
}

// RaftstoreErrToPbError maps a region error to the errorpb.Error the client
// sees; any other error becomes a message.
func RaftstoreErrToPbError(e error) *errorpb.Error {
	ret := new(errorpb.Error)
	ret.Message = e.Error()
	switch err := e.(type) {
	case *ErrNotLeader:
		ret.NotLeader = &errorpb.NotLeader{RegionId: err.RegionId, Leader: err.Leader}
	case *ErrRegionNotFound:
		ret.RegionNotFound = &errorpb.RegionNotFound{RegionId: err.RegionId}
	case *ErrKeyNotInRegion:
		ret.KeyNotInRegion = &errorpb.KeyNotInRegion{Key: err.Key, RegionId: err.Region.Id,
			StartKey: err.Region.StartKey, EndKey: err.Region.EndKey}
	case *ErrEpochNotMatch:
		ret.EpochNotMatch = &errorpb.EpochNotMatch{CurrentRegions: err.Regions}
	case *ErrStaleCommand:
		ret.StaleCommand = &errorpb.StaleCommand{}
	case *ErrStoreNotMatch:
		ret.StoreNotMatch = &errorpb.StoreNotMatch{RequestStoreId: err.RequestStoreId, ActualStoreId: err.ActualStoreId}
	}
	return ret
}

// CheckStoreID returns ErrStoreNotMatch when req is for another store.
func CheckStoreID(req *raft_cmdpb.RaftCmdRequest, storeID uint64) error {
	peer := req.GetHeader().GetPeer()
	if peer == nil {
		return fmt.Errorf("request header names no peer")
	}
	if peer.StoreId == storeID {
		return nil
	}
	return &ErrStoreNotMatch{RequestStoreId: peer.StoreId, ActualStoreId: storeID}
}

// CheckPeerID rejects a request made for another peer of the region.
func CheckPeerID(req *raft_cmdpb.RaftCmdRequest, peerID uint64) error {
	peer := req.Header.Peer
	if peer.Id == peerID {
		return nil
	}
	return fmt.Errorf("mismatch peer id %d != %d", peer.Id, peerID)
}

// CheckTerm rejects a request whose term is older than the peer's by more
// than one: the client's view of the leader is out of date.
func CheckTerm(req *raft_cmdpb.RaftCmdRequest, term uint64) error {
	header := req.Header
	if header.Term == 0 || term <= header.Term+1 {
		return nil
	}
	return &ErrStaleCommand{}
}
