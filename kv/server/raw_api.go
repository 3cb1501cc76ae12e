package server

import (
	"context"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// The functions below are Server's Raw API. (implements TinyKvServer).
// Some helper methods can be found in server.go: checkKey, checkValue and
// checkCF validate a request, splitError sorts a storage error into the
// response's RegionError and Error fields. A bad request gets an Error and
// changes nothing; the gRPC error is reserved for the transport.

// RawGet reads the value of req.Key in column family req.Cf. A missing key
// answers NotFound, with no error; a bad request (unknown column family,
// empty or oversized key) answers its Error and reads nothing.
func (server *Server) RawGet(_ context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	// Your Code Here (1).
	//lab:begin 1
	resp := &kvrpcpb.RawGetResponse{}
	if err := firstError(checkCF(req.Cf), checkKey(req.Key)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	reader, err := server.storage.Reader(req.Context)
	if err != nil {
		resp.RegionError, resp.Error = splitError(err)
		return resp, nil
	}
	defer reader.Close()
	value, err := reader.GetCF(req.Cf, req.Key)
	if err != nil {
		resp.RegionError, resp.Error = splitError(err)
		return resp, nil
	}
	resp.Value = value
	resp.NotFound = value == nil
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// RawPut writes req.Value at req.Key in column family req.Cf, replacing any
// value there. A bad request answers its Error and writes nothing.
func (server *Server) RawPut(_ context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	// Your Code Here (1).
	// Hint: Consider using Storage.Modify to store data to be modified
	//lab:begin 1
	resp := &kvrpcpb.RawPutResponse{}
	if err := firstError(checkCF(req.Cf), checkKey(req.Key), checkValue(req.Value)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	put := storage.Modify{Data: storage.Put{Key: req.Key, Value: req.Value, Cf: req.Cf}}
	if err := server.storage.Write(req.Context, []storage.Modify{put}); err != nil {
		resp.RegionError, resp.Error = splitError(err)
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// RawDelete removes req.Key from column family req.Cf, and from no other.
// Deleting a missing key succeeds.
func (server *Server) RawDelete(_ context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	// Your Code Here (1).
	// Hint: Consider using Storage.Modify to store data to be deleted
	//lab:begin 1
	resp := &kvrpcpb.RawDeleteResponse{}
	if err := firstError(checkCF(req.Cf), checkKey(req.Key)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	del := storage.Modify{Data: storage.Delete{Key: req.Key, Cf: req.Cf}}
	if err := server.storage.Write(req.Context, []storage.Modify{del}); err != nil {
		resp.RegionError, resp.Error = splitError(err)
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// RawScan returns up to req.Limit pairs of column family req.Cf in key
// order, from req.StartKey on (an empty start key starts at the
// beginning). The limit must be in [1, MaxScanLimit].
func (server *Server) RawScan(_ context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	// Your Code Here (1).
	// Hint: Consider using reader.IterCF
	//lab:begin 1
	resp := &kvrpcpb.RawScanResponse{}
	if err := firstError(checkCF(req.Cf), checkScanLimit(req.Limit), checkStartKey(req.StartKey)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	reader, err := server.storage.Reader(req.Context)
	if err != nil {
		resp.RegionError, resp.Error = splitError(err)
		return resp, nil
	}
	defer reader.Close()
	iter := reader.IterCF(req.Cf)
	defer iter.Close()
	for iter.Seek(req.StartKey); iter.Valid() && len(resp.Kvs) < int(req.Limit); iter.Next() {
		item := iter.Item()
		value, err := item.ValueCopy(nil)
		if err != nil {
			resp.RegionError, resp.Error = splitError(err)
			resp.Kvs = nil
			return resp, nil
		}
		resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: item.KeyCopy(nil), Value: value})
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}
