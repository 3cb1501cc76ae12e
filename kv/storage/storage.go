// Package storage defines what the server needs of a storage engine: batch
// writes and consistent reads over column families. Project 1 implements it
// on one badger instance (standalone_storage), project 2 on a raft group of
// stores (raft_storage); tests use MemStorage.
package storage

import (
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Storage is a key/value store with column families.
type Storage interface {
	// Start opens the storage; it must be called before anything else.
	Start() error
	// Stop closes the storage; writes acknowledged before it are durable.
	Stop() error
	// Write applies every modification of batch atomically. ctx says which
	// region the request is for; standalone storage ignores it (it may be nil).
	Write(ctx *kvrpcpb.Context, batch []Modify) error
	// Reader returns a consistent snapshot for reading; Close it when done.
	Reader(ctx *kvrpcpb.Context) (StorageReader, error)
}

// StorageReader reads one consistent snapshot of a Storage.
type StorageReader interface {
	// GetCF returns the value of key in column family cf, or nil (and no
	// error) when the key does not exist.
	GetCF(cf string, key []byte) ([]byte, error)
	// IterCF iterates column family cf in key order; Close the iterator
	// before the reader.
	IterCF(cf string) engine_util.DBIterator
	// Close releases the snapshot.
	Close()
}
