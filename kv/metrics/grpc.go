package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"google.golang.org/grpc"
)

// methodMetrics are one method's series, resolved once.
type methodMetrics struct {
	ok, regionErr, failed prometheus.Counter
	duration              prometheus.Observer
}

var methods sync.Map // full method name -> *methodMetrics

func methodOf(full string) *methodMetrics {
	if m, ok := methods.Load(full); ok {
		return m.(*methodMetrics)
	}
	name := full[strings.LastIndexByte(full, '/')+1:]
	m := &methodMetrics{
		ok:        grpcRequests.WithLabelValues(name, "ok"),
		regionErr: grpcRequests.WithLabelValues(name, "region_error"),
		failed:    grpcRequests.WithLabelValues(name, "error"),
		duration:  grpcDuration.WithLabelValues(name),
	}
	actual, _ := methods.LoadOrStore(full, m)
	return actual.(*methodMetrics)
}

// regionErrorer is every response that may carry a region error.
type regionErrorer interface {
	GetRegionError() *errorpb.Error
}

// RegionErrorKind names a region error for region_errors_total.
func RegionErrorKind(e *errorpb.Error) string {
	switch {
	case e.GetNotLeader() != nil:
		return "not_leader"
	case e.GetEpochNotMatch() != nil:
		return "epoch_not_match"
	case e.GetRegionNotFound() != nil:
		return "region_not_found"
	case e.GetKeyNotInRegion() != nil:
		return "key_not_in_region"
	case e.GetStaleCommand() != nil:
		return "stale_command"
	case e.GetStoreNotMatch() != nil:
		return "store_not_match"
	}
	return "other"
}

// UnaryInterceptor counts and times every unary request, by method and
// outcome, and counts the region errors answered by kind.
func UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m := methodOf(info.FullMethod)
	m.duration.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
		m.failed.Inc()
	default:
		if re, ok := resp.(regionErrorer); ok && re.GetRegionError() != nil {
			m.regionErr.Inc()
			regionErrors.WithLabelValues(RegionErrorKind(re.GetRegionError())).Inc()
			return resp, err
		}
		m.ok.Inc()
	}
	return resp, err
}

// StreamInterceptor counts and times every stream (raft messages,
// snapshots) by method and outcome.
func StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m := methodOf(info.FullMethod)
	m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		m.failed.Inc()
	} else {
		m.ok.Inc()
	}
	return err
}
