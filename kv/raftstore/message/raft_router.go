package message

import (
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// RaftRouter routes messages to the peers of one store.
type RaftRouter interface {
	// Send delivers msg to the peer of regionID.
	Send(regionID uint64, msg Msg) error
	// SendRaftMessage delivers a message from another store.
	SendRaftMessage(msg *raft_serverpb.RaftMessage) error
	// SendRaftCommand proposes a command; cb gets the answer.
	SendRaftCommand(req *raft_cmdpb.RaftCmdRequest, cb *Callback) error
}
