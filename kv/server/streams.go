package server

import (
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// raftStreams is implemented by storages that take part in a raft cluster
// (raft_storage.RaftStorage): they receive the messages and snapshots other
// stores stream to this one.
type raftStreams interface {
	Raft(stream tinykvpb.TinyKv_RaftServer) error
	Snapshot(stream tinykvpb.TinyKv_SnapshotServer) error
}

// Raft receives raft messages from another store.
func (server *Server) Raft(stream tinykvpb.TinyKv_RaftServer) error {
	streams, ok := server.storage.(raftStreams)
	if !ok {
		return status.Error(codes.Unimplemented, "this store runs standalone: it takes no raft messages")
	}
	return streams.Raft(stream)
}

// Snapshot receives a snapshot from another store.
func (server *Server) Snapshot(stream tinykvpb.TinyKv_SnapshotServer) error {
	streams, ok := server.storage.(raftStreams)
	if !ok {
		return status.Error(codes.Unimplemented, "this store runs standalone: it takes no snapshots")
	}
	return streams.Snapshot(stream)
}
