// Package observe is what the scheduler tells about itself: Prometheus
// metrics (registered on the default registry, which etcd serves at
// /metrics on the client URL, so the scheduler's and etcd's metrics come
// from one scrape) and a bounded ring of recent cluster events that the
// dashboard shows.
//
// Counters on hot paths (heartbeats, timestamps, ids) are resolved once at
// start, so that counting is one atomic add.
package observe

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "tinyscheduler"

var (
	regionHeartbeats = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "region_heartbeats_total",
		Help:      "Region heartbeats taken, by outcome: ok (cached), stale (older epoch than cached, refused), refused (malformed or not bootstrapped).",
	}, []string{"outcome"})
	storeHeartbeats = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "store_heartbeats_total",
		Help:      "Store heartbeats taken, by outcome: ok, refused (unknown or tombstone store, not bootstrapped).",
	}, []string{"outcome"})
	operatorsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "operators_created_total",
		Help:      "Operators started, by kind (leader, region, replica, balance, admin, joined by commas).",
	}, []string{"kind"})
	operatorsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "operators_finished_total",
		Help:      "Operators ended, by kind and status (SUCCESS, TIMEOUT, CANCEL, REPLACE).",
	}, []string{"kind", "status"})
	tsoRequests = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "tso_requests_total",
		Help:      "Timestamp requests answered (each may ask for a batch).",
	})
	tsoBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "tso_batch_size",
		Help:      "Timestamps asked for per answered request.",
		Buckets:   prometheus.ExponentialBuckets(1, 4, 8),
	})
	idsAllocated = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "ids_allocated_total",
		Help:      "Ids answered by the id allocator (AllocID, AskSplit, new peers).",
	})

	heartbeatOK      = regionHeartbeats.WithLabelValues("ok")
	heartbeatStale   = regionHeartbeats.WithLabelValues("stale")
	heartbeatRefused = regionHeartbeats.WithLabelValues("refused")
	storeHBOK        = storeHeartbeats.WithLabelValues("ok")
	storeHBRefused   = storeHeartbeats.WithLabelValues("refused")
)

func init() {
	prometheus.MustRegister(regionHeartbeats, storeHeartbeats, operatorsCreated, operatorsFinished,
		tsoRequests, tsoBatch, idsAllocated)
}

// RegionHeartbeat counts a region heartbeat: taken (err nil), refused as
// stale, or refused for another reason.
func RegionHeartbeat(err error, stale bool) {
	switch {
	case err == nil:
		heartbeatOK.Inc()
	case stale:
		heartbeatStale.Inc()
	default:
		heartbeatRefused.Inc()
	}
}

// StoreHeartbeat counts a store heartbeat, taken when err is nil.
func StoreHeartbeat(err error) {
	if err == nil {
		storeHBOK.Inc()
	} else {
		storeHBRefused.Inc()
	}
}

// OperatorCreated counts an operator that started.
func OperatorCreated(kind string) { operatorsCreated.WithLabelValues(kind).Inc() }

// OperatorFinished counts an operator that ended and records the event.
func OperatorFinished(regionID uint64, kind, status, desc string) {
	operatorsFinished.WithLabelValues(kind, status).Inc()
	kindOfEvent := EventOperatorFinished
	if status == "TIMEOUT" {
		kindOfEvent = EventOperatorTimeout
	}
	Record(Event{Kind: kindOfEvent, RegionID: regionID, Text: status + ": " + desc})
}

// TSO counts an answered timestamp request of count timestamps.
func TSO(count uint32) {
	tsoRequests.Inc()
	tsoBatch.Observe(float64(count))
}

// IDAllocated counts one id answered.
func IDAllocated() { idsAllocated.Inc() }
