package raftstore

import (
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// BindRespTerm records the peer's term in the response header.
func BindRespTerm(resp *raft_cmdpb.RaftCmdResponse, term uint64) {
	if term == 0 {
		return
	}
	resp.Header.CurrentTerm = term
}

// BindRespError puts err into the response header as a region error.
func BindRespError(resp *raft_cmdpb.RaftCmdResponse, err error) {
	resp.Header.Error = util.RaftstoreErrToPbError(err)
}

// ErrResp is a response that carries only err.
func ErrResp(err error) *raft_cmdpb.RaftCmdResponse {
	resp := &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{}}
	BindRespError(resp, err)
	return resp
}

// ErrRespWithTerm is ErrResp with the peer's term.
func ErrRespWithTerm(err error, term uint64) *raft_cmdpb.RaftCmdResponse {
	resp := ErrResp(err)
	BindRespTerm(resp, term)
	return resp
}

// ErrRespStaleCommand answers a proposal that will never be applied.
func ErrRespStaleCommand(term uint64) *raft_cmdpb.RaftCmdResponse {
	return ErrRespWithTerm(new(util.ErrStaleCommand), term)
}

// ErrRespRegionNotFound answers a command for a region this store lacks.
func ErrRespRegionNotFound(regionID uint64) *raft_cmdpb.RaftCmdResponse {
	return ErrResp(&util.ErrRegionNotFound{RegionId: regionID})
}

// newCmdResp is an empty successful response.
func newCmdResp() *raft_cmdpb.RaftCmdResponse {
	return &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{}}
}
