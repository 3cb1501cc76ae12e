package raft_storage

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// snapChunkSize is the size of the data chunks of a snapshot stream.
const snapChunkSize = 1 << 20

// minTransferRate is the slowest transfer tolerated before a send gives up
// (plus a minute to set up): a stalled receiver must not hold a send slot
// forever.
const minTransferRate = 1 << 20 // bytes per second

// sendSnapTask asks the snap worker to stream the snapshot of msg (a
// MsgSnapshot) to the store at addr; callback gets the outcome.
type sendSnapTask struct {
	addr     string
	msg      *raft_serverpb.RaftMessage
	callback func(error)
}

// recvSnapTask asks the snap worker to receive a snapshot from stream;
// callback gets the outcome (nil once the message reached the raftstore).
type recvSnapTask struct {
	stream   tinykvpb.TinyKv_SnapshotServer
	callback func(error)
}

// snapRunner is the snap worker's handler. Each transfer runs on its own
// goroutine, so the worker never waits for a slow stream; at most
// SnapConcurrentSends sends and SnapConcurrentRecvs receives run at once,
// and a task beyond that fails at once (raft retries a failed snapshot).
type snapRunner struct {
	config      *config.Config
	snapManager *snap.SnapManager
	router      message.RaftRouter

	sendSlots chan struct{}
	recvSlots chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newSnapRunner(snapManager *snap.SnapManager, config *config.Config, router message.RaftRouter) *snapRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &snapRunner{
		config:      config,
		snapManager: snapManager,
		router:      router,
		sendSlots:   make(chan struct{}, max(1, config.SnapConcurrentSends)),
		recvSlots:   make(chan struct{}, max(1, config.SnapConcurrentRecvs)),
		ctx:         ctx,
		cancel:      cancel,
	}
}

// Handle starts a sendSnapTask or recvSnapTask.
func (r *snapRunner) Handle(t worker.Task) {
	switch task := t.(type) {
	case *sendSnapTask:
		r.start(r.sendSlots, "sends", task.callback, func() error { return r.sendSnap(task.addr, task.msg) })
	case *recvSnapTask:
		r.start(r.recvSlots, "receives", task.callback, func() error { return r.recvSnap(task.stream) })
	default:
		log.Errorf("[snap] snap worker got a task of unexpected type %T", t)
	}
}

// Stop aborts the transfers in progress and waits for them. A receive
// notices at its next chunk: stop the gRPC server first so that a stalled
// sender cannot hold it.
func (r *snapRunner) Stop() {
	r.cancel()
	r.wg.Wait()
}

// start runs transfer on a goroutine of its own if one of slots is free.
func (r *snapRunner) start(slots chan struct{}, kind string, callback func(error), transfer func() error) {
	if r.ctx.Err() != nil {
		report(callback, status.Error(codes.Unavailable, "snap worker is stopped"))
		return
	}
	select {
	case slots <- struct{}{}:
	default:
		report(callback, status.Errorf(codes.ResourceExhausted, "too many snapshot %s in progress (limit %d)", kind, cap(slots)))
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := transfer()
		if err != nil {
			metrics.SnapshotFailed(strings.TrimSuffix(kind, "s"))
		}
		<-slots
		report(callback, err)
	}()
}

func report(callback func(error), err error) {
	if callback != nil {
		callback(err)
	}
}

// sendSnap streams the snapshot of msg to addr over a connection of its
// own: first a chunk with msg, then the files in chunks of snapChunkSize.
func (r *snapRunner) sendSnap(addr string, msg *raft_serverpb.RaftMessage) error {
	start := time.Now()
	snapshot := msg.GetMessage().GetSnapshot()
	if snapshot.GetMetadata() == nil {
		return status.Errorf(codes.InvalidArgument, "send snapshot of region %d: the message carries no snapshot", msg.GetRegionId())
	}
	key := snap.SnapKeyFromRegionSnap(msg.GetRegionId(), snapshot)
	r.snapManager.Register(key, snap.SnapEntrySending)
	defer r.snapManager.Deregister(key, snap.SnapEntrySending)

	s, err := r.snapManager.GetSnapshotForSending(key)
	if err != nil {
		return err
	}
	defer s.Close()
	if !s.Exists() {
		return status.Errorf(codes.NotFound, "send snapshot %s: its files are missing", s.Path())
	}
	ctx, cancel := context.WithTimeout(r.ctx, transferTimeout(s.TotalSize()))
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "send snapshot %s: bad address %q: %v", s.Path(), addr, err)
	}
	defer conn.Close()
	stream, err := tinykvpb.NewTinyKvClient(conn).Snapshot(ctx)
	if err != nil {
		return errorf(err, "send snapshot %s to %s", s.Path(), addr)
	}
	sent, err := streamSnapshot(stream, msg, s)
	if err != nil {
		return errorf(err, "send snapshot %s to %s after %d bytes", s.Path(), addr, sent)
	}
	metrics.Snapshot("send", sent, time.Since(start))
	log.Infof("[snap] region=%d term=%d sent snapshot %s to %s: %d bytes in %v",
		key.RegionID, key.Term, s.Path(), addr, sent, time.Since(start))
	return nil
}

func transferTimeout(size uint64) time.Duration {
	return time.Minute + time.Duration(size/minTransferRate)*time.Second
}

// streamSnapshot sends the message, then data read from data until EOF,
// and waits for the receiver's answer.
func streamSnapshot(stream tinykvpb.TinyKv_SnapshotClient, msg *raft_serverpb.RaftMessage, data io.Reader) (uint64, error) {
	if err := stream.Send(&raft_serverpb.SnapshotChunk{Message: msg}); err != nil {
		return 0, receiverError(stream, err)
	}
	buf := make([]byte, snapChunkSize)
	var sent uint64
	for {
		n, readErr := fillChunk(data, buf)
		if n > 0 {
			// Send marshals the chunk before returning, so buf can be reused.
			if err := stream.Send(&raft_serverpb.SnapshotChunk{Data: buf[:n]}); err != nil {
				return sent, receiverError(stream, err)
			}
			sent += uint64(n)
		}
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			return sent, readErr
		}
	}
	_, err := stream.CloseAndRecv()
	return sent, err
}

// receiverError turns the io.EOF of a Send on a stream the receiver ended
// into the receiver's own error.
func receiverError(stream tinykvpb.TinyKv_SnapshotClient, err error) error {
	if err == io.EOF {
		_, err = stream.CloseAndRecv()
	}
	return err
}

// fillChunk reads until buf is full or the reader ends (io.EOF, possibly
// with n > 0).
func fillChunk(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// recvSnap receives one snapshot: the first chunk must carry the raft
// message; the data goes straight into the files, which are checked
// against the meta and saved before the message is passed to the
// raftstore. On any error nothing of the snapshot is left on disk and
// nothing reaches the raftstore.
func (r *snapRunner) recvSnap(stream tinykvpb.TinyKv_SnapshotServer) error {
	start := time.Now()
	head, err := stream.Recv()
	if err != nil {
		if err == io.EOF {
			return status.Error(codes.InvalidArgument, "snapshot stream ended before its first chunk")
		}
		return errorf(err, "receive the first chunk of a snapshot")
	}
	msg, key, err := checkSnapshotHead(head)
	if err != nil {
		return err
	}
	if !r.snapManager.TryRegister(key, snap.SnapEntryReceiving) {
		return status.Errorf(codes.AlreadyExists, "snapshot %s is already being received", key)
	}
	defer r.snapManager.Deregister(key, snap.SnapEntryReceiving)

	s, err := r.snapManager.GetSnapshotForReceiving(key, msg.Message.Snapshot.Data)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "snapshot %s: %v", key, err)
	}
	defer s.Close()
	if s.Exists() {
		log.Infof("[snap] region=%d term=%d snapshot %s is already here, skipping its data", key.RegionID, key.Term, s.Path())
		err = r.receiveChunks(stream, head, io.Discard, s.TotalSize())
	} else {
		err = r.receiveChunks(stream, head, s, s.TotalSize())
		if err == nil {
			if err = s.Save(); err != nil {
				err = status.Errorf(codes.DataLoss, "%v", err)
			}
		}
	}
	if err != nil {
		return err
	}
	if err := r.router.SendRaftMessage(msg); err != nil {
		return status.Errorf(codes.Unavailable, "snapshot %s: deliver the raft message: %v", key, err)
	}
	metrics.Snapshot("receive", s.TotalSize(), time.Since(start))
	log.Infof("[snap] region=%d term=%d received snapshot %s: %d bytes in %v",
		key.RegionID, key.Term, s.Path(), s.TotalSize(), time.Since(start))
	return stream.SendAndClose(&raft_serverpb.Done{})
}

// checkSnapshotHead checks that the first chunk carries a snapshot message
// with a valid key whose data belongs to the message's region.
func checkSnapshotHead(head *raft_serverpb.SnapshotChunk) (*raft_serverpb.RaftMessage, snap.SnapKey, error) {
	msg := head.GetMessage()
	if msg == nil {
		return nil, snap.SnapKey{}, status.Error(codes.InvalidArgument, "the first chunk of a snapshot stream carries no raft message")
	}
	raftMsg := msg.GetMessage()
	snapshot := raftMsg.GetSnapshot()
	if raftMsg.GetMsgType() != eraftpb.MessageType_MsgSnapshot || snapshot.GetMetadata() == nil {
		return nil, snap.SnapKey{}, status.Errorf(codes.InvalidArgument,
			"the first chunk of a snapshot stream carries a %v message without snapshot metadata", raftMsg.GetMsgType())
	}
	key := snap.SnapKeyFromRegionSnap(msg.GetRegionId(), snapshot)
	if err := key.Validate(); err != nil {
		return nil, snap.SnapKey{}, status.Error(codes.InvalidArgument, err.Error())
	}
	dataRegion, err := snap.SnapKeyFromSnap(snapshot)
	if err != nil {
		return nil, snap.SnapKey{}, status.Errorf(codes.InvalidArgument, "snapshot %s: %v", key, err)
	}
	if dataRegion.RegionID != key.RegionID {
		return nil, snap.SnapKey{}, status.Errorf(codes.InvalidArgument,
			"snapshot %s: its data describes region %d", key, dataRegion.RegionID)
	}
	return msg, key, nil
}

// receiveChunks writes the data of head and of every following chunk to
// w, refusing more than total bytes, until the sender closes the stream.
// Each chunk's buffer is handed back once written.
func (r *snapRunner) receiveChunks(stream tinykvpb.TinyKv_SnapshotServer, head *raft_serverpb.SnapshotChunk, w io.Writer, total uint64) error {
	var received uint64
	chunk := head
	for {
		received += uint64(len(chunk.GetData()))
		if received > total {
			return status.Errorf(codes.InvalidArgument, "snapshot stream carries more than the %d bytes its meta announces", total)
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return status.Errorf(codes.Internal, "%v", err)
		}
		if chunk != head {
			releaseChunkData(chunk)
		}
		if r.ctx.Err() != nil {
			return status.Error(codes.Unavailable, "snap worker is stopping")
		}
		var err error
		chunk, err = stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errorf(err, "snapshot stream broke after %d bytes", received)
		}
		if chunk.GetMessage() != nil {
			return status.Error(codes.InvalidArgument, "a chunk after the first carries a raft message")
		}
	}
}

// errorf prefixes an error with context, keeping its gRPC code.
func errorf(err error, format string, args ...interface{}) error {
	st, _ := status.FromError(err)
	return status.Errorf(st.Code(), "%s: %s", fmt.Sprintf(format, args...), st.Message())
}
