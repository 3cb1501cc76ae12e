package config

import (
	"strings"
	"testing"
	"time"
)

func TestScheduleConfigDefaultsAndValidate(t *testing.T) {
	s, r := NewDefaultScheduleConfig(), NewDefaultReplicationConfig()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	if err := r.Validate(); err != nil || r.MaxReplicas != 3 {
		t.Fatalf("replication defaults: want max-replicas 3 and valid, got %d, %v", r.MaxReplicas, err)
	}
	bad := s
	bad.PatrolRegionInterval = Duration{}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "patrol-region-interval") {
		t.Fatalf("zero patrol interval: want an error naming patrol-region-interval, got %v", err)
	}
	bad = s
	bad.MaxStoreDownTime = Duration{-time.Second}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "max-store-down-time") {
		t.Fatalf("negative max-store-down-time: want an error naming it, got %v", err)
	}
	bad = s
	bad.StoreDisconnectTime = Duration{}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "store-disconnect-time") {
		t.Fatalf("zero store-disconnect-time: want an error naming it, got %v", err)
	}
	if err := (&ReplicationConfig{}).Validate(); err == nil || !strings.Contains(err.Error(), "max-replicas") {
		t.Fatalf("max-replicas 0: want an error naming it, got %v", err)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("90s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf(`UnmarshalText("90s"): want 1m30s, got %v, %v`, d.Duration, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Fatalf(`UnmarshalText("soon"): want an error`)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Fatalf("MarshalText: want 1m30s, got %s", b)
	}
}

func TestScheduleOptionSwap(t *testing.T) {
	o := NewScheduleOption(NewDefaultScheduleConfig(), NewDefaultReplicationConfig())
	if o.GetMaxReplicas() != 3 || o.GetPatrolRegionInterval() != DefaultPatrolRegionInterval || o.GetMaxStoreDownTime() != DefaultMaxStoreDownTime ||
		o.GetStoreDisconnectTime() != DefaultStoreDisconnectTime {
		t.Fatalf("getters do not answer the defaults: %d %v %v %v", o.GetMaxReplicas(), o.GetPatrolRegionInterval(), o.GetMaxStoreDownTime(), o.GetStoreDisconnectTime())
	}
	o.SetMaxReplicas(5)
	if o.GetMaxReplicas() != 5 || o.GetRegionScheduleLimit() != DefaultRegionScheduleLimit {
		t.Fatalf("SetMaxReplicas(5): want 5 and the other settings kept, got %d, region limit %d", o.GetMaxReplicas(), o.GetRegionScheduleLimit())
	}
}
