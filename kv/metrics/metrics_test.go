package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"google.golang.org/grpc"
)

// value reads a counter.
func value(c prometheus.Counter) float64 {
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

var putInfo = &grpc.UnaryServerInfo{FullMethod: "/tinykvpb.TinyKv/RawPut"}

func TestInterceptorCountsOutcomesAndRegionErrors(t *testing.T) {
	ok := func(context.Context, any) (any, error) { return &kvrpcpb.RawPutResponse{}, nil }
	notLeader := func(context.Context, any) (any, error) {
		return &kvrpcpb.RawPutResponse{RegionError: &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1}}}, nil
	}
	okBefore := value(grpcRequests.WithLabelValues("RawPut", "ok"))
	reBefore := value(grpcRequests.WithLabelValues("RawPut", "region_error"))
	nlBefore := value(regionErrors.WithLabelValues("not_leader"))
	for _, h := range []grpc.UnaryHandler{ok, ok, notLeader} {
		if _, err := UnaryInterceptor(context.Background(), nil, putInfo, h); err != nil {
			t.Fatal(err)
		}
	}
	if got := value(grpcRequests.WithLabelValues("RawPut", "ok")) - okBefore; got != 2 {
		t.Errorf("RawPut ok moved by %v after two good answers, want 2", got)
	}
	if got := value(grpcRequests.WithLabelValues("RawPut", "region_error")) - reBefore; got != 1 {
		t.Errorf("RawPut region_error moved by %v after one NotLeader answer, want 1", got)
	}
	if got := value(regionErrors.WithLabelValues("not_leader")) - nlBefore; got != 1 {
		t.Errorf("region_errors_total{not_leader} moved by %v, want 1", got)
	}
}

// BenchmarkWriteHooks is what the metrics add to one put on its leader:
// the gRPC interceptor, the proposal, the Ready, two engine writes and
// the apply. Compare with the put itself (make bench-raftstore: a put
// takes milliseconds).
func BenchmarkWriteHooks(b *testing.B) {
	db := new(badger.DB) // only its address is used: the engine kind's key
	EngineOpened(db, true)
	defer EngineClosed(db)
	resp := &kvrpcpb.RawPutResponse{}
	handler := func(context.Context, any) (any, error) { return resp, nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		UnaryInterceptor(context.Background(), nil, putInfo, handler)
		Proposed(nil)
		ReadyHandled(time.Since(start))
		EngineWritten(db, time.Since(start))
		EngineWritten(nil, time.Since(start))
		Applied(1, time.Since(start))
		ProposalPending()
		ProposalAnswered(time.Since(start), true)
	}
}
