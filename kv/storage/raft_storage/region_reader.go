package raft_storage

import (
	"bytes"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// RegionReader reads one region through a read transaction that the raft
// store took at a point of the log (a Snap command): reads are limited to
// the region's keys.
type RegionReader struct {
	txn    *badger.Txn
	region *metapb.Region
}

// NewRegionReader reads region through txn; Close discards txn.
func NewRegionReader(txn *badger.Txn, region metapb.Region) *RegionReader {
	return &RegionReader{
		txn:    txn,
		region: &region,
	}
}

// GetCF reads a key of the region; a missing key is nil with no error.
func (r *RegionReader) GetCF(cf string, key []byte) ([]byte, error) {
	if err := util.CheckKeyInRegion(key, r.region); err != nil {
		return nil, err
	}
	val, err := engine_util.GetCFFromTxn(r.txn, cf, key)
	if err == badger.ErrKeyNotFound {
		return nil, nil
	}
	return val, err
}

// IterCF iterates the region's keys of cf.
func (r *RegionReader) IterCF(cf string) engine_util.DBIterator {
	return NewRegionIterator(engine_util.NewCFIterator(cf, r.txn), r.region)
}

// Close discards the read transaction.
func (r *RegionReader) Close() {
	r.txn.Discard()
}

// RegionIterator wraps a column-family iterator and stops at the region's end.
type RegionIterator struct {
	iter   *engine_util.BadgerIterator
	region *metapb.Region
}

// NewRegionIterator limits iter to region.
func NewRegionIterator(iter *engine_util.BadgerIterator, region *metapb.Region) *RegionIterator {
	return &RegionIterator{
		iter:   iter,
		region: region,
	}
}

func (it *RegionIterator) Item() engine_util.DBItem {
	return it.iter.Item()
}

func (it *RegionIterator) Valid() bool {
	if !it.iter.Valid() || engine_util.ExceedEndKey(it.iter.Item().Key(), it.region.EndKey) {
		return false
	}
	return true
}

func (it *RegionIterator) ValidForPrefix(prefix []byte) bool {
	if !it.iter.ValidForPrefix(prefix) || engine_util.ExceedEndKey(it.iter.Item().Key(), it.region.EndKey) {
		return false
	}
	return true
}

func (it *RegionIterator) Close() {
	it.iter.Close()
}

func (it *RegionIterator) Next() {
	it.iter.Next()
}

// Seek moves to the first key at or after key, never before the region's
// first key.
func (it *RegionIterator) Seek(key []byte) {
	if bytes.Compare(key, it.region.StartKey) < 0 {
		key = it.region.StartKey
	}
	it.iter.Seek(key)
}
