package server

import (
	"context"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/id"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/tso"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// campaignLoop campaigns for leadership, leads while the lease lasts, and
// campaigns again, until the server stops.
func (s *Server) campaignLoop() {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		if err := s.campaignOnce(); err != nil && s.ctx.Err() == nil {
			log.Warnf("[leader] name=%s campaign failed, trying again: %v", s.cfg.Name, err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-s.ctx.Done():
			}
		}
	}
}

// campaignOnce waits to be elected, then leads until the lease is lost,
// leading fails, or the server stops.
func (s *Server) campaignOnce() error {
	session, err := concurrency.NewSession(s.client, concurrency.WithTTL(int(s.cfg.LeaderLease)), concurrency.WithContext(s.ctx))
	if err != nil {
		return errors.Annotate(err, "leader lease")
	}
	defer session.Close()
	election := concurrency.NewElection(session, leaderPath)
	if err := election.Campaign(s.ctx, s.memberValue); err != nil {
		return errors.Annotate(err, "campaign")
	}
	start := time.Now()
	l, err := s.lead(election)
	if err != nil {
		s.resign(election)
		return errors.Annotate(err, "take over as leader")
	}
	s.mu.Lock()
	s.leader = l
	s.mu.Unlock()
	log.Infof("[leader] name=%s cluster=%d became leader in %v", s.cfg.Name, s.clusterID, time.Since(start).Round(time.Millisecond))

	select {
	case <-session.Done():
		log.Warnf("[leader] name=%s lost the leader lease", s.cfg.Name)
	case <-l.ctx.Done():
		log.Warnf("[leader] name=%s cannot go on leading", s.cfg.Name)
	case <-s.ctx.Done():
	}
	s.mu.Lock()
	s.leader = nil
	s.mu.Unlock()
	l.stop()
	s.resign(election)
	log.Infof("[leader] name=%s stepped down", s.cfg.Name)
	return nil
}

func (s *Server) resign(election *concurrency.Election) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := election.Resign(ctx); err != nil {
		log.Debugf("[leader] name=%s resign: %v", s.cfg.Name, err)
	}
}

// lead builds what the leader needs: the guarded store, the id allocator and
// the timestamp oracle (both started above what any earlier leader
// answered), and the cluster when it is bootstrapped.
func (s *Server) lead(election *concurrency.Election) (*leadership, error) {
	guard := clientv3.Compare(clientv3.CreateRevision(election.Key()), "=", election.Rev())
	store := kv.NewEtcd(s.client, s.clusterRoot(), guard)
	ids, err := id.NewAllocator(store, id.DefaultStep)
	if err != nil {
		return nil, err
	}
	oracle, err := tso.NewOracle(store, s.cfg.TSOSaveInterval.Duration)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	l := &leadership{ctx: ctx, cancel: cancel, election: election, kv: store, ids: ids, tso: oracle}
	meta, err := loadClusterMeta(store)
	if err != nil {
		cancel()
		return nil, err
	}
	if meta != nil {
		c, err := s.startCluster(l, meta)
		if err != nil {
			cancel()
			return nil, err
		}
		l.cluster = c
	}
	l.done = make(chan struct{})
	go l.updateTSO(s.cfg.Name)
	return l, nil
}

// updateTSO moves the oracle's clock on until leadership ends; a failure to
// save the bound (lost leadership, etcd down) ends it.
func (l *leadership) updateTSO(name string) {
	defer close(l.done)
	t := time.NewTicker(tso.UpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := l.tso.Update(); err != nil {
				log.Errorf("[leader] name=%s timestamp oracle: %v", name, err)
				l.cancel()
				return
			}
		case <-l.ctx.Done():
			return
		}
	}
}

// stop ends the leadership: the cluster stops scheduling.
func (l *leadership) stop() {
	l.cancel()
	<-l.done
	if c := l.getCluster(); c != nil {
		c.stop()
	}
}

// leaderMember reads the current leader from the election key (nil when no
// member leads).
func (s *Server) leaderMember(ctx context.Context) (*schedulerpb.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, kv.RequestTimeout)
	defer cancel()
	resp, err := s.client.Get(ctx, leaderPath+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return nil, errors.Annotate(err, "read leader")
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	m := &schedulerpb.Member{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, m); err != nil {
		return nil, errors.Annotatef(err, "leader key %s", resp.Kvs[0].Key)
	}
	return m, nil
}
