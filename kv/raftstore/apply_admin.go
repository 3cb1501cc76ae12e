package raftstore

import (
	"fmt"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// applyAdmin applies an admin command. Membership changes and splits are
// project 3B; this store does not propose them yet, and refuses them.
func (a *applier) applyAdmin(req *raft_cmdpb.RaftCmdRequest) *raft_cmdpb.RaftCmdResponse {
	admin := req.AdminRequest
	switch admin.CmdType {
	case raft_cmdpb.AdminCmdType_CompactLog:
		return a.applyCompactLog(admin.CompactLog)
	}
	return ErrResp(fmt.Errorf("admin command %s is not supported", admin.CmdType))
}

// applyCompactLog moves the truncated state forward and has the raft-log
// GC worker delete the entries before it.
func (a *applier) applyCompactLog(compact *raft_cmdpb.CompactLogRequest) *raft_cmdpb.RaftCmdResponse {
	resp := newCmdResp()
	resp.AdminResponse = &raft_cmdpb.AdminResponse{
		CmdType:    raft_cmdpb.AdminCmdType_CompactLog,
		CompactLog: &raft_cmdpb.CompactLogResponse{},
	}
	// Your Code Here (2C).
	//lab:begin 2C
	applyState := a.d.peerStorage.applyState
	if compact.CompactIndex <= applyState.TruncatedState.Index {
		return resp
	}
	applyState.TruncatedState = &raft_serverpb.RaftTruncatedState{
		Index: compact.CompactIndex,
		Term:  compact.CompactTerm,
	}
	// The apply state must be on disk before the log entries go.
	a.flush()
	a.d.ScheduleCompactLog(compact.CompactIndex)
	log.Debugf("[gc] %s log truncated to index %d term %d", a.d.Tag, compact.CompactIndex, compact.CompactTerm)
	//lab:end
	return resp
}

// applyConfChange refuses a membership change: project 3B.
func (a *applier) applyConfChange(entry *eraftpb.Entry) {
	var cc eraftpb.ConfChange
	if err := cc.Unmarshal(entry.Data); err != nil {
		log.Panicf("[conf] %s entry %d is not a conf change: %v", a.d.Tag, entry.Index, err)
	}
	log.Warnf("[conf] %s ignores conf change %s of node %d: not supported yet", a.d.Tag, cc.ChangeType, cc.NodeId)
}
