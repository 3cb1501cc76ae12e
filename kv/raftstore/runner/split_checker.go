package runner

import (
	"bytes"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/util/codec"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// SplitCheckTask asks whether Region has grown past the maximum size.
type SplitCheckTask struct {
	Region *metapb.Region
}

// splitCheckHandler runs the split-check worker: it measures a region and
// tells its peer either where to split it or how big it is.
type splitCheckHandler struct {
	engine  *badger.DB
	router  message.RaftRouter
	config  *config.Config
	checker *sizeSplitChecker
}

// NewSplitCheckHandler makes the handler of the split-check worker, with
// the region sizes of conf.
func NewSplitCheckHandler(engine *badger.DB, router message.RaftRouter, conf *config.Config) *splitCheckHandler {
	return &splitCheckHandler{
		engine:  engine,
		router:  router,
		config:  conf,
		checker: newSizeSplitChecker(conf.RegionMaxSize, conf.RegionSplitSize),
	}
}

// Handle walks the region's default column family and sends the peer a
// split request once the region exceeds the maximum size, or its
// approximate size when the walk reaches the region's end first.
func (r *splitCheckHandler) Handle(t worker.Task) {
	task, ok := t.(*SplitCheckTask)
	if !ok {
		log.Errorf("[split] split-check worker got a task of unexpected type %T", t)
		return
	}
	region := task.Region
	r.checker.reset(region)
	err := r.engine.View(func(txn *badger.Txn) error {
		it := engine_util.NewCFIterator(engine_util.CfDefault, txn)
		defer it.Close()
		for it.Seek(region.GetStartKey()); it.Valid(); it.Next() {
			item := it.Item()
			if engine_util.ExceedEndKey(item.Key(), region.GetEndKey()) || r.checker.onKv(item.Key(), item) {
				break
			}
		}
		return nil
	})
	if err != nil {
		log.Errorf("[split] region=%d split check failed: %v", region.GetId(), err)
		return
	}
	r.report(region)
}

// report sends the outcome of a finished walk to the region's peer.
func (r *splitCheckHandler) report(region *metapb.Region) {
	regionID := region.GetId()
	msg := message.Msg{Type: message.MsgTypeRegionApproximateSize, RegionID: regionID, Data: r.checker.currentSize}
	if key := r.checker.getSplitKey(); key != nil {
		log.Infof("[split] region=%d over %d bytes, asking to split at %x", regionID, r.checker.maxSize, key)
		msg = message.Msg{
			Type:     message.MsgTypeSplitRegion,
			RegionID: regionID,
			Data:     &message.MsgSplitRegion{RegionEpoch: region.GetRegionEpoch(), SplitKey: key},
		}
	}
	if err := r.router.Send(regionID, msg); err != nil {
		log.Warnf("[split] region=%d cannot deliver the split check result: %v", regionID, err)
	}
}

// sizeSplitChecker adds up key and value sizes in key order.
type sizeSplitChecker struct {
	maxSize   uint64
	splitSize uint64

	startKey    []byte
	currentSize uint64
	splitKey    []byte
}

func newSizeSplitChecker(maxSize uint64, splitSize uint64) *sizeSplitChecker {
	return &sizeSplitChecker{maxSize: maxSize, splitSize: splitSize}
}

// reset prepares the checker for a walk of region.
func (c *sizeSplitChecker) reset(region *metapb.Region) {
	c.startKey = region.GetStartKey()
	c.currentSize = 0
	c.splitKey = nil
}

// onKv counts one pair and tells whether the walk can stop (the region is
// over the maximum size). The first key past the split size becomes the
// split key.
func (c *sizeSplitChecker) onKv(key []byte, item engine_util.DBItem) bool {
	c.currentSize += uint64(len(key)) + uint64(item.ValueSize())
	if c.splitKey == nil && c.currentSize > c.splitSize {
		c.splitKey = userKeyBoundary(key, c.startKey)
	}
	return c.currentSize > c.maxSize
}

// getSplitKey is the split key once the region is over the maximum size,
// nil otherwise.
func (c *sizeSplitChecker) getSplitKey() []byte {
	if c.currentSize <= c.maxSize {
		return nil
	}
	return c.splitKey
}

// userKeyBoundary cuts a transactional key (memcomparable user key
// followed by a timestamp) to its user key, so that all versions of a key
// stay in one region. The result is nil when it would not lie strictly
// after the region's start: the next key gets a chance instead.
func userKeyBoundary(key, startKey []byte) []byte {
	boundary := append([]byte(nil), key...)
	if _, userKey, err := codec.DecodeBytes(key); err == nil {
		boundary = codec.EncodeBytes(userKey)
	}
	if bytes.Compare(boundary, startKey) <= 0 {
		return nil
	}
	return boundary
}
