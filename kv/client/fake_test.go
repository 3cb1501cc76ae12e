package client

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeCluster is a cluster in one process for the client's tests: the
// true regions and their leaders, a scheduler whose view may lag or lie,
// and stores that check every request's region, epoch and leader as a raft
// store does before handing it to one shared server over MemStorage.
type fakeCluster struct {
	t   *testing.T
	srv *server.Server

	mu      sync.Mutex
	regions map[uint64]*metapb.Region // the truth
	leaders map[uint64]uint64         // region id → store id of its leader (0: none)
	down    map[uint64]bool           // stores that do not answer
	// schedView is what the scheduler answers: region id → region and leader store.
	schedView map[uint64]*metapb.Region
	schedLead map[uint64]uint64
	// inject holds region errors a store answers once, before checking;
	// always one it answers to every request.
	inject map[uint64][]*errorpb.Error
	always map[uint64]*errorpb.Error
	calls  map[uint64]int // requests per store
	// hintLeader: NotLeader carries the leader's peer (else no hint).
	hintLeader bool

	getStoreCalls  int
	storeLookups   map[uint64]int // GetStore calls per store id
	getRegionCalls int
	ts             uint64
}

func newFakeCluster(t *testing.T) *fakeCluster {
	return &fakeCluster{
		t:            t,
		srv:          server.NewServer(storage.NewMemStorage()),
		regions:      make(map[uint64]*metapb.Region),
		leaders:      make(map[uint64]uint64),
		down:         make(map[uint64]bool),
		schedView:    make(map[uint64]*metapb.Region),
		schedLead:    make(map[uint64]uint64),
		inject:       make(map[uint64][]*errorpb.Error),
		always:       make(map[uint64]*errorpb.Error),
		storeLookups: make(map[uint64]int),
		calls:        make(map[uint64]int),
		hintLeader:   true,
	}
}

// addRegion creates region id over [start, end) with one peer on each of
// stores (peer id = 100*region + store), led by leader; the scheduler
// knows it as it is.
func (f *fakeCluster) addRegion(id uint64, start, end string, leader uint64, stores ...uint64) *metapb.Region {
	r := &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	for _, s := range stores {
		r.Peers = append(r.Peers, &metapb.Peer{Id: 100*id + s, StoreId: s})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regions[id] = r
	f.leaders[id] = leader
	f.schedView[id] = proto.Clone(r).(*metapb.Region)
	f.schedLead[id] = leader
	return r
}

// split cuts region id at key into [start, key) (id, new version) and
// [key, end) (newID, led by the same store). The scheduler is not told.
func (f *fakeCluster) split(id, newID uint64, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	left := f.regions[id]
	right := proto.Clone(left).(*metapb.Region)
	right.Id, right.StartKey = newID, []byte(key)
	for _, p := range right.Peers {
		p.Id = 100*newID + p.StoreId
	}
	left.EndKey = []byte(key)
	left.RegionEpoch.Version++
	right.RegionEpoch.Version = left.RegionEpoch.Version
	f.regions[newID] = right
	f.leaders[newID] = f.leaders[id]
}

// tellScheduler makes the scheduler's view the truth.
func (f *fakeCluster) tellScheduler() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.regions {
		f.schedView[id] = proto.Clone(r).(*metapb.Region)
		f.schedLead[id] = f.leaders[id]
	}
}

func (f *fakeCluster) setLeader(region, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[region] = store
}

func (f *fakeCluster) setDown(store uint64, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[store] = down
}

func (f *fakeCluster) injectOnce(store uint64, e *errorpb.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[store] = append(f.inject[store], e)
}

// injectAlways makes store answer e to every request from now on.
func (f *fakeCluster) injectAlways(store uint64, e *errorpb.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always[store] = e
}

func (f *fakeCluster) callsTo(store uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[store]
}

// The scheduler side.

func (f *fakeCluster) GetRegion(_ context.Context, key []byte) (*metapb.Region, *metapb.Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getRegionCalls++
	for id, r := range f.schedView {
		if inRegion(key, r) {
			leader := &metapb.Peer{}
			if p := findPeer(r, 0, f.schedLead[id]); p != nil {
				leader = proto.Clone(p).(*metapb.Peer)
			}
			return proto.Clone(r).(*metapb.Region), leader, nil
		}
	}
	return nil, nil, nil
}

func (f *fakeCluster) GetStore(_ context.Context, storeID uint64) (*metapb.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getStoreCalls++
	f.storeLookups[storeID]++
	for _, r := range f.regions {
		if findPeer(r, 0, storeID) != nil {
			return &metapb.Store{Id: storeID, Address: fmt.Sprintf("store-%d", storeID)}, nil
		}
	}
	return nil, fmt.Errorf("store %d not found", storeID)
}

func (f *fakeCluster) lookupsOf(storeID uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.storeLookups[storeID]
}

func (f *fakeCluster) getRegionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.getRegionCalls
}

func (f *fakeCluster) GetTS(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ts += 1 << 18
	return f.ts, nil
}

// dial connects to a fake store by its address.
func (f *fakeCluster) dial(addr string) (tinykvpb.TinyKvClient, func() error, error) {
	var id uint64
	if _, err := fmt.Sscanf(addr, "store-%d", &id); err != nil {
		return nil, nil, err
	}
	return &fakeStore{f: f, id: id}, func() error { return nil }, nil
}

// check is what a raft store checks before serving a request: is the store
// up, is it the region's leader, is the epoch current, are the keys inside.
func (f *fakeCluster) check(store uint64, rctx *kvrpcpb.Context, keys ...[]byte) (*errorpb.Error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[store]++
	if f.down[store] {
		return nil, status.Errorf(codes.Unavailable, "store %d is down", store)
	}
	if e := f.always[store]; e != nil {
		return e, nil
	}
	if q := f.inject[store]; len(q) > 0 {
		f.inject[store] = q[1:]
		return q[0], nil
	}
	region, ok := f.regions[rctx.GetRegionId()]
	if !ok || findPeer(region, 0, store) == nil {
		return &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.GetRegionId()}}, nil
	}
	if leader := f.leaders[region.Id]; leader != store {
		e := &errorpb.NotLeader{RegionId: region.Id}
		if p := findPeer(region, 0, leader); p != nil && f.hintLeader {
			e.Leader = proto.Clone(p).(*metapb.Peer)
		}
		return &errorpb.Error{Message: "not leader", NotLeader: e}, nil
	}
	if ep := rctx.GetRegionEpoch(); ep.GetVersion() != region.RegionEpoch.Version || ep.GetConfVer() != region.RegionEpoch.ConfVer {
		var current []*metapb.Region
		for _, r := range f.regions {
			if f.leaders[r.Id] == store {
				current = append(current, proto.Clone(r).(*metapb.Region))
			}
		}
		return &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: current}}, nil
	}
	for _, key := range keys {
		if !inRegion(key, region) {
			return &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: key, RegionId: region.Id}}, nil
		}
	}
	return nil, nil
}

// fakeStore is one store's TinyKv API over the shared server; a scan is cut
// at the region's end, as a raft store's region reader does.
type fakeStore struct {
	tinykvpb.TinyKvClient // the calls not listed here are not used
	f                     *fakeCluster
	id                    uint64
}

func (s *fakeStore) regionEnd(rctx *kvrpcpb.Context) []byte {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.regions[rctx.RegionId].EndKey
}

func clip[P interface{ GetKey() []byte }](pairs []P, end []byte) []P {
	for i, p := range pairs {
		if len(end) > 0 && bytes.Compare(p.GetKey(), end) >= 0 {
			return pairs[:i]
		}
	}
	return pairs
}

func (s *fakeStore) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest, _ ...grpc.CallOption) (*kvrpcpb.RawGetResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Key); e != nil || err != nil {
		return &kvrpcpb.RawGetResponse{RegionError: e}, err
	}
	return s.f.srv.RawGet(ctx, req)
}

func (s *fakeStore) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest, _ ...grpc.CallOption) (*kvrpcpb.RawPutResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Key); e != nil || err != nil {
		return &kvrpcpb.RawPutResponse{RegionError: e}, err
	}
	return s.f.srv.RawPut(ctx, req)
}

func (s *fakeStore) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest, _ ...grpc.CallOption) (*kvrpcpb.RawDeleteResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Key); e != nil || err != nil {
		return &kvrpcpb.RawDeleteResponse{RegionError: e}, err
	}
	return s.f.srv.RawDelete(ctx, req)
}

func (s *fakeStore) RawScan(ctx context.Context, req *kvrpcpb.RawScanRequest, _ ...grpc.CallOption) (*kvrpcpb.RawScanResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.StartKey); e != nil || err != nil {
		return &kvrpcpb.RawScanResponse{RegionError: e}, err
	}
	resp, err := s.f.srv.RawScan(ctx, req)
	if resp != nil {
		resp.Kvs = clip(resp.Kvs, s.regionEnd(req.Context))
	}
	return resp, err
}

func (s *fakeStore) KvGet(ctx context.Context, req *kvrpcpb.GetRequest, _ ...grpc.CallOption) (*kvrpcpb.GetResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Key); e != nil || err != nil {
		return &kvrpcpb.GetResponse{RegionError: e}, err
	}
	return s.f.srv.KvGet(ctx, req)
}

func (s *fakeStore) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest, _ ...grpc.CallOption) (*kvrpcpb.ScanResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.StartKey); e != nil || err != nil {
		return &kvrpcpb.ScanResponse{RegionError: e}, err
	}
	resp, err := s.f.srv.KvScan(ctx, req)
	if resp != nil {
		resp.Pairs = clip(resp.Pairs, s.regionEnd(req.Context))
	}
	return resp, err
}

func mutationKeys(muts []*kvrpcpb.Mutation) [][]byte {
	var keys [][]byte
	for _, m := range muts {
		keys = append(keys, m.Key)
	}
	return keys
}

func (s *fakeStore) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest, _ ...grpc.CallOption) (*kvrpcpb.PrewriteResponse, error) {
	if e, err := s.f.check(s.id, req.Context, mutationKeys(req.Mutations)...); e != nil || err != nil {
		return &kvrpcpb.PrewriteResponse{RegionError: e}, err
	}
	return s.f.srv.KvPrewrite(ctx, req)
}

func (s *fakeStore) KvCommit(ctx context.Context, req *kvrpcpb.CommitRequest, _ ...grpc.CallOption) (*kvrpcpb.CommitResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Keys...); e != nil || err != nil {
		return &kvrpcpb.CommitResponse{RegionError: e}, err
	}
	return s.f.srv.KvCommit(ctx, req)
}

func (s *fakeStore) KvCheckTxnStatus(ctx context.Context, req *kvrpcpb.CheckTxnStatusRequest, _ ...grpc.CallOption) (*kvrpcpb.CheckTxnStatusResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.PrimaryKey); e != nil || err != nil {
		return &kvrpcpb.CheckTxnStatusResponse{RegionError: e}, err
	}
	return s.f.srv.KvCheckTxnStatus(ctx, req)
}

func (s *fakeStore) KvBatchRollback(ctx context.Context, req *kvrpcpb.BatchRollbackRequest, _ ...grpc.CallOption) (*kvrpcpb.BatchRollbackResponse, error) {
	if e, err := s.f.check(s.id, req.Context, req.Keys...); e != nil || err != nil {
		return &kvrpcpb.BatchRollbackResponse{RegionError: e}, err
	}
	return s.f.srv.KvBatchRollback(ctx, req)
}

// KvResolveLock resolves in the whole (shared) store: the fake does not
// keep data per region, which is fine for one transaction's locks.
func (s *fakeStore) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest, _ ...grpc.CallOption) (*kvrpcpb.ResolveLockResponse, error) {
	if e, err := s.f.check(s.id, req.Context); e != nil || err != nil {
		return &kvrpcpb.ResolveLockResponse{RegionError: e}, err
	}
	return s.f.srv.KvResolveLock(ctx, req)
}

// newTestClient is a client of f with short timeouts.
func newTestClient(f *fakeCluster) *Client {
	c := New(f, Options{Dial: f.dial, Timeout: 2 * time.Second, RPCTimeout: 200 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Seed: 1})
	f.t.Cleanup(func() { c.Close() })
	return c
}

// model is the expected content of the raw key space.
type model map[string]string

func (m model) scan(start, end string, limit int) []string {
	var keys []string
	for k := range m {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + m[k]
	}
	return out
}

func pairsString(pairs []KvPair) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = string(p.Key) + "=" + string(p.Value)
	}
	return out
}
