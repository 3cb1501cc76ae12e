package api

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

// The JSON shapes of the API. Sizes are bytes, times RFC 3339, keys both
// hex (upper case, as PD writes them) and readable text (Go escapes for
// bytes that are not printable ASCII).

// StoreMeta is a store's registration.
type StoreMeta struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	// State is the registered state (Up, Offline, Tombstone).
	State string `json:"state"`
	// StateName is what the scheduler makes of it (schedule.StoreStateName):
	// Up, Disconnected (no heartbeat for store-disconnect-time: gets no new
	// peer or leader), Down (none for max-store-down-time), Offline or
	// Tombstone.
	StateName string `json:"state_name"`
}

// StoreStatus is what a store's heartbeats and the region cache tell.
type StoreStatus struct {
	Capacity           uint64    `json:"capacity"`
	Available          uint64    `json:"available"`
	UsedSize           uint64    `json:"used_size"`
	LeaderCount        int       `json:"leader_count"`
	RegionCount        int       `json:"region_count"`
	LeaderSize         int64     `json:"leader_size"`
	RegionSize         int64     `json:"region_size"`
	PendingPeerCount   int       `json:"pending_peer_count"`
	SendingSnapCount   uint32    `json:"sending_snap_count"`
	ReceivingSnapCount uint32    `json:"receiving_snap_count"`
	ApplyingSnapCount  uint32    `json:"applying_snap_count"`
	IsBusy             bool      `json:"is_busy"`
	StartTS            time.Time `json:"start_ts"`
	LastHeartbeatTS    time.Time `json:"last_heartbeat_ts"`
	// SinceHeartbeat is the time since the last heartbeat, in seconds.
	SinceHeartbeat float64 `json:"seconds_since_heartbeat"`
}

// Store is one store of /stores and /store/{id}.
type Store struct {
	Store  StoreMeta   `json:"store"`
	Status StoreStatus `json:"status"`
}

// Stores is /stores.
type Stores struct {
	Count  int     `json:"count"`
	Stores []Store `json:"stores"`
}

// Peer is a region's replica on a store.
type Peer struct {
	ID      uint64 `json:"id"`
	StoreID uint64 `json:"store_id"`
}

// Epoch is a region's epoch.
type Epoch struct {
	ConfVer uint64 `json:"conf_ver"`
	Version uint64 `json:"version"`
}

// Region is one region of /regions, /region/id/{id}, /region/key/{key}.
type Region struct {
	ID           uint64    `json:"id"`
	StartKey     string    `json:"start_key"`
	EndKey       string    `json:"end_key"`
	StartKeyText string    `json:"start_key_text"`
	EndKeyText   string    `json:"end_key_text"`
	Epoch        Epoch     `json:"epoch"`
	Peers        []Peer    `json:"peers"`
	Leader       *Peer     `json:"leader"`
	PendingPeers []Peer    `json:"pending_peers"`
	DownPeers    []Peer    `json:"down_peers"`
	Size         int64     `json:"approximate_size"`
	Operator     *Operator `json:"operator"`
}

// Regions is /regions.
type Regions struct {
	Count   int      `json:"count"`
	Regions []Region `json:"regions"`
}

// Operator is a running operator.
type Operator struct {
	RegionID  uint64    `json:"region_id"`
	Desc      string    `json:"desc"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	Steps     []string  `json:"steps"`
	CreatedAt time.Time `json:"create_time"`
	// Elapsed is how long it has run, in seconds.
	Elapsed float64 `json:"elapsed_seconds"`
	Text    string  `json:"text"`
}

// Operators is /operators.
type Operators struct {
	Count     int        `json:"count"`
	Operators []Operator `json:"operators"`
}

// Member is a scheduler member.
type Member struct {
	Name       string   `json:"name"`
	MemberID   string   `json:"member_id"`
	ClientURLs []string `json:"client_urls"`
	PeerURLs   []string `json:"peer_urls"`
}

// Health is /health: this member's view.
type Health struct {
	Healthy      bool     `json:"healthy"`
	Name         string   `json:"name"`
	ClusterID    uint64   `json:"cluster_id"`
	IsLeader     bool     `json:"is_leader"`
	Leader       *Member  `json:"leader"`
	Bootstrapped bool     `json:"bootstrapped"`
	Members      []Member `json:"members"`
	Error        string   `json:"error,omitempty"`
}

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"`
}

func peerOf(p *metapb.Peer) Peer { return Peer{ID: p.GetId(), StoreID: p.GetStoreId()} }

func peersOf(ps []*metapb.Peer) []Peer {
	out := make([]Peer, 0, len(ps))
	for _, p := range ps {
		out = append(out, peerOf(p))
	}
	return out
}

// readable writes a key as text: printable ASCII as it is, other bytes as
// \xNN (a backslash as \\).
func readable(key []byte) string {
	var b strings.Builder
	for _, c := range key {
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&15, 16))
		}
	}
	return b.String()
}

func hexKey(key []byte) string { return strings.ToUpper(hex.EncodeToString(key)) }

func regionOf(r *core.RegionInfo, ops map[uint64]*schedule.Operator) Region {
	out := Region{
		ID:           r.GetID(),
		StartKey:     hexKey(r.GetStartKey()),
		EndKey:       hexKey(r.GetEndKey()),
		StartKeyText: readable(r.GetStartKey()),
		EndKeyText:   readable(r.GetEndKey()),
		Epoch:        Epoch{ConfVer: r.GetRegionEpoch().GetConfVer(), Version: r.GetRegionEpoch().GetVersion()},
		Peers:        peersOf(r.GetPeers()),
		PendingPeers: peersOf(r.GetPendingPeers()),
		DownPeers:    peersOf(r.GetDownPeers()),
		Size:         r.GetApproximateSize(),
	}
	if l := r.GetLeader(); l.GetId() != 0 {
		p := peerOf(l)
		out.Leader = &p
	}
	if op := ops[r.GetID()]; op != nil {
		o := operatorOf(op)
		out.Operator = &o
	}
	return out
}

func operatorOf(op *schedule.Operator) Operator {
	steps := make([]string, op.Len())
	for i := range steps {
		steps[i] = op.Step(i).String()
	}
	return Operator{
		RegionID:  op.RegionID(),
		Desc:      op.Desc(),
		Kind:      op.Kind().String(),
		Status:    op.Status().String(),
		Steps:     steps,
		CreatedAt: op.GetCreateTime(),
		Elapsed:   op.ElapsedTime().Seconds(),
		Text:      op.String(),
	}
}

func memberOf(m interface {
	GetName() string
	GetMemberId() uint64
	GetClientUrls() []string
	GetPeerUrls() []string
}) Member {
	return Member{Name: m.GetName(), MemberID: strconv.FormatUint(m.GetMemberId(), 16),
		ClientURLs: m.GetClientUrls(), PeerURLs: m.GetPeerUrls()}
}
