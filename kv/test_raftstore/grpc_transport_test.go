package test_raftstore

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/storage/raft_storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
)

// grpcStore is one store of the real-network cluster: a RaftStorage served
// by a gRPC server on its own loopback port.
type grpcStore struct {
	id      uint64
	cfg     *config.Config
	storage *raft_storage.RaftStorage
	server  *grpc.Server
}

// grpcCluster runs stores over the real transport (ServerTransport,
// RaftClient, the TinyKv.Raft stream), with the mock scheduler resolving
// store addresses.
type grpcCluster struct {
	t         *testing.T
	scheduler *MockSchedulerClient
	stores    map[uint64]*grpcStore
	region    *metapb.Region
}

func newGRPCCluster(t *testing.T, count int) *grpcCluster {
	prepared := NewTestCluster(count, config.NewTestConfig())
	prepared.baseDir = t.TempDir()
	for id := uint64(1); id <= uint64(count); id++ {
		if err := prepared.openStore(id); err != nil {
			t.Fatalf("open store %d: %v", id, err)
		}
	}
	region, err := prepared.bootstrapStores()
	if err != nil {
		t.Fatalf("bootstrap stores: %v", err)
	}
	if err := prepared.bootstrapScheduler(region); err != nil {
		t.Fatalf("bootstrap scheduler: %v", err)
	}
	gc := &grpcCluster{t: t, scheduler: prepared.schedulerClient, stores: map[uint64]*grpcStore{}, region: region}
	for id, engines := range prepared.engines {
		if err := engines.Close(); err != nil {
			t.Fatalf("close engines of store %d: %v", id, err)
		}
		cfg := config.NewTestConfig()
		cfg.DBPath = prepared.dbPaths[id]
		cfg.StoreAddr = freeLoopbackAddr(t)
		gc.stores[id] = &grpcStore{id: id, cfg: cfg}
	}
	t.Cleanup(gc.stopAll)
	for id := range gc.stores {
		gc.start(id)
	}
	return gc
}

func freeLoopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start opens the store's RaftStorage and serves it on its address.
func (gc *grpcCluster) start(id uint64) {
	s := gc.stores[id]
	s.storage = raft_storage.NewRaftStorage(s.cfg, gc.scheduler)
	if err := s.storage.Start(); err != nil {
		gc.t.Fatalf("start store %d: %v", id, err)
	}
	l, err := net.Listen("tcp", s.cfg.StoreAddr)
	if err != nil {
		gc.t.Fatalf("listen on %s for store %d: %v", s.cfg.StoreAddr, id, err)
	}
	s.server = grpc.NewServer()
	tinykvpb.RegisterTinyKvServer(s.server, server.NewServer(s.storage))
	go func() { _ = s.server.Serve(l) }()
}

// stop stops serving and closes the store (its data stays on disk).
func (gc *grpcCluster) stop(id uint64) {
	s := gc.stores[id]
	if s.storage == nil {
		return
	}
	s.server.Stop()
	if err := s.storage.Stop(); err != nil {
		gc.t.Errorf("stop store %d: %v", id, err)
	}
	s.storage, s.server = nil, nil
}

func (gc *grpcCluster) stopAll() {
	for id := range gc.stores {
		gc.stop(id)
	}
}

// contextFor addresses the region's peer on store id.
func (gc *grpcCluster) contextFor(id uint64) *kvrpcpb.Context {
	return &kvrpcpb.Context{RegionId: gc.region.Id, RegionEpoch: gc.region.RegionEpoch, Peer: NewPeer(id, id)}
}

// onAnyLeader runs op against each running store until one (the leader)
// succeeds, for up to 20 seconds.
func (gc *grpcCluster) onAnyLeader(what string, op func(s *grpcStore) error) {
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		for id := uint64(1); id <= uint64(len(gc.stores)); id++ {
			s := gc.stores[id]
			if s.storage == nil {
				continue
			}
			if lastErr = op(s); lastErr == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	gc.t.Fatalf("%s: no store succeeded in 20s; last error: %v", what, lastErr)
}

func (gc *grpcCluster) mustPut(key, value []byte) {
	gc.onAnyLeader(fmt.Sprintf("put %q", key), func(s *grpcStore) error {
		put := storage.Modify{Data: storage.Put{Cf: engine_util.CfDefault, Key: key, Value: value}}
		return s.storage.Write(gc.contextFor(s.id), []storage.Modify{put})
	})
}

func (gc *grpcCluster) mustGet(key, want []byte) {
	gc.onAnyLeader(fmt.Sprintf("get %q", key), func(s *grpcStore) error {
		reader, err := s.storage.Reader(gc.contextFor(s.id))
		if err != nil {
			return err
		}
		defer reader.Close()
		got, err := reader.GetCF(engine_util.CfDefault, key)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			gc.t.Fatalf("get %q from store %d = %q, want %q", key, s.id, got, want)
		}
		return nil
	})
}

func grpcKey(i int) []byte   { return []byte(fmt.Sprintf("key-%03d", i)) }
func grpcValue(i int) []byte { return []byte(fmt.Sprintf("value-%03d", i)) }

// TestRealTransportRestart2B runs three stores over loopback gRPC: writes,
// one follower stops and misses writes, comes back, and then has to carry
// the majority (the other follower stops) — which it can only do if it
// caught up through the real Raft stream. Every write is then read back.
func TestRealTransportRestart2B(t *testing.T) {
	gc := newGRPCCluster(t, 3)
	next := 0
	write := func(n int) {
		for end := next + n; next < end; next++ {
			gc.mustPut(grpcKey(next), grpcValue(next))
		}
	}
	write(20)
	leader := gc.leaderStore()
	follower, other := otherStores(leader)
	gc.stop(follower)
	write(20)
	gc.start(follower)
	gc.stop(other)
	write(5)
	for i := 0; i < next; i++ {
		gc.mustGet(grpcKey(i), grpcValue(i))
	}
}

// leaderStore is the store whose peer reads successfully.
func (gc *grpcCluster) leaderStore() uint64 {
	var leader uint64
	gc.onAnyLeader("find the leader", func(s *grpcStore) error {
		reader, err := s.storage.Reader(gc.contextFor(s.id))
		if err != nil {
			return err
		}
		reader.Close()
		leader = s.id
		return nil
	})
	return leader
}

func otherStores(id uint64) (uint64, uint64) {
	others := []uint64{}
	for i := uint64(1); i <= 3; i++ {
		if i != id {
			others = append(others, i)
		}
	}
	return others[0], others[1]
}
