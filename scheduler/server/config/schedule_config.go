package config

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Duration is a time.Duration written as text in the config file
// ("30m", "100ms"); it implements encoding.TextUnmarshaler, which TOML
// libraries use.
type Duration struct {
	time.Duration
}

// UnmarshalText parses a duration such as "30m".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %v", text, err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Defaults of the [schedule] and [replication] sections.
const (
	DefaultMaxReplicas      = 3
	DefaultMaxStoreDownTime = 30 * time.Minute
	// DefaultStoreDisconnectTime is PD's: two store heartbeats at their
	// production interval (10 s) may be missed before a store is taken for
	// disconnected.
	DefaultStoreDisconnectTime  = 20 * time.Second
	DefaultLeaderScheduleLimit  = 4
	DefaultRegionScheduleLimit  = 2048
	DefaultReplicaScheduleLimit = 64
	DefaultPatrolRegionInterval = 100 * time.Millisecond
)

// ScheduleConfig is the [schedule] section of the scheduler's config file.
type ScheduleConfig struct {
	// MaxStoreDownTime is how long a store may go without a heartbeat before
	// it is taken for down: balance schedulers leave it alone and the replica
	// checker replaces its peers elsewhere.
	MaxStoreDownTime Duration `toml:"max-store-down-time" json:"max-store-down-time"`
	// StoreDisconnectTime is how long a store may go without a heartbeat
	// before it is taken for disconnected: it keeps its peers (it may be
	// restarting), but nothing new goes to it, neither a peer nor the
	// leadership of a region. It should be a few of the stores' heartbeat
	// intervals (PD's fixed 20 s suits their 10 s default); a value above
	// max-store-down-time means a silent store goes straight to down.
	StoreDisconnectTime Duration `toml:"store-disconnect-time" json:"store-disconnect-time"`
	// LeaderScheduleLimit caps the operators that move leaders at once.
	LeaderScheduleLimit uint64 `toml:"leader-schedule-limit" json:"leader-schedule-limit"`
	// RegionScheduleLimit caps the operators that move peers between stores
	// for balance at once.
	RegionScheduleLimit uint64 `toml:"region-schedule-limit" json:"region-schedule-limit"`
	// ReplicaScheduleLimit caps the replica checker's operators at once.
	ReplicaScheduleLimit uint64 `toml:"replica-schedule-limit" json:"replica-schedule-limit"`
	// PatrolRegionInterval is how often the replica checker looks at the
	// next batch of regions.
	PatrolRegionInterval Duration `toml:"patrol-region-interval" json:"patrol-region-interval"`
}

// ReplicationConfig is the [replication] section of the scheduler's config file.
type ReplicationConfig struct {
	// MaxReplicas is how many peers every region should have.
	MaxReplicas uint64 `toml:"max-replicas" json:"max-replicas"`
}

// NewDefaultScheduleConfig returns the [schedule] defaults.
func NewDefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{
		MaxStoreDownTime:     Duration{DefaultMaxStoreDownTime},
		StoreDisconnectTime:  Duration{DefaultStoreDisconnectTime},
		LeaderScheduleLimit:  DefaultLeaderScheduleLimit,
		RegionScheduleLimit:  DefaultRegionScheduleLimit,
		ReplicaScheduleLimit: DefaultReplicaScheduleLimit,
		PatrolRegionInterval: Duration{DefaultPatrolRegionInterval},
	}
}

// NewDefaultReplicationConfig returns the [replication] defaults.
func NewDefaultReplicationConfig() ReplicationConfig {
	return ReplicationConfig{MaxReplicas: DefaultMaxReplicas}
}

// Validate says which setting is unusable, naming it as the file does.
// Limits may be 0 (that kind of scheduling is off).
func (c *ScheduleConfig) Validate() error {
	if c.MaxStoreDownTime.Duration <= 0 {
		return fmt.Errorf("schedule.max-store-down-time must be positive, got %v", c.MaxStoreDownTime.Duration)
	}
	if c.StoreDisconnectTime.Duration <= 0 {
		return fmt.Errorf("schedule.store-disconnect-time must be positive, got %v", c.StoreDisconnectTime.Duration)
	}
	if c.PatrolRegionInterval.Duration <= 0 {
		return fmt.Errorf("schedule.patrol-region-interval must be positive, got %v", c.PatrolRegionInterval.Duration)
	}
	return nil
}

// Validate says whether max-replicas is usable.
func (c *ReplicationConfig) Validate() error {
	if c.MaxReplicas == 0 || c.MaxReplicas > 7 {
		return fmt.Errorf("replication.max-replicas must be between 1 and 7, got %d", c.MaxReplicas)
	}
	return nil
}

// scheduleOptions is one consistent set of settings.
type scheduleOptions struct {
	schedule    ScheduleConfig
	replication ReplicationConfig
}

// ScheduleOption holds the settings in force; the schedulers read them on
// every run and the server may replace them at any time (PutClusterConfig
// changes max-replicas). Safe for concurrent use.
type ScheduleOption struct {
	v atomic.Pointer[scheduleOptions]
}

// NewScheduleOption returns a ScheduleOption holding the given settings.
func NewScheduleOption(schedule ScheduleConfig, replication ReplicationConfig) *ScheduleOption {
	o := &ScheduleOption{}
	o.Set(schedule, replication)
	return o
}

// Set replaces the settings.
func (o *ScheduleOption) Set(schedule ScheduleConfig, replication ReplicationConfig) {
	o.v.Store(&scheduleOptions{schedule: schedule, replication: replication})
}

// Load returns the settings in force.
func (o *ScheduleOption) Load() (ScheduleConfig, ReplicationConfig) {
	v := o.v.Load()
	return v.schedule, v.replication
}

// SetMaxReplicas changes max-replicas only.
func (o *ScheduleOption) SetMaxReplicas(n int) {
	schedule, replication := o.Load()
	replication.MaxReplicas = uint64(n)
	o.Set(schedule, replication)
}

// GetMaxReplicas returns replication.max-replicas.
func (o *ScheduleOption) GetMaxReplicas() int { return int(o.v.Load().replication.MaxReplicas) }

// GetMaxStoreDownTime returns schedule.max-store-down-time.
func (o *ScheduleOption) GetMaxStoreDownTime() time.Duration {
	return o.v.Load().schedule.MaxStoreDownTime.Duration
}

// GetStoreDisconnectTime returns schedule.store-disconnect-time.
func (o *ScheduleOption) GetStoreDisconnectTime() time.Duration {
	return o.v.Load().schedule.StoreDisconnectTime.Duration
}

// GetLeaderScheduleLimit returns schedule.leader-schedule-limit.
func (o *ScheduleOption) GetLeaderScheduleLimit() uint64 {
	return o.v.Load().schedule.LeaderScheduleLimit
}

// GetRegionScheduleLimit returns schedule.region-schedule-limit.
func (o *ScheduleOption) GetRegionScheduleLimit() uint64 {
	return o.v.Load().schedule.RegionScheduleLimit
}

// GetReplicaScheduleLimit returns schedule.replica-schedule-limit.
func (o *ScheduleOption) GetReplicaScheduleLimit() uint64 {
	return o.v.Load().schedule.ReplicaScheduleLimit
}

// GetPatrolRegionInterval returns schedule.patrol-region-interval.
func (o *ScheduleOption) GetPatrolRegionInterval() time.Duration {
	return o.v.Load().schedule.PatrolRegionInterval.Duration
}
