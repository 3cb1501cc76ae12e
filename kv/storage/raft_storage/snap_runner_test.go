package raft_storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// srSeed is the seed of the random data; SNAP_TEST_SEED replays a run.
func srSeed(t testing.TB) int64 {
	if s := os.Getenv("SNAP_TEST_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SNAP_TEST_SEED=%q is not a number", s)
		}
		return seed
	}
	return time.Now().UnixNano()
}

// srRouter records the raft messages a receiver delivers.
type srRouter struct {
	mu   sync.Mutex
	msgs []*rspb.RaftMessage
}

func (r *srRouter) Send(uint64, message.Msg) error { return nil }

func (r *srRouter) SendRaftMessage(msg *rspb.RaftMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *srRouter) SendRaftCommand(*raft_cmdpb.RaftCmdRequest, *message.Callback) error { return nil }

func (r *srRouter) delivered() []*rspb.RaftMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*rspb.RaftMessage(nil), r.msgs...)
}

// srServer is a TinyKv server that only takes snapshot streams and hands
// them to its snap worker, as the store's server does. It records the
// outcome of every receive and the size of every data chunk.
type srServer struct {
	tinykvpb.UnimplementedTinyKvServer
	sched   chan<- worker.Task
	results chan error

	mu         sync.Mutex
	chunkSizes []int
}

func (s *srServer) Snapshot(stream tinykvpb.TinyKv_SnapshotServer) error {
	done := make(chan error, 1)
	s.sched <- &recvSnapTask{stream: &srRecordingStream{TinyKv_SnapshotServer: stream, server: s}, callback: func(err error) { done <- err }}
	err := <-done
	s.results <- err
	return err
}

type srRecordingStream struct {
	tinykvpb.TinyKv_SnapshotServer
	server *srServer
}

func (s *srRecordingStream) Recv() (*rspb.SnapshotChunk, error) {
	chunk, err := s.TinyKv_SnapshotServer.Recv()
	if err == nil && chunk.Message == nil {
		s.server.mu.Lock()
		s.server.chunkSizes = append(s.server.chunkSizes, len(chunk.Data))
		s.server.mu.Unlock()
	}
	return chunk, err
}

// srStore is one store's snap directory with a snap worker; a receiving
// store also serves gRPC on loopback.
type srStore struct {
	mgr    *snap.SnapManager
	dir    string
	runner *snapRunner
	sched  chan<- worker.Task
	router *srRouter
	server *srServer
	addr   string
}

func newSrStore(t testing.TB, cfg *config.Config, serve bool) *srStore {
	dir := t.TempDir()
	mgr := snap.NewSnapManager(dir)
	if err := mgr.Init(); err != nil {
		t.Fatalf("init snap manager: %v", err)
	}
	router := new(srRouter)
	runner := newSnapRunner(mgr, cfg, router)
	wg := new(sync.WaitGroup)
	w := worker.NewWorker("snap-test", wg)
	w.Start(runner)
	s := &srStore{mgr: mgr, dir: dir, runner: runner, sched: w.Sender(), router: router}
	var grpcServer *grpc.Server
	if serve {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		s.server = &srServer{sched: w.Sender(), results: make(chan error, 16)}
		grpcServer = grpc.NewServer()
		tinykvpb.RegisterTinyKvServer(grpcServer, s.server)
		go func() { _ = grpcServer.Serve(lis) }()
		s.addr = lis.Addr().String()
	}
	t.Cleanup(func() {
		if grpcServer != nil {
			grpcServer.Stop()
		}
		runner.Stop()
		w.Stop()
		wg.Wait()
	})
	return s
}

// receiveResult waits for the outcome of the next receive.
func (s *srStore) receiveResult(t testing.TB) error {
	select {
	case err := <-s.server.results:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("no receive finished within 30s")
		return nil
	}
}

var srRegion = &metapb.Region{
	Id:          21,
	StartKey:    []byte("b"),
	EndKey:      []byte("y"),
	RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2},
	Peers:       []*metapb.Peer{{Id: 22, StoreId: 1}, {Id: 23, StoreId: 2}},
}

// srFill writes n random pairs of valueSize bytes over the column
// families, all inside srRegion, and returns them as cf/key → value.
func srFill(t testing.TB, db *badger.DB, rng *rand.Rand, n, valueSize int) map[string][]byte {
	data := make(map[string][]byte, n)
	wb := new(engine_util.WriteBatch)
	for i := 0; i < n; i++ {
		cf := engine_util.CFs[i%len(engine_util.CFs)]
		key := []byte(fmt.Sprintf("c%012d", rng.Int63()))
		value := make([]byte, valueSize)
		rng.Read(value)
		wb.SetCF(cf, key, value)
		data[cf+"/"+string(key)] = value
		if wb.Size() > 1<<20 {
			srWrite(t, db, wb)
		}
	}
	srWrite(t, db, wb)
	return data
}

func srWrite(t testing.TB, db *badger.DB, wb *engine_util.WriteBatch) {
	if err := wb.WriteToDB(db); err != nil {
		t.Fatalf("write data: %v", err)
	}
	wb.Reset()
}

func srOpenEngine(t testing.TB) *badger.DB {
	db, err := engine_util.CreateDB(t.TempDir(), false)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// srBuildMessage builds a snapshot of srRegion from db in mgr and returns
// the MsgSnapshot that carries it.
func srBuildMessage(t testing.TB, db *badger.DB, mgr *snap.SnapManager, index uint64) *rspb.RaftMessage {
	key := snap.SnapKey{RegionID: srRegion.Id, Term: 6, Index: index}
	s, err := mgr.GetSnapshotForBuilding(key)
	if err != nil {
		t.Fatalf("open for building: %v", err)
	}
	defer s.Close()
	txn := db.NewTransaction(false)
	defer txn.Discard()
	snapData := &rspb.RaftSnapshotData{Region: srRegion}
	if err := s.Build(txn, srRegion, snapData, new(snap.SnapStatistics), mgr.Deleter()); err != nil {
		t.Fatalf("build snapshot: %v", err)
	}
	data, err := snapData.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &rspb.RaftMessage{
		RegionId:    srRegion.Id,
		FromPeer:    srRegion.Peers[0],
		ToPeer:      srRegion.Peers[1],
		RegionEpoch: srRegion.RegionEpoch,
		Message: &eraftpb.Message{
			MsgType: eraftpb.MessageType_MsgSnapshot,
			From:    22,
			To:      23,
			Term:    6,
			Snapshot: &eraftpb.Snapshot{
				Data:     data,
				Metadata: &eraftpb.SnapshotMetadata{Index: index, Term: 6, ConfState: &eraftpb.ConfState{Nodes: []uint64{22, 23}}},
			},
		},
	}
}

// srSend schedules a send on the sender's worker and waits for its outcome.
func srSend(t testing.TB, sender *srStore, addr string, msg *rspb.RaftMessage) error {
	done := make(chan error, 1)
	sender.sched <- &sendSnapTask{addr: addr, msg: msg, callback: func(err error) { done <- err }}
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("no answer to a send within 60s")
		return nil
	}
}

func srConfig(sends, recvs int) *config.Config {
	cfg := config.NewTestConfig()
	cfg.SnapConcurrentSends, cfg.SnapConcurrentRecvs = sends, recvs
	return cfg
}

// srReadAll returns every pair of db as cf/key → value.
func srReadAll(t testing.TB, db *badger.DB) map[string][]byte {
	all := make(map[string][]byte)
	err := db.View(func(txn *badger.Txn) error {
		for _, cf := range engine_util.CFs {
			it := engine_util.NewCFIterator(cf, txn)
			for it.Seek(nil); it.Valid(); it.Next() {
				value, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				all[cf+"/"+string(it.Item().KeyCopy(nil))] = value
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read data: %v", err)
	}
	return all
}

// srApplyReceived applies the received snapshot of msg into db.
func srApplyReceived(t testing.TB, receiver *srStore, msg *rspb.RaftMessage, db *badger.DB) {
	key := snap.SnapKeyFromRegionSnap(msg.RegionId, msg.Message.Snapshot)
	s, err := receiver.mgr.GetSnapshotForApplying(key)
	if err != nil || !s.Exists() {
		t.Fatalf("received snapshot %s: expected it complete on disk, err %v", key, err)
	}
	defer s.Close()
	if err := s.Apply(snap.ApplyOptions{DB: db, Region: srRegion}); err != nil {
		t.Fatalf("apply received snapshot: %v", err)
	}
}

func srAssertSameData(t testing.TB, want, got map[string][]byte, seed int64) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("expected %d keys, got %d (seed %d)", len(want), len(got), seed)
	}
	for key, value := range want {
		if gotValue, ok := got[key]; !ok || !bytes.Equal(gotValue, value) {
			t.Errorf("key %q: expected %d bytes %x..., got present=%v %d bytes (seed %d)", key, len(value), value[:4], ok, len(gotValue), seed)
			return
		}
	}
}

// srSnapFiles lists the files of a snap directory.
func srSnapFiles(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSnapRunnerStreamsOverGRPCAndTheCopyAppliesKeyByKey(t *testing.T) {
	seed := srSeed(t)
	// Badger races with itself when one is opened while another writes:
	// open both first.
	src, dst := srOpenEngine(t), srOpenEngine(t)
	want := srFill(t, src, rand.New(rand.NewSource(seed)), 3000, 1024)
	sender := newSrStore(t, srConfig(4, 4), false)
	receiver := newSrStore(t, srConfig(4, 4), true)
	msg := srBuildMessage(t, src, sender.mgr, 30)

	if err := srSend(t, sender, receiver.addr, msg); err != nil {
		t.Fatalf("send: %v (seed %d)", err, seed)
	}
	if err := receiver.receiveResult(t); err != nil {
		t.Fatalf("receive: %v (seed %d)", err, seed)
	}
	delivered := receiver.router.delivered()
	if len(delivered) != 1 || !proto.Equal(delivered[0], msg) {
		t.Fatalf("expected the raft message delivered once, unchanged; got %d messages", len(delivered))
	}
	receiver.server.mu.Lock()
	sizes := append([]int(nil), receiver.server.chunkSizes...)
	receiver.server.mu.Unlock()
	total := 0
	for _, n := range sizes {
		if n > snapChunkSize {
			t.Errorf("a data chunk of %d bytes, more than %d", n, snapChunkSize)
		}
		total += n
	}
	sent, _ := sender.mgr.GetSnapshotForSending(snap.SnapKeyFromRegionSnap(msg.RegionId, msg.Message.Snapshot))
	if uint64(total) != sent.TotalSize() || len(sizes) < 3 {
		t.Errorf("expected %d bytes in at least 3 chunks, got %d bytes in %d chunks", sent.TotalSize(), total, len(sizes))
	}
	for _, mgr := range []*snap.SnapManager{sender.mgr, receiver.mgr} {
		if sending, receiving := mgr.Stats(); sending != 0 || receiving != 0 {
			t.Errorf("transfers still registered after they ended: %d sending, %d receiving", sending, receiving)
		}
	}
	srApplyReceived(t, receiver, msg, dst)
	srAssertSameData(t, want, srReadAll(t, dst), seed)

	// A second copy of the same snapshot is not written again, but its
	// message is delivered again.
	if err := srSend(t, sender, receiver.addr, msg); err != nil {
		t.Fatalf("send again: %v", err)
	}
	if err := receiver.receiveResult(t); err != nil || len(receiver.router.delivered()) != 2 {
		t.Errorf("receive again: expected success and a second delivery, got %v and %d deliveries", err, len(receiver.router.delivered()))
	}
}

// srStreamChunks plays a snapshot stream by hand and returns the answer
// the sender gets; with beforeBreak set, the stream is cut (its context
// cancelled) once beforeBreak returns.
func srStreamChunks(t testing.TB, addr string, chunks []*rspb.SnapshotChunk, beforeBreak func()) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := tinykvpb.NewTinyKvClient(conn).Snapshot(ctx)
	if err != nil {
		return err
	}
	for _, chunk := range chunks {
		if err := stream.Send(chunk); err != nil {
			return receiverError(stream, err)
		}
	}
	if beforeBreak != nil {
		beforeBreak()
		cancel()
		return nil
	}
	_, err = stream.CloseAndRecv()
	return err
}

// srSnapshotBytes reads the built snapshot of msg whole (tests only).
func srSnapshotBytes(t testing.TB, mgr *snap.SnapManager, msg *rspb.RaftMessage) []byte {
	s, err := mgr.GetSnapshotForSending(snap.SnapKeyFromRegionSnap(msg.RegionId, msg.Message.Snapshot))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	return data
}

// srWithData returns a copy of msg whose snapshot data is changed by edit.
func srWithData(t testing.TB, msg *rspb.RaftMessage, edit func(*rspb.RaftSnapshotData)) *rspb.RaftMessage {
	clone := proto.Clone(msg).(*rspb.RaftMessage)
	snapData := new(rspb.RaftSnapshotData)
	if err := snapData.Unmarshal(clone.Message.Snapshot.Data); err != nil {
		t.Fatal(err)
	}
	edit(snapData)
	data, err := snapData.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	clone.Message.Snapshot.Data = data
	return clone
}

func TestSnapRunnerRejectsBadStreamsAndLeavesNothing(t *testing.T) {
	seed := srSeed(t)
	src := srOpenEngine(t)
	srFill(t, src, rand.New(rand.NewSource(seed)), 600, 512)
	sender := newSrStore(t, srConfig(4, 4), false)
	msg := srBuildMessage(t, src, sender.mgr, 31)
	data := srSnapshotBytes(t, sender.mgr, msg)
	half := len(data) / 2
	head := &rspb.SnapshotChunk{Message: msg}
	dataChunks := func(d []byte) []*rspb.SnapshotChunk {
		return []*rspb.SnapshotChunk{head, {Data: d[:len(d)/2]}, {Data: d[len(d)/2:]}}
	}
	flipped := append([]byte(nil), data...)
	flipped[half] ^= 1
	withMsg := func(m *rspb.RaftMessage) []*rspb.SnapshotChunk {
		return []*rspb.SnapshotChunk{{Message: m}, {Data: data}}
	}
	noSnapshot := proto.Clone(msg).(*rspb.RaftMessage)
	noSnapshot.Message.Snapshot = nil
	indexZero := proto.Clone(msg).(*rspb.RaftMessage)
	indexZero.Message.Snapshot.Metadata.Index = 0
	notSnapshotType := proto.Clone(msg).(*rspb.RaftMessage)
	notSnapshotType.Message.MsgType = eraftpb.MessageType_MsgAppend
	otherRegion := srWithData(t, msg, func(d *rspb.RaftSnapshotData) { d.Region = &metapb.Region{Id: 99} })
	pathCF := srWithData(t, msg, func(d *rspb.RaftSnapshotData) { d.Meta.CfFiles[1].Cf = "../../../tmp/x" })
	absurd := srWithData(t, msg, func(d *rspb.RaftSnapshotData) { d.Meta.CfFiles[0].Size_ = 1 << 50 })
	garbageData := proto.Clone(msg).(*rspb.RaftMessage)
	garbageData.Message.Snapshot.Data = []byte{0xff, 0xff, 0xff}

	cases := []struct {
		name     string
		chunks   []*rspb.SnapshotChunk
		broken   bool
		wantCode codes.Code
		wantText string
	}{
		{"empty stream", nil, false, codes.InvalidArgument, "ended before its first chunk"},
		{"first chunk without message", []*rspb.SnapshotChunk{{Data: data}}, false, codes.InvalidArgument, "carries no raft message"},
		{"message without snapshot", withMsg(noSnapshot), false, codes.InvalidArgument, "without snapshot metadata"},
		{"message of another type", withMsg(notSnapshotType), false, codes.InvalidArgument, "without snapshot metadata"},
		{"index zero", withMsg(indexZero), false, codes.InvalidArgument, "must be positive"},
		{"undecodable snapshot data", withMsg(garbageData), false, codes.InvalidArgument, "decode"},
		{"data of another region", withMsg(otherRegion), false, codes.InvalidArgument, "describes region 99"},
		{"path-like column family", withMsg(pathCF), false, codes.InvalidArgument, "unknown column family"},
		{"absurd size", withMsg(absurd), false, codes.InvalidArgument, "more than the"},
		{"wrong checksum", dataChunks(flipped), false, codes.DataLoss, "checksum"},
		{"short data", dataChunks(data[:len(data)-100]), false, codes.DataLoss, "its meta announces"},
		{"more data than announced", dataChunks(append(append([]byte(nil), data...), 0)), false, codes.InvalidArgument, "more than the"},
		{"second message", []*rspb.SnapshotChunk{head, {Data: data[:half]}, {Message: msg}}, false, codes.InvalidArgument, "after the first carries a raft message"},
		{"broken stream", []*rspb.SnapshotChunk{head, {Data: data[:half]}}, true, codes.Canceled, "broke"},
	}
	receiver := newSrStore(t, srConfig(4, 4), true)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var beforeBreak func()
			if c.broken {
				seen := receiver.server.dataChunks()
				beforeBreak = func() { srWaitForData(t, receiver, seen) }
			}
			senderErr := srStreamChunks(t, receiver.addr, c.chunks, beforeBreak)
			err := receiver.receiveResult(t)
			if status.Code(err) != c.wantCode || err == nil || !strings.Contains(err.Error(), c.wantText) {
				t.Fatalf("expected a %v error containing %q, got %v (seed %d)", c.wantCode, c.wantText, err, seed)
			}
			if !c.broken && (senderErr == nil || status.Code(senderErr) != c.wantCode) {
				t.Errorf("the sender should see the receiver's %v error, got %v", c.wantCode, senderErr)
			}
			if files := srSnapFiles(t, receiver.dir); len(files) != 0 {
				t.Errorf("a failed receive left files: %v", files)
			}
			if n := len(receiver.router.delivered()); n != 0 {
				t.Errorf("a failed receive delivered %d messages to the raftstore", n)
			}
			if receiver.mgr.GetTotalSnapSize() != 0 {
				t.Errorf("a failed receive is counted in the snapshot size: %d", receiver.mgr.GetTotalSnapSize())
			}
		})
	}
}

// dataChunks counts the data chunks received so far.
func (s *srServer) dataChunks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunkSizes)
}

// srWaitForData waits until the receiver, busy with one stream, has taken
// more than seen data chunks.
func srWaitForData(t testing.TB, receiver *srStore, seen int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, receiving := receiver.mgr.Stats(); receiving == 1 && receiver.server.dataChunks() > seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver never took a data chunk")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSnapRunnerLimitsConcurrentReceives(t *testing.T) {
	src := srOpenEngine(t)
	srFill(t, src, rand.New(rand.NewSource(1)), 300, 512)
	sender := newSrStore(t, srConfig(4, 4), false)
	receiver := newSrStore(t, srConfig(4, 1), true)
	first := srBuildMessage(t, src, sender.mgr, 40)
	second := srBuildMessage(t, src, sender.mgr, 41)
	data := srSnapshotBytes(t, sender.mgr, first)

	conn, err := grpc.NewClient(receiver.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := tinykvpb.NewTinyKvClient(conn).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rspb.SnapshotChunk{Message: first}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rspb.SnapshotChunk{Data: data[:10]}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, receiving := receiver.mgr.Stats(); receiving != 1; _, receiving = receiver.mgr.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the first receive never started")
		}
		time.Sleep(5 * time.Millisecond)
	}

	err = srSend(t, sender, receiver.addr, second)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a second receive beyond the limit of 1: expected ResourceExhausted, got %v", err)
	}
	if err := receiver.receiveResult(t); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("receiver side of the refused stream: expected ResourceExhausted, got %v", err)
	}

	if err := stream.Send(&rspb.SnapshotChunk{Data: data[10:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatalf("the first receive should complete: %v", err)
	}
	if err := receiver.receiveResult(t); err != nil {
		t.Fatalf("first receive: %v", err)
	}
	if err := srSend(t, sender, receiver.addr, second); err != nil {
		t.Errorf("once the first receive ended, the second should go through: %v", err)
	}
	if err := receiver.receiveResult(t); err != nil {
		t.Errorf("second receive: %v", err)
	}
}

func TestSnapRunnerSendFailuresAreReported(t *testing.T) {
	src := srOpenEngine(t)
	srFill(t, src, rand.New(rand.NewSource(2)), 50, 100)
	sender := newSrStore(t, srConfig(1, 1), false)
	msg := srBuildMessage(t, src, sender.mgr, 50)

	missing := proto.Clone(msg).(*rspb.RaftMessage)
	missing.Message.Snapshot.Metadata.Index = 51
	if err := srSend(t, sender, "127.0.0.1:1", missing); status.Code(err) != codes.NotFound {
		t.Errorf("send of a snapshot that was never built: expected NotFound, got %v", err)
	}
	noSnapshot := proto.Clone(msg).(*rspb.RaftMessage)
	noSnapshot.Message.Snapshot = nil
	if err := srSend(t, sender, "127.0.0.1:1", noSnapshot); status.Code(err) != codes.InvalidArgument {
		t.Errorf("send of a message without snapshot: expected InvalidArgument, got %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := lis.Addr().String()
	_ = lis.Close()
	if err := srSend(t, sender, closedAddr, msg); status.Code(err) != codes.Unavailable {
		t.Errorf("send to an address nobody listens on: expected Unavailable, got %v", err)
	}
	if sending, _ := sender.mgr.Stats(); sending != 0 {
		t.Errorf("failed sends left %d registrations", sending)
	}
}

func TestSnapRunnerRefusesTransfersBeyondItsSlots(t *testing.T) {
	runner := newSnapRunner(snap.NewSnapManager(t.TempDir()), srConfig(1, 1), new(srRouter))
	release := make(chan struct{})
	results := make(chan error, 3)
	report := func(err error) { results <- err }
	runner.start(runner.sendSlots, "sends", report, func() error { <-release; return nil })
	runner.start(runner.sendSlots, "sends", report, func() error { return nil })
	if err := <-results; status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "limit 1") {
		t.Errorf("second send with one slot: expected ResourceExhausted naming the limit, got %v", err)
	}
	close(release)
	if err := <-results; err != nil {
		t.Errorf("first send: %v", err)
	}
	runner.Stop()
	runner.start(runner.recvSlots, "receives", report, func() error { return nil })
	if err := <-results; status.Code(err) != codes.Unavailable {
		t.Errorf("transfer after Stop: expected Unavailable, got %v", err)
	}
}

func TestSnapChunkCodecRoundTripsChunksAndDelegatesOtherMessages(t *testing.T) {
	codec := encoding.GetCodecV2("proto")
	if _, ok := codec.(snapChunkCodec); !ok {
		t.Fatalf("the process-wide proto codec is %T, expected snapChunkCodec", codec)
	}
	data := bytes.Repeat([]byte("snapshot"), snapChunkSize/8)
	for _, chunk := range []*rspb.SnapshotChunk{{Data: data}, {Message: &rspb.RaftMessage{RegionId: 3}}} {
		encoded, err := codec.Marshal(chunk)
		if err != nil {
			t.Fatalf("marshal chunk: %v", err)
		}
		decoded := new(rspb.SnapshotChunk)
		err = codec.Unmarshal(encoded, decoded)
		encoded.Free()
		if err != nil || !proto.Equal(decoded, chunk) {
			t.Fatalf("chunk changed in a round trip (err %v)", err)
		}
		releaseChunkData(decoded)
		if decoded.Data != nil {
			t.Errorf("released chunk still holds its buffer")
		}
	}
	msg := &rspb.RaftMessage{RegionId: 9, StartKey: []byte("a")}
	encoded, err := codec.Marshal(msg)
	if err != nil {
		t.Fatalf("marshal raft message: %v", err)
	}
	decoded := new(rspb.RaftMessage)
	if err := codec.Unmarshal(encoded, decoded); err != nil || !proto.Equal(decoded, msg) {
		t.Errorf("raft message changed in a round trip (err %v)", err)
	}
}
