package raft_storage

import (
	"sync"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Streaming a snapshot moves its whole size through SnapshotChunk
// messages. gRPC's proto codec marshals the gogo-generated chunks through
// the legacy protobuf path, which allocates a fresh buffer per chunk on
// both ends: garbage equal to twice the snapshot's size, which lets the
// heap grow by as much as the GC allows. snapChunkCodec encodes chunks
// into gRPC's buffer pool and decodes their data into chunkBuffers, which
// the snap runner refills after writing each chunk to disk; every other
// message goes through gRPC's own codec. It replaces the "proto" codec for
// the whole process (registration by name is gRPC's extension point), so
// a store's server and clients use it without any option.
func init() {
	encoding.RegisterCodecV2(snapChunkCodec{fallback: encoding.GetCodecV2(grpcproto.Name)})
}

type snapChunkCodec struct {
	fallback encoding.CodecV2
}

func (c snapChunkCodec) Name() string { return grpcproto.Name }

func (c snapChunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	chunk, ok := v.(*raft_serverpb.SnapshotChunk)
	if !ok {
		return c.fallback.Marshal(v)
	}
	size := chunk.Size()
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := chunk.MarshalToSizedBuffer((*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, errors.Annotate(err, "encode snapshot chunk")
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (c snapChunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	chunk, ok := v.(*raft_serverpb.SnapshotChunk)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	// The generated decoder appends the data to the slice it finds there.
	chunk.Data = getChunkBuffer()
	return chunk.Unmarshal(buf.ReadOnlyData())
}

// chunkBuffers holds buffers for the data of received chunks.
var chunkBuffers = sync.Pool{New: func() any {
	buf := make([]byte, 0, snapChunkSize)
	return &buf
}}

func getChunkBuffer() []byte {
	return (*chunkBuffers.Get().(*[]byte))[:0]
}

// releaseChunkData hands the data of a received chunk back for reuse;
// the chunk must not be used afterwards.
func releaseChunkData(chunk *raft_serverpb.SnapshotChunk) {
	if chunk == nil || cap(chunk.Data) < snapChunkSize {
		return
	}
	buf := chunk.Data[:0]
	chunk.Data = nil
	chunkBuffers.Put(&buf)
}
