// Package server is the gRPC face of a store: the TinyKv service.
//
// The raw API (project 1) lives in raw_api.go, the transactional API
// (project 4) in txn_api.go; the Raft and Snapshot streams, which carry
// messages between stores, come with the raft store (project 2).
package server

import (
	"fmt"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/latches"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
)

// Server is the TinyKv service over a Storage. RPCs of stages that are not
// built answer codes.Unimplemented.
type Server struct {
	tinykvpb.UnimplementedTinyKvServer
	storage storage.Storage
	// Latches serialise the transactional requests that write the same keys.
	Latches *latches.Latches
}

var _ tinykvpb.TinyKvServer = new(Server)

// NewServer serves the TinyKv API over storage, which must be started.
func NewServer(storage storage.Storage) *Server {
	return &Server{storage: storage, Latches: latches.NewLatches()}
}

// Limits of what a request may carry. Larger keys and values would make
// single raft entries and write batches unreasonably large.
const (
	MaxKeySize   = 8 * 1024
	MaxValueSize = 1024 * 1024
	MaxScanLimit = 10 * 1024
)

// checkKey rejects empty and oversized keys.
func checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("empty key")
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("key of %d bytes is larger than the limit of %d bytes", len(key), MaxKeySize)
	}
	return nil
}

// checkValue rejects oversized values.
func checkValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("value of %d bytes is larger than the limit of %d bytes", len(value), MaxValueSize)
	}
	return nil
}

// checkCF rejects unknown column families.
func checkCF(cf string) error {
	for _, known := range engine_util.CFs {
		if cf == known {
			return nil
		}
	}
	return fmt.Errorf("unknown column family %q (want one of %v)", cf, engine_util.CFs)
}

// regionError is implemented by storage errors that the client can fix by
// asking another store or refreshing its view of the regions (raft storage).
type regionError interface {
	RegionError() *errorpb.Error
}

// splitError sorts a storage error into the response fields: a region
// error for the client to retry elsewhere, or a message.
func splitError(err error) (*errorpb.Error, string) {
	if re, ok := err.(regionError); ok {
		return re.RegionError(), ""
	}
	return nil, err.Error()
}

// checkScanLimit rejects a limit of 0 (a scan that could return nothing is
// a client bug) and limits above MaxScanLimit.
func checkScanLimit(limit uint32) error {
	if limit == 0 || limit > MaxScanLimit {
		return fmt.Errorf("scan limit %d is outside [1, %d]", limit, MaxScanLimit)
	}
	return nil
}

// checkStartKey accepts an empty start key (the beginning of the key space).
func checkStartKey(key []byte) error {
	if len(key) == 0 {
		return nil
	}
	return checkKey(key)
}

// firstError returns the first non-nil error, so one request can be checked
// in one line.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
