// Package message defines what travels inside a store: the messages the
// router delivers to peers and to the store, and the callbacks that carry
// answers back to whoever proposed a command.
package message

import (
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// MsgType says what a Msg carries in Data.
type MsgType int64

const (
	// MsgTypeNull is the zero value; it carries nothing.
	MsgTypeNull MsgType = 0
	// MsgTypeStart starts a peer (Data: nil).
	MsgTypeStart MsgType = 1
	// MsgTypeTick drives a peer's logical clock (Data: nil).
	MsgTypeTick MsgType = 2
	// MsgTypeRaftMessage carries a message from another peer (Data: *raft_serverpb.RaftMessage).
	MsgTypeRaftMessage MsgType = 3
	// MsgTypeRaftCmd carries a command to propose (Data: *MsgRaftCmd).
	MsgTypeRaftCmd MsgType = 4
	// MsgTypeSplitRegion asks the leader to split its region (Data: *MsgSplitRegion).
	MsgTypeSplitRegion MsgType = 5
	// MsgTypeRegionApproximateSize reports the region's size (Data: uint64).
	MsgTypeRegionApproximateSize MsgType = 6
	// MsgTypeGcSnap lists snapshot files a peer may delete (Data: *MsgGCSnap).
	MsgTypeGcSnap MsgType = 7
	// MsgTypeSchedulerRegion answers a peer that heard from no leader for
	// long with the scheduler's view of its region (Data: *MsgSchedulerRegion).
	MsgTypeSchedulerRegion MsgType = 8

	// MsgTypeStoreRaftMessage is a raft message for a region the store has
	// no peer of yet (Data: *raft_serverpb.RaftMessage).
	MsgTypeStoreRaftMessage MsgType = 101
	// MsgTypeStoreTick drives the store's own clock (Data: StoreTick).
	MsgTypeStoreTick MsgType = 106
	// MsgTypeStoreStart starts the store (Data: *metapb.Store).
	MsgTypeStoreStart MsgType = 107
)

// Msg is what the router delivers: to the peer of RegionID, or to the store.
type Msg struct {
	Type     MsgType
	RegionID uint64
	Data     interface{}
}

// NewMsg makes a store message.
func NewMsg(t MsgType, data interface{}) Msg {
	return Msg{Type: t, Data: data}
}

// NewPeerMsg makes a message for the peer of regionID.
func NewPeerMsg(t MsgType, regionID uint64, data interface{}) Msg {
	return Msg{Type: t, RegionID: regionID, Data: data}
}

// MsgRaftCmd is a command to propose, with the callback that answers it.
type MsgRaftCmd struct {
	Request  *raft_cmdpb.RaftCmdRequest
	Callback *Callback
}

// MsgSplitRegion asks the region's leader to split at SplitKey, if the
// region is still at RegionEpoch.
type MsgSplitRegion struct {
	RegionEpoch *metapb.RegionEpoch
	SplitKey    []byte
	Callback    *Callback
}

// MsgSchedulerRegion is the scheduler's region, as the peer's question
// asked at AskedAt found it.
type MsgSchedulerRegion struct {
	Region  *metapb.Region
	AskedAt time.Time
}

// StoreTick names a periodic task of the store.
type StoreTick int

const (
	// StoreTickSchedulerStoreHeartbeat reports the store to the scheduler.
	StoreTickSchedulerStoreHeartbeat StoreTick = 1
	// StoreTickSnapGC deletes snapshot files nobody needs any more.
	StoreTickSnapGC StoreTick = 2
)

// MsgGCSnap lists snapshot files of a region nobody uses now; the peer
// deletes those its log no longer needs.
type MsgGCSnap struct {
	Snaps []snap.SnapKeyWithSending
}
