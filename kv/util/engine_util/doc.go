// Package engine_util is the thin layer between TinyKV and badger.
//
// A store keeps two badger instances (see Engines): kvdb for user data and
// the apply/region state of every region, and raftdb for the raft log and
// each region's RaftLocalState. Badger has no column families, so this
// package emulates them: a key of column family cf is stored as
// cf + "_" + key (CFs lists the three families: default, lock and write).
// Meta keys (raft states, region states) are stored unprefixed; they all
// start with 0x01 and so sort before any column-family key.
//
// Writes that must be atomic go through a WriteBatch; reads go through a
// badger transaction (GetCFFromTxn, NewCFIterator) or the helpers GetCF and
// GetMeta.
package engine_util
