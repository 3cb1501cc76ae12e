package server

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// BenchmarkRawPutGet measures the raw API over StandAloneStorage: each
// iteration puts a 100-byte value under a new key and reads it back. The
// ops/s metric counts the put and the get as one operation each. Puts are
// synced to disk, so the serial case measures the fsync latency; in the
// parallel case badger commits concurrent puts together.
func BenchmarkRawPutGet(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := newRawStore(b)
		value := bytes.Repeat([]byte("v"), 100)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := putThenGet(s.server, []byte(fmt.Sprintf("key%010d", i)), value); err != nil {
				b.Fatal(err)
			}
		}
		reportOpsPerSecond(b, 2*b.N)
	})
	b.Run("parallel", func(b *testing.B) {
		s := newRawStore(b)
		value := bytes.Repeat([]byte("v"), 100)
		var next atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := putThenGet(s.server, []byte(fmt.Sprintf("key%010d", next.Add(1))), value); err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
			}
		})
		reportOpsPerSecond(b, 2*b.N)
	})
}

func putThenGet(srv *Server, key, value []byte) error {
	put, err := srv.RawPut(nil, &kvrpcpb.RawPutRequest{Cf: engine_util.CfDefault, Key: key, Value: value})
	if err != nil || put.GetError() != "" {
		return fmt.Errorf("RawPut(%q): err=%v Error=%q", key, err, put.GetError())
	}
	get, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: engine_util.CfDefault, Key: key})
	if err != nil || get.GetError() != "" || !bytes.Equal(get.GetValue(), value) {
		return fmt.Errorf("RawGet(%q) after its put: err=%v Error=%q, value of %d bytes, want %d",
			key, err, get.GetError(), len(get.GetValue()), len(value))
	}
	return nil
}

func reportOpsPerSecond(b *testing.B, ops int) {
	if seconds := b.Elapsed().Seconds(); seconds > 0 {
		b.ReportMetric(float64(ops)/seconds, "ops/s")
	}
}
