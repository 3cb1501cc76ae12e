package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
)

// Keys of the cluster's metadata, relative to /tinykv/<cluster id>.
const (
	clusterMetaKey = "raft"
	storePrefix    = "raft/s/"
	regionPrefix   = "raft/r/"
	loadPageSize   = 1000
)

func storeKey(id uint64) string  { return fmt.Sprintf("%s%020d", storePrefix, id) }
func regionKey(id uint64) string { return fmt.Sprintf("%s%020d", regionPrefix, id) }

// loadClusterMeta reads the cluster's metapb.Cluster: nil when the cluster
// is not bootstrapped.
func loadClusterMeta(store *kv.Etcd) (*metapb.Cluster, error) {
	v, ok, err := store.Load(clusterMetaKey)
	if err != nil || !ok {
		return nil, err
	}
	meta := &metapb.Cluster{}
	if err := proto.Unmarshal(v, meta); err != nil {
		return nil, errors.Annotatef(err, "cluster meta %s", clusterMetaKey)
	}
	return meta, nil
}

// loadStores calls fn for every persisted store.
func loadStores(store *kv.Etcd, fn func(*metapb.Store)) error {
	return store.LoadPrefix(storePrefix, loadPageSize, func(key string, value []byte) error {
		s := &metapb.Store{}
		if err := proto.Unmarshal(value, s); err != nil {
			return errors.Annotatef(err, "store key %s", key)
		}
		fn(s)
		return nil
	})
}

// loadRegions calls fn for every persisted region.
func loadRegions(store *kv.Etcd, fn func(*metapb.Region)) error {
	return store.LoadPrefix(regionPrefix, loadPageSize, func(key string, value []byte) error {
		r := &metapb.Region{}
		if err := proto.Unmarshal(value, r); err != nil {
			return errors.Annotatef(err, "region key %s", key)
		}
		fn(r)
		return nil
	})
}

func putProto(b *kv.Batch, key string, m proto.Message) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return errors.Annotatef(err, "encode %s", key)
	}
	b.Put(key, data)
	return nil
}

// regionSaver writes region metadata to etcd in the background, in
// batches: heartbeats change regions far more often than etcd should be
// written one key at a time. Only the latest version of each region is
// written; after a crash the regions lost from the last batch come back
// with their next heartbeat.
type regionSaver struct {
	kv       *kv.Etcd
	interval time.Duration

	mu      sync.Mutex
	pending map[uint64]*metapb.Region // nil: delete
	kick    chan struct{}
	stopc   chan struct{}
	done    chan struct{}
}

const (
	regionSaveInterval = 100 * time.Millisecond
	regionSaveBatch    = 1024
)

func newRegionSaver(store *kv.Etcd) *regionSaver {
	s := &regionSaver{
		kv:       store,
		interval: regionSaveInterval,
		pending:  map[uint64]*metapb.Region{},
		kick:     make(chan struct{}, 1),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.run()
	return s
}

// save queues a region for writing (the caller must not change it after).
func (s *regionSaver) save(region *metapb.Region) { s.queue(region.GetId(), region) }

// remove queues the delete of a region.
func (s *regionSaver) remove(regionID uint64) { s.queue(regionID, nil) }

func (s *regionSaver) queue(id uint64, region *metapb.Region) {
	s.mu.Lock()
	s.pending[id] = region
	n := len(s.pending)
	s.mu.Unlock()
	if n >= regionSaveBatch {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

func (s *regionSaver) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.kick:
		case <-s.stopc:
			s.flush()
			return
		}
		s.flush()
	}
}

// flush writes what is pending. A failed write is put back (unless a newer
// version was queued meanwhile) and tried again at the next flush.
func (s *regionSaver) flush() {
	s.mu.Lock()
	batch := s.pending
	if len(batch) == 0 {
		s.mu.Unlock()
		return
	}
	s.pending = map[uint64]*metapb.Region{}
	s.mu.Unlock()

	var b kv.Batch
	for id, r := range batch {
		if r == nil {
			b.Delete(regionKey(id))
			continue
		}
		if err := putProto(&b, regionKey(id), r); err != nil {
			log.Errorf("[cluster] region=%d cannot persist: %v", id, err)
		}
	}
	if err := s.kv.Commit(&b); err != nil {
		if errors.Cause(err) == kv.ErrNotLeader {
			log.Warnf("[cluster] not leader any more: %d region updates not persisted", len(batch))
			return
		}
		log.Warnf("[cluster] persist %d regions, trying again: %v", len(batch), err)
		s.mu.Lock()
		for id, r := range batch {
			if _, newer := s.pending[id]; !newer {
				s.pending[id] = r
			}
		}
		s.mu.Unlock()
	}
}

// stop writes what is pending and stops.
func (s *regionSaver) stop() {
	close(s.stopc)
	<-s.done
}
