package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcServer is the Scheduler gRPC service of a Server. Every method but
// GetMembers checks the request's cluster id (a wrong one is
// FailedPrecondition) and that this member leads (Unavailable "not leader"
// otherwise); store and region calls on a cluster not bootstrapped answer
// the header error NOT_BOOTSTRAPPED.
type grpcServer struct {
	*Server
}

// gcSafePointKey holds the GC safe point (relative to the cluster root).
const gcSafePointKey = "gc/safe_point"

func (s *grpcServer) header() *schedulerpb.ResponseHeader {
	return &schedulerpb.ResponseHeader{ClusterId: s.clusterID}
}

func (s *grpcServer) errorHeader(typ schedulerpb.ErrorType, msg string) *schedulerpb.ResponseHeader {
	return &schedulerpb.ResponseHeader{ClusterId: s.clusterID, Error: &schedulerpb.Error{Type: typ, Message: msg}}
}

// errHeader turns an error of the cluster into a response header.
func (s *grpcServer) errHeader(err error) *schedulerpb.ResponseHeader {
	if se, ok := errors.Cause(err).(*storeError); ok {
		return s.errorHeader(se.typ, se.msg)
	}
	return s.errorHeader(schedulerpb.ErrorType_UNKNOWN, err.Error())
}

func (s *grpcServer) notBootstrapped() *schedulerpb.ResponseHeader {
	return s.errorHeader(schedulerpb.ErrorType_NOT_BOOTSTRAPPED, fmt.Sprintf("cluster %d is not bootstrapped", s.clusterID))
}

// notLeader is the error of a member that does not lead, naming the leader
// when it knows one.
func (s *grpcServer) notLeader() error {
	msg := fmt.Sprintf("not leader: scheduler %s does not lead", s.cfg.Name)
	// A member cut off from its cluster cannot read the leader: say so fast.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if m, err := s.leaderMember(ctx); err == nil && m != nil {
		msg += fmt.Sprintf("; the leader is %s at %v", m.GetName(), m.GetClientUrls())
	}
	return status.Error(codes.Unavailable, msg)
}

// check validates a request's header and returns the leadership to serve it.
func (s *grpcServer) check(h *schedulerpb.RequestHeader) (*leadership, error) {
	if !s.ready.Load() {
		return nil, status.Errorf(codes.Unavailable, "scheduler %s is starting", s.cfg.Name)
	}
	if h.GetClusterId() != s.clusterID {
		return nil, status.Errorf(codes.FailedPrecondition, "mismatched cluster id: the request names cluster %d, this scheduler serves cluster %d",
			h.GetClusterId(), s.clusterID)
	}
	l := s.getLeadership()
	if l == nil {
		return nil, s.notLeader()
	}
	return l, nil
}

// unavailable turns a failure of etcd or of leadership into a gRPC error
// the client retries on.
func unavailable(err error) error {
	if errors.Cause(err) == kv.ErrNotLeader {
		return status.Errorf(codes.Unavailable, "not leader: %v", err)
	}
	return status.Errorf(codes.Unavailable, "scheduler storage: %v", err)
}

// GetMembers lists the members and names the leader; it needs no cluster id.
func (s *grpcServer) GetMembers(ctx context.Context, req *schedulerpb.GetMembersRequest) (*schedulerpb.GetMembersResponse, error) {
	if !s.ready.Load() {
		return nil, status.Errorf(codes.Unavailable, "scheduler %s is starting", s.cfg.Name)
	}
	var members []*schedulerpb.Member
	var etcdLeader *schedulerpb.Member
	leadID := uint64(s.etcd.Server.Leader())
	for _, m := range s.etcd.Server.Cluster().Members() {
		pm := &schedulerpb.Member{
			Name:       m.Name,
			MemberId:   uint64(m.ID),
			PeerUrls:   m.PeerURLs,
			ClientUrls: m.ClientURLs,
		}
		members = append(members, pm)
		if pm.MemberId == leadID {
			etcdLeader = pm
		}
	}
	leader, err := s.leaderMember(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	return &schedulerpb.GetMembersResponse{Header: s.header(), Members: members, Leader: leader, EtcdLeader: etcdLeader}, nil
}

// Tso answers batches of timestamps on a stream.
func (s *grpcServer) Tso(stream schedulerpb.Scheduler_TsoServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		l, err := s.check(req.GetHeader())
		if err != nil {
			return err
		}
		ts, err := l.tso.Get(req.GetCount())
		if err != nil {
			if req.GetCount() == 0 || req.GetCount() >= 1<<18 {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			return unavailable(err)
		}
		observe.TSO(req.GetCount())
		if err := stream.Send(&schedulerpb.TsoResponse{Header: s.header(), Count: req.GetCount(), Timestamp: &ts}); err != nil {
			return err
		}
	}
}

// Bootstrap records the first store and, when the request carries it, the
// first region.
func (s *grpcServer) Bootstrap(ctx context.Context, req *schedulerpb.BootstrapRequest) (*schedulerpb.BootstrapResponse, error) {
	l, err := s.check(req.GetHeader())
	if err != nil {
		return nil, err
	}
	h, err := s.bootstrap(l, req.GetStore(), req.GetRegion())
	if err != nil {
		return nil, err
	}
	return &schedulerpb.BootstrapResponse{Header: h}, nil
}

func (s *grpcServer) IsBootstrapped(ctx context.Context, req *schedulerpb.IsBootstrappedRequest) (*schedulerpb.IsBootstrappedResponse, error) {
	l, err := s.check(req.GetHeader())
	if err != nil {
		return nil, err
	}
	return &schedulerpb.IsBootstrappedResponse{Header: s.header(), Bootstrapped: l.getCluster() != nil}, nil
}

func (s *grpcServer) AllocID(ctx context.Context, req *schedulerpb.AllocIDRequest) (*schedulerpb.AllocIDResponse, error) {
	l, err := s.check(req.GetHeader())
	if err != nil {
		return nil, err
	}
	id, err := l.ids.Alloc()
	if err != nil {
		return nil, unavailable(err)
	}
	return &schedulerpb.AllocIDResponse{Header: s.header(), Id: id}, nil
}

// cluster checks the header and returns the bootstrapped cluster, or a
// NOT_BOOTSTRAPPED header.
func (s *grpcServer) cluster(h *schedulerpb.RequestHeader) (*RaftCluster, *schedulerpb.ResponseHeader, error) {
	l, err := s.check(h)
	if err != nil {
		return nil, nil, err
	}
	c := l.getCluster()
	if c == nil {
		return nil, s.notBootstrapped(), nil
	}
	return c, nil, nil
}

func (s *grpcServer) GetStore(ctx context.Context, req *schedulerpb.GetStoreRequest) (*schedulerpb.GetStoreResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetStoreResponse{Header: h}, err
	}
	store := c.GetStore(req.GetStoreId())
	if store == nil {
		return &schedulerpb.GetStoreResponse{Header: s.errorHeader(schedulerpb.ErrorType_UNKNOWN,
			fmt.Sprintf("store %d not found", req.GetStoreId()))}, nil
	}
	return &schedulerpb.GetStoreResponse{Header: s.header(), Store: store.GetMeta(), Stats: store.GetStoreStats()}, nil
}

func (s *grpcServer) PutStore(ctx context.Context, req *schedulerpb.PutStoreRequest) (*schedulerpb.PutStoreResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.PutStoreResponse{Header: h}, err
	}
	if err := c.PutStore(req.GetStore()); err != nil {
		if errors.Cause(err) == kv.ErrNotLeader {
			return nil, unavailable(err)
		}
		log.Warnf("[server] store=%d put store refused: %v", req.GetStore().GetId(), err)
		return &schedulerpb.PutStoreResponse{Header: s.errHeader(err)}, nil
	}
	return &schedulerpb.PutStoreResponse{Header: s.header()}, nil
}

func (s *grpcServer) GetAllStores(ctx context.Context, req *schedulerpb.GetAllStoresRequest) (*schedulerpb.GetAllStoresResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetAllStoresResponse{Header: h}, err
	}
	var stores []*metapb.Store
	for _, st := range c.GetStores() {
		if req.GetExcludeTombstoneStores() && st.IsTombstone() {
			continue
		}
		stores = append(stores, st.GetMeta())
	}
	return &schedulerpb.GetAllStoresResponse{Header: s.header(), Stores: stores}, nil
}

func (s *grpcServer) StoreHeartbeat(ctx context.Context, req *schedulerpb.StoreHeartbeatRequest) (*schedulerpb.StoreHeartbeatResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.StoreHeartbeatResponse{Header: h}, err
	}
	if req.GetStats() == nil {
		return &schedulerpb.StoreHeartbeatResponse{Header: s.errorHeader(schedulerpb.ErrorType_UNKNOWN, "store heartbeat without stats")}, nil
	}
	err = c.HandleStoreHeartbeat(req.GetStats())
	observe.StoreHeartbeat(err)
	if err != nil {
		return &schedulerpb.StoreHeartbeatResponse{Header: s.errHeader(err)}, nil
	}
	return &schedulerpb.StoreHeartbeatResponse{Header: s.header()}, nil
}

// RegionHeartbeat takes the heartbeats of the regions a store leads and
// sends the scheduler's orders back on the same stream.
func (s *grpcServer) RegionHeartbeat(stream schedulerpb.Scheduler_RegionHeartbeatServer) error {
	var streams *heartbeatStreams
	defer func() {
		if streams != nil {
			streams.unbind(stream)
		}
	}()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c, h, err := s.cluster(req.GetHeader())
		if err != nil {
			return err
		}
		if h != nil {
			if err := stream.Send(&schedulerpb.RegionHeartbeatResponse{Header: h, RegionId: req.GetRegion().GetId()}); err != nil {
				return err
			}
			continue
		}
		storeID := req.GetLeader().GetStoreId()
		if streams != c.hbStreams && streams != nil {
			streams.unbind(stream)
		}
		streams = c.hbStreams
		if storeID != 0 {
			streams.bind(storeID, stream)
		}
		region := core.RegionFromHeartbeat(req)
		err = c.HandleRegionHeartbeat(region)
		observe.RegionHeartbeat(err, errors.Cause(err) == ErrRegionStale)
		if err != nil {
			log.Debugf("[heartbeat] store=%d region=%d refused: %v", storeID, region.GetID(), err)
			continue
		}
		c.dispatch(region.GetID())
	}
}

// regionResponse answers a region lookup.
func (s *grpcServer) regionResponse(r *core.RegionInfo) *schedulerpb.GetRegionResponse {
	if r == nil {
		return &schedulerpb.GetRegionResponse{Header: s.header()}
	}
	leader := r.GetLeader()
	if leader == nil {
		leader = &metapb.Peer{}
	}
	var slaves []*metapb.Peer
	for _, p := range r.GetPeers() {
		if p.GetId() != leader.GetId() {
			slaves = append(slaves, p)
		}
	}
	return &schedulerpb.GetRegionResponse{Header: s.header(), Region: r.GetMeta(), Leader: leader, Slaves: slaves}
}

func (s *grpcServer) GetRegion(ctx context.Context, req *schedulerpb.GetRegionRequest) (*schedulerpb.GetRegionResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetRegionResponse{Header: h}, err
	}
	return s.regionResponse(c.SearchRegion(req.GetRegionKey())), nil
}

func (s *grpcServer) GetPrevRegion(ctx context.Context, req *schedulerpb.GetRegionRequest) (*schedulerpb.GetRegionResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetRegionResponse{Header: h}, err
	}
	return s.regionResponse(c.SearchPrevRegion(req.GetRegionKey())), nil
}

func (s *grpcServer) GetRegionByID(ctx context.Context, req *schedulerpb.GetRegionByIDRequest) (*schedulerpb.GetRegionResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetRegionResponse{Header: h}, err
	}
	return s.regionResponse(c.GetRegion(req.GetRegionId())), nil
}

// maxScanLimit bounds a ScanRegions answer (and is the limit of a request
// that gives none).
const maxScanLimit = 10240

func (s *grpcServer) ScanRegions(ctx context.Context, req *schedulerpb.ScanRegionsRequest) (*schedulerpb.ScanRegionsResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.ScanRegionsResponse{Header: h}, err
	}
	limit := int(req.GetLimit())
	if limit <= 0 || limit > maxScanLimit {
		limit = maxScanLimit
	}
	regions := c.ScanRange(req.GetStartKey(), req.GetEndKey(), limit)
	resp := &schedulerpb.ScanRegionsResponse{Header: s.header()}
	for _, r := range regions {
		leader := r.GetLeader()
		if leader == nil {
			leader = &metapb.Peer{}
		}
		resp.Regions = append(resp.Regions, r.GetMeta())
		resp.Leaders = append(resp.Leaders, leader)
	}
	return resp, nil
}

func (s *grpcServer) AskSplit(ctx context.Context, req *schedulerpb.AskSplitRequest) (*schedulerpb.AskSplitResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.AskSplitResponse{Header: h}, err
	}
	resp, err := c.askSplit(req.GetRegion())
	if err != nil {
		if errors.Cause(err) == kv.ErrNotLeader {
			return nil, unavailable(err)
		}
		return &schedulerpb.AskSplitResponse{Header: s.errHeader(err)}, nil
	}
	resp.Header = s.header()
	return resp, nil
}

func (s *grpcServer) GetClusterConfig(ctx context.Context, req *schedulerpb.GetClusterConfigRequest) (*schedulerpb.GetClusterConfigResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetClusterConfigResponse{Header: h}, err
	}
	return &schedulerpb.GetClusterConfigResponse{Header: s.header(), Cluster: c.GetMeta()}, nil
}

func (s *grpcServer) PutClusterConfig(ctx context.Context, req *schedulerpb.PutClusterConfigRequest) (*schedulerpb.PutClusterConfigResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.PutClusterConfigResponse{Header: h}, err
	}
	if err := c.putMeta(req.GetCluster()); err != nil {
		if errors.Cause(err) == kv.ErrNotLeader {
			return nil, unavailable(err)
		}
		return &schedulerpb.PutClusterConfigResponse{Header: s.errHeader(err)}, nil
	}
	return &schedulerpb.PutClusterConfigResponse{Header: s.header()}, nil
}

// ScatterRegion is not supported: the region stays where it is.
func (s *grpcServer) ScatterRegion(ctx context.Context, req *schedulerpb.ScatterRegionRequest) (*schedulerpb.ScatterRegionResponse, error) {
	_, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.ScatterRegionResponse{Header: h}, err
	}
	return &schedulerpb.ScatterRegionResponse{Header: s.errorHeader(schedulerpb.ErrorType_UNKNOWN,
		fmt.Sprintf("scatter region %d: not supported by this scheduler", req.GetRegionId()))}, nil
}

func (s *grpcServer) GetGCSafePoint(ctx context.Context, req *schedulerpb.GetGCSafePointRequest) (*schedulerpb.GetGCSafePointResponse, error) {
	l, err := s.check(req.GetHeader())
	if err != nil {
		return nil, err
	}
	sp, err := loadGCSafePoint(l.kv)
	if err != nil {
		return nil, unavailable(err)
	}
	return &schedulerpb.GetGCSafePointResponse{Header: s.header(), SafePoint: sp}, nil
}

// UpdateGCSafePoint moves the safe point forward; an older one is ignored
// and the answer is the safe point in force.
func (s *grpcServer) UpdateGCSafePoint(ctx context.Context, req *schedulerpb.UpdateGCSafePointRequest) (*schedulerpb.UpdateGCSafePointResponse, error) {
	l, err := s.check(req.GetHeader())
	if err != nil {
		return nil, err
	}
	l.gcMu.Lock()
	defer l.gcMu.Unlock()
	old, err := loadGCSafePoint(l.kv)
	if err != nil {
		return nil, unavailable(err)
	}
	if req.GetSafePoint() <= old {
		return &schedulerpb.UpdateGCSafePointResponse{Header: s.header(), NewSafePoint: old}, nil
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], req.GetSafePoint())
	if err := l.kv.Save(gcSafePointKey, buf[:]); err != nil {
		return nil, unavailable(err)
	}
	log.Infof("[server] gc safe point %d -> %d", old, req.GetSafePoint())
	return &schedulerpb.UpdateGCSafePointResponse{Header: s.header(), NewSafePoint: req.GetSafePoint()}, nil
}

func loadGCSafePoint(store *kv.Etcd) (uint64, error) {
	v, ok, err := store.Load(gcSafePointKey)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.Errorf("gc safe point %q is %d bytes, want 8", gcSafePointKey, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (s *grpcServer) GetOperator(ctx context.Context, req *schedulerpb.GetOperatorRequest) (*schedulerpb.GetOperatorResponse, error) {
	c, h, err := s.cluster(req.GetHeader())
	if err != nil || h != nil {
		return &schedulerpb.GetOperatorResponse{Header: h}, err
	}
	resp := c.getOperator(req.GetRegionId())
	if resp == nil {
		return &schedulerpb.GetOperatorResponse{Header: s.errorHeader(schedulerpb.ErrorType_REGION_NOT_FOUND,
			fmt.Sprintf("region %d has no operator", req.GetRegionId())), RegionId: req.GetRegionId()}, nil
	}
	resp.Header = s.header()
	return resp, nil
}

// bootstrap records the cluster's first store (and region), all in one etcd
// transaction, and starts the cluster.
func (s *Server) bootstrap(l *leadership, store *metapb.Store, region *metapb.Region) (*schedulerpb.ResponseHeader, error) {
	g := &grpcServer{s}
	l.bootstrapMu.Lock()
	defer l.bootstrapMu.Unlock()
	if l.getCluster() != nil {
		return g.errorHeader(schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED, fmt.Sprintf("cluster %d is already bootstrapped", s.clusterID)), nil
	}
	if store.GetId() == 0 || store.GetAddress() == "" {
		return g.errorHeader(schedulerpb.ErrorType_UNKNOWN, fmt.Sprintf("bootstrap: store %v: want a store with an id and an address", store)), nil
	}
	if store.GetState() != metapb.StoreState_Up {
		return g.errorHeader(schedulerpb.ErrorType_UNKNOWN, fmt.Sprintf("bootstrap: store %d is %s, want Up", store.GetId(), store.GetState())), nil
	}
	if region != nil {
		if err := checkBootstrapRegion(store, region); err != nil {
			return g.errorHeader(schedulerpb.ErrorType_UNKNOWN, err.Error()), nil
		}
	}
	meta := &metapb.Cluster{Id: s.clusterID, MaxPeerCount: uint32(s.cfg.Replication.MaxReplicas)}
	var b kv.Batch
	for _, w := range []struct {
		key string
		m   proto.Message
	}{{clusterMetaKey, meta}, {storeKey(store.GetId()), store}} {
		if err := putProto(&b, w.key, w.m); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	if region != nil {
		if err := putProto(&b, regionKey(region.GetId()), region); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	if err := l.kv.Commit(&b); err != nil {
		return nil, unavailable(err)
	}
	c, err := s.startCluster(l, meta)
	if err != nil {
		return nil, unavailable(err)
	}
	l.clusterMu.Lock()
	l.cluster = c
	l.clusterMu.Unlock()
	log.Infof("[server] cluster=%d bootstrapped: store=%d address=%s region=%d", s.clusterID, store.GetId(), store.GetAddress(), region.GetId())
	return g.header(), nil
}

// checkBootstrapRegion refuses a first region that is not one: it must have
// an id, cover the whole key space, and hold one peer on the store.
func checkBootstrapRegion(store *metapb.Store, region *metapb.Region) error {
	switch {
	case region.GetId() == 0:
		return errors.New("bootstrap: region id 0")
	case len(region.GetStartKey()) != 0 || len(region.GetEndKey()) != 0:
		return errors.Errorf("bootstrap: region %d must cover every key, it covers [%q, %q)", region.GetId(), region.GetStartKey(), region.GetEndKey())
	case len(region.GetPeers()) != 1 || region.GetPeers()[0].GetStoreId() != store.GetId() || region.GetPeers()[0].GetId() == 0:
		return errors.Errorf("bootstrap: region %d must have one peer on store %d, it has %v", region.GetId(), store.GetId(), region.GetPeers())
	}
	return nil
}

// startCluster loads the cluster's stores and regions and starts it.
func (s *Server) startCluster(l *leadership, meta *metapb.Cluster) (*RaftCluster, error) {
	c := newRaftCluster(l.ctx, s.clusterID, l.kv, l.ids, s.scheduleOption(meta), meta)
	if err := c.load(); err != nil {
		return nil, err
	}
	c.start()
	return c, nil
}
