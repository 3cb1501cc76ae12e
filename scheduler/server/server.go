// Package server is tinyscheduler-server: the Scheduler gRPC service on top
// of an embedded etcd member.
//
// Every member runs etcd and serves the Scheduler service on etcd's own
// client port. The members elect one leader through an etcd election (a key
// under a lease); only the leader answers timestamps, ids and cluster
// requests, the others answer gRPC Unavailable "not leader" and name the
// leader in GetMembers. What the scheduler must not forget (the cluster id,
// the id and timestamp high-water marks, the cluster's stores and regions)
// lives in etcd under /tinykv/<cluster id>/.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"github.com/tinykv-lab/tinykv/scheduler/server/id"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/tso"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
)

const (
	// rootPath is the prefix of every key the scheduler writes.
	rootPath = "/tinykv"
	// clusterIDPath holds the cluster id, written once by the first member up.
	clusterIDPath = rootPath + "/cluster_id"
	// leaderPath is the prefix of the leader election.
	leaderPath = rootPath + "/leader"
	// etcdStartTimeout bounds the wait for the etcd member to join its
	// cluster (the other first members must come up within it).
	etcdStartTimeout = 60 * time.Second
)

// Server is one scheduler member.
type Server struct {
	cfg       *config.Config
	etcd      *embed.Etcd
	client    *clientv3.Client
	clusterID uint64
	// member is this member as GetMembers names it; memberValue is its
	// encoding, the value of the election key while it leads.
	member      *schedulerpb.Member
	memberValue string

	// ready is set once the fields above are: handlers answer Unavailable
	// before.
	ready atomic.Bool
	// closing is set when Close starts.
	closing atomic.Bool

	mu     sync.RWMutex
	leader *leadership // nil unless this member leads

	httpHandlers map[string]http.Handler // on the client URL (SetHTTPHandlers)

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closed   sync.Once
	etcdDone sync.Once
}

// leadership is what a member has while it leads.
type leadership struct {
	ctx      context.Context
	cancel   context.CancelFunc
	election *concurrency.Election
	kv       *kv.Etcd // writes guarded by the election key
	ids      *id.Allocator
	tso      *tso.Oracle
	done     chan struct{} // closed when the timestamp updater ends

	// gcMu serialises updates of the GC safe point.
	gcMu sync.Mutex
	// bootstrapMu serialises Bootstrap; cluster is nil until bootstrapped.
	bootstrapMu sync.Mutex
	clusterMu   sync.RWMutex
	cluster     *RaftCluster
}

func (l *leadership) getCluster() *RaftCluster {
	l.clusterMu.RLock()
	defer l.clusterMu.RUnlock()
	return l.cluster
}

// CreateServer checks the configuration and makes a server; Run starts it.
func CreateServer(cfg *config.Config) (*Server, error) {
	cfg.Adjust()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// etcdConfig is the embedded etcd member of the configuration, serving the
// Scheduler service on its client gRPC server.
func (s *Server) etcdConfig() (*embed.Config, error) {
	c := s.cfg
	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = c.DataDir
	ec.InitialCluster = c.InitialCluster
	ec.ClusterState = c.InitialClusterState
	ec.InitialClusterToken = "tinykv-scheduler"
	var err error
	if ec.ListenClientUrls, err = config.ParseURLs(c.ClientUrls); err != nil {
		return nil, errors.Annotate(err, "client-urls")
	}
	if ec.ListenPeerUrls, err = config.ParseURLs(c.PeerUrls); err != nil {
		return nil, errors.Annotate(err, "peer-urls")
	}
	if ec.AdvertiseClientUrls, err = config.ParseURLs(c.AdvertiseClientUrls); err != nil {
		return nil, errors.Annotate(err, "advertise-client-urls")
	}
	if ec.AdvertisePeerUrls, err = config.ParseURLs(c.AdvertisePeerUrls); err != nil {
		return nil, errors.Annotate(err, "advertise-peer-urls")
	}
	// etcd logs through zap: its lines go to the log package as [etcd]
	// lines; at info it is chatty, so only its warnings show unless the
	// scheduler logs at debug.
	level := zapcore.WarnLevel
	if c.Log.Level == "debug" {
		level = zapcore.InfoLevel
	}
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newEtcdLogger(level, &s.closing))
	// Keep the revision history small: the scheduler rewrites its keys often.
	ec.AutoCompactionMode = "revision"
	ec.AutoCompactionRetention = "10000"
	ec.UserHandlers = s.httpHandlers
	ec.ServiceRegister = func(gs *grpc.Server) {
		schedulerpb.RegisterSchedulerServer(gs, &grpcServer{s})
	}
	return ec, nil
}

// Run starts the etcd member, waits for it to be part of its cluster,
// settles the cluster id, and starts campaigning for leadership. It returns
// once the member serves; the error says what stopped it otherwise.
func (s *Server) Run() error {
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return errors.Annotatef(err, "data-dir %s", s.cfg.DataDir)
	}
	probe, err := os.CreateTemp(s.cfg.DataDir, ".probe-")
	if err != nil {
		return errors.Annotatef(err, "data-dir %s is not writable", s.cfg.DataDir)
	}
	probe.Close()
	os.Remove(probe.Name())

	ec, err := s.etcdConfig()
	if err != nil {
		return err
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return errors.Annotatef(err, "start etcd member %s (client %s, peer %s, data %s)",
			s.cfg.Name, s.cfg.ClientUrls, s.cfg.PeerUrls, s.cfg.DataDir)
	}
	s.etcd = e
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.closeEtcd()
		return errors.Annotatef(err, "etcd member %s", s.cfg.Name)
	case <-time.After(etcdStartTimeout):
		s.closeEtcd()
		return errors.Errorf("etcd member %s: not part of a cluster after %v (initial-cluster %s: are the other members up?)",
			s.cfg.Name, etcdStartTimeout, s.cfg.InitialCluster)
	}
	s.client = v3client.New(e.Server)

	if s.clusterID, err = s.initClusterID(); err != nil {
		s.Close()
		return err
	}
	self := e.Server.Cluster().Member(e.Server.MemberID())
	s.member = &schedulerpb.Member{
		Name:       s.cfg.Name,
		MemberId:   uint64(e.Server.MemberID()),
		PeerUrls:   self.PeerURLs,
		ClientUrls: self.ClientURLs,
	}
	data, err := proto.Marshal(s.member)
	if err != nil {
		s.Close()
		return errors.Annotate(err, "encode member")
	}
	s.memberValue = string(data)
	s.ready.Store(true)
	log.Infof("[server] name=%s cluster=%d member=%x client-urls=%s peer-urls=%s data-dir=%s serving",
		s.cfg.Name, s.clusterID, s.member.MemberId, s.cfg.AdvertiseClientUrls, s.cfg.AdvertisePeerUrls, s.cfg.DataDir)

	s.wg.Add(2)
	go s.campaignLoop()
	go s.watchEtcd()
	return nil
}

// watchEtcd stops the server when its etcd member fails.
func (s *Server) watchEtcd() {
	defer s.wg.Done()
	select {
	case err := <-s.etcd.Err():
		log.Errorf("[server] name=%s etcd failed: %v", s.cfg.Name, err)
		s.cancel()
	case <-s.etcd.Server.StopNotify():
		s.cancel()
	case <-s.ctx.Done():
	}
}

// Done is closed once the server stops (Close, or its etcd member failed).
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

// initClusterID reads the cluster id, or writes a new one if no member has.
func (s *Server) initClusterID() (uint64, error) {
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return 0, errors.Annotate(err, "cluster id")
	}
	// Time in the high bits, so ids of clusters made one after another
	// differ at a glance; random low bits, so two made at once differ too.
	fresh := uint64(time.Now().Unix())<<32 | uint64(binary.BigEndian.Uint32(buf[:4]))
	ctx, cancel := context.WithTimeout(s.ctx, kv.RequestTimeout)
	defer cancel()
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(clusterIDPath), "=", 0)).
		Then(clientv3.OpPut(clusterIDPath, strconv.FormatUint(fresh, 10))).
		Else(clientv3.OpGet(clusterIDPath)).
		Commit()
	if err != nil {
		return 0, errors.Annotate(err, "cluster id: etcd txn")
	}
	if resp.Succeeded {
		log.Infof("[server] cluster=%d created the cluster id", fresh)
		return fresh, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) != 1 {
		return 0, errors.Errorf("cluster id: %s vanished", clusterIDPath)
	}
	cid, err := strconv.ParseUint(string(kvs[0].Value), 10, 64)
	if err != nil || cid == 0 {
		return 0, errors.Errorf("cluster id: %s holds %q, not a cluster id", clusterIDPath, kvs[0].Value)
	}
	return cid, nil
}

// ClusterID is the id of the cluster this member serves.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Name is the member's name.
func (s *Server) Name() string { return s.cfg.Name }

// Config is the member's configuration.
func (s *Server) Config() *config.Config { return s.cfg }

// clusterRoot is the prefix of the cluster's keys.
func (s *Server) clusterRoot() string { return fmt.Sprintf("%s/%d", rootPath, s.clusterID) }

// IsLeader reports whether this member serves the cluster now.
func (s *Server) IsLeader() bool { return s.getLeadership() != nil }

func (s *Server) getLeadership() *leadership {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.leader
}

// Close stops the member: it gives up leadership (so another member takes
// over at once, not after the lease), stops the cluster, and stops etcd.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.closing.Store(true)
		s.cancel()
		s.waitGoroutines()
		s.closeEtcd()
		log.Infof("[server] name=%s stopped", s.cfg.Name)
	})
}

// closeWait is how long Close lets the server's goroutines finish their
// etcd requests; a leader steps down within it (it resigns in a second).
const closeWait = 2 * time.Second

// waitGoroutines waits for the server's goroutines to end. A member without
// quorum cannot finish the resignation that etcd's election does when its
// campaign is cancelled (it uses the client's own context, and the request
// waits for etcd's request timeout, several seconds): after closeWait the
// client is closed, which cancels that request too.
func (s *Server) waitGoroutines() {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(closeWait):
	}
	if s.client != nil {
		_ = s.client.Close()
	}
	<-done
}

// scheduleOption is the settings in force for a cluster: the config file's,
// with max-replicas from the cluster's meta when it sets one.
func (s *Server) scheduleOption(meta *metapb.Cluster) *config.ScheduleOption {
	opt := config.NewScheduleOption(s.cfg.Schedule, s.cfg.Replication)
	if n := meta.GetMaxPeerCount(); n > 0 {
		opt.SetMaxReplicas(int(n))
	}
	return opt
}

// closeEtcd stops the etcd member (once: etcd's Close must not run twice).
func (s *Server) closeEtcd() {
	s.etcdDone.Do(func() {
		if s.etcd != nil {
			s.etcd.Close()
		}
	})
}
