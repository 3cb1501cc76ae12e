// Package metrics defines the Prometheus metrics of tinykv-server and the
// small hooks the store calls to move them. Everything is registered on
// the default registry; Serve answers /metrics on the status address.
//
// The hooks are cheap on the hot path: counters and histograms without
// labels, or with labels resolved once, so that counting is an atomic
// add; gauges that would need locks to keep (badger sizes) are read when
// scraped.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

const namespace = "tinykv"

// durationBuckets spans 50µs to about 13s, for raft and engine latencies.
var durationBuckets = prometheus.ExponentialBuckets(0.00005, 2, 19)

var (
	grpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "grpc_requests_total",
		Help: "gRPC requests answered, by method and outcome: ok, region_error (the answer carries a region error), error (a gRPC error).",
	}, []string{"method", "outcome"})
	grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "grpc_request_duration_seconds",
		Help: "Time to answer a gRPC request, by method.", Buckets: durationBuckets,
	}, []string{"method"})
	regionErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "region_errors_total",
		Help: "Region errors answered to clients, by kind (not_leader, epoch_not_match, region_not_found, key_not_in_region, stale_command, store_not_match, server_is_busy, other).",
	}, []string{"kind"})

	raftProposals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_proposals_total",
		Help: "Raft commands that passed the checks and went to raft, by type (normal, or the admin command).",
	}, []string{"type"})
	proposeApply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_propose_apply_duration_seconds",
		Help: "From proposing a command to answering it once applied (commands answered without an error).", Buckets: durationBuckets,
	})
	pendingProposals = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "raft_pending_proposals",
		Help: "Commands that went to raft and are not answered yet (a number that only grows means proposals are lost).",
	})
	entriesApplied = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_entries_applied_total",
		Help: "Committed raft entries applied to the kv engine.",
	})
	applyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_apply_duration_seconds",
		Help: "Time to apply one batch of committed entries (and write the result).", Buckets: durationBuckets,
	})
	readyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_ready_duration_seconds",
		Help: "Time to handle one peer's Ready: persist entries and state, send messages, apply committed entries.", Buckets: durationBuckets,
	})
	engineWrite = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "engine_write_duration_seconds",
		Help: "Time of one write batch to an engine; on the raft engine this is appending entries and the fsync.", Buckets: durationBuckets,
	}, []string{"engine"})
	regions = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "regions",
		Help: "Peers (regions) on this store.",
	})
	leaders = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "leaders",
		Help: "Regions this store leads.",
	})
	snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "snapshots_total",
		Help: "Snapshots by stage (generate, send, receive, apply) and outcome (ok, error).",
	}, []string{"stage", "outcome"})
	snapshotBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "snapshot_bytes_total",
		Help: "Bytes of snapshots by stage (send, receive).",
	}, []string{"stage"})
	snapshotSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "snapshot_duration_seconds",
		Help: "Time of a snapshot stage.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"stage"})
	raftLogGC = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_log_gc_tasks_total",
		Help: "Raft log GC tasks run (compacted log deleted from the raft engine).",
	})
	raftLogGCEntries = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_log_gc_entries_deleted_total",
		Help: "Raft log entries deleted by the raft log GC.",
	})

	engineWriteKV   = engineWrite.WithLabelValues("kv")
	engineWriteRaft = engineWrite.WithLabelValues("raft")
	proposalNormal  = raftProposals.WithLabelValues("normal")
)

func init() {
	prometheus.MustRegister(grpcRequests, grpcDuration, regionErrors, raftProposals, proposeApply, pendingProposals, entriesApplied,
		applyDuration, readyDuration, engineWrite, regions, leaders, snapshots, snapshotBytes, snapshotSeconds,
		raftLogGC, raftLogGCEntries, engineCollector{})
}

// Proposed counts a command going to raft: normal (admin nil), or the
// admin command.
func Proposed(admin *raft_cmdpb.AdminRequest) {
	if admin == nil {
		proposalNormal.Inc()
		return
	}
	raftProposals.WithLabelValues(admin.GetCmdType().String()).Inc()
}

// ProposalPending counts a command that went to raft and waits for its
// answer.
func ProposalPending() { pendingProposals.Inc() }

// ProposalAnswered counts the answer to a pending command, d after it was
// proposed; ok is whether it was answered without an error (only those
// are observed as propose-to-apply latency).
func ProposalAnswered(d time.Duration, ok bool) {
	pendingProposals.Dec()
	if ok {
		proposeApply.Observe(d.Seconds())
	}
}

// Applied observes one batch of n applied entries that took d.
func Applied(n int, d time.Duration) {
	entriesApplied.Add(float64(n))
	applyDuration.Observe(d.Seconds())
}

// ReadyHandled observes the handling of one Ready.
func ReadyHandled(d time.Duration) { readyDuration.Observe(d.Seconds()) }

// RegionAdded and RegionRemoved follow the peers on the store.
func RegionAdded()   { regions.Inc() }
func RegionRemoved() { regions.Dec() }

// LeaderChanged follows the regions the store leads: now tells whether the
// peer leads after the change.
func LeaderChanged(now bool) {
	if now {
		leaders.Inc()
	} else {
		leaders.Dec()
	}
}

// Snapshot counts a snapshot stage ("generate", "send", "receive",
// "apply") that succeeded, moved size bytes (0 when unknown) and took d.
func Snapshot(stage string, size uint64, d time.Duration) {
	snapshots.WithLabelValues(stage, "ok").Inc()
	if size > 0 {
		snapshotBytes.WithLabelValues(stage).Add(float64(size))
	}
	snapshotSeconds.WithLabelValues(stage).Observe(d.Seconds())
}

// SnapshotFailed counts a snapshot stage that failed.
func SnapshotFailed(stage string) { snapshots.WithLabelValues(stage, "error").Inc() }

// RaftLogGCed counts a GC task that deleted n entries.
func RaftLogGCed(n uint64) {
	raftLogGC.Inc()
	raftLogGCEntries.Add(float64(n))
}
