package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// newRegion makes a region [start, end) with peers on the given stores
// (peer ids id*10+store), led by the first one.
func newRegion(id uint64, start, end string, stores ...uint64) *RegionInfo {
	meta := &metapb.Region{
		Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
	}
	for _, s := range stores {
		meta.Peers = append(meta.Peers, &metapb.Peer{Id: id*10 + s, StoreId: s})
	}
	var leader *metapb.Peer
	if len(meta.Peers) > 0 {
		leader = meta.Peers[0]
	}
	return NewRegionInfo(meta, leader)
}

// layout describes the regions of an index in key order: "1[,b) 2[b,)".
func layout(regions []*RegionInfo) string {
	parts := make([]string, len(regions))
	for i, r := range regions {
		parts[i] = fmt.Sprintf("%d[%s,%s)", r.GetID(), r.GetStartKey(), r.GetEndKey())
	}
	return strings.Join(parts, " ")
}

func TestRegionTreeSplitAndMerge(t *testing.T) {
	ri := NewRegionsInfo()
	ri.SetRegion(newRegion(1, "", "", 1))
	if got := layout(ri.ScanRange(nil, nil, 0)); got != "1[,)" {
		t.Fatalf("one region covering everything: got %s", got)
	}
	// Split: region 1 keeps [,m), the new region 2 gets [m,).
	left := newRegion(1, "", "m", 1).Clone(WithIncVersion())
	right := newRegion(2, "m", "", 1).Clone(WithIncVersion())
	if overlaps := ri.SetRegion(left); len(overlaps) != 0 {
		t.Fatalf("left half replaces its own older version, want no overlaps, got %s", layout(overlaps))
	}
	if overlaps := ri.SetRegion(right); len(overlaps) != 0 {
		t.Fatalf("right half fills the gap, want no overlaps, got %s", layout(overlaps))
	}
	if got, want := layout(ri.ScanRange(nil, nil, 0)), "1[,m) 2[m,)"; got != want {
		t.Fatalf("after split: want %s, got %s", want, got)
	}
	// The right half heartbeats first after a second split at t.
	ri.SetRegion(newRegion(3, "t", "", 1))
	if got, want := layout(ri.ScanRange(nil, nil, 0)), "1[,m) 3[t,)"; got != want {
		t.Fatalf("region 3 [t,) replaces region 2 [m,): want %s, got %s", want, got)
	}
	if ri.GetRegion(2) != nil {
		t.Fatalf("overlapped region 2 is still indexed by id: %v", ri.GetRegion(2))
	}
	// Merge: region 1 grows to [,t), region 3 [t,) grows to [,) and takes 1.
	overlaps := ri.SetRegion(newRegion(3, "", "", 1))
	if got, want := layout(overlaps), "1[,m)"; got != want {
		t.Fatalf("merged region overlaps: want %s, got %s", want, got)
	}
	if got, want := layout(ri.ScanRange(nil, nil, 0)), "3[,)"; got != want {
		t.Fatalf("after merge: want %s, got %s", want, got)
	}
	if ri.GetRegionCount() != 1 {
		t.Fatalf("after merge: want 1 region by id, got %d", ri.GetRegionCount())
	}
}

func TestRegionTreeSearchAndOverlaps(t *testing.T) {
	ri := NewRegionsInfo()
	for i, r := range []struct{ start, end string }{{"", "c"}, {"c", "f"}, {"h", "k"}, {"k", ""}} {
		ri.SetRegion(newRegion(uint64(i+1), r.start, r.end, 1))
	}
	// The layout now is 1[,c) 2[c,f) gap 3[h,k) 4[k,).
	search := []struct {
		key  string
		want uint64 // 0: none
	}{{"", 1}, {"a", 1}, {"c", 2}, {"e\xff", 2}, {"f", 0}, {"g", 0}, {"h", 3}, {"k", 4}, {"zzz", 4}}
	for _, c := range search {
		got := ri.SearchRegion([]byte(c.key))
		if (got == nil && c.want != 0) || (got != nil && got.GetID() != c.want) {
			t.Errorf("SearchRegion(%q): want region %d, got %v", c.key, c.want, got)
		}
	}
	prev := []struct {
		key  string
		want uint64
	}{{"a", 0}, {"d", 1}, {"g", 0}, {"i", 0}, {"m", 3}}
	for _, c := range prev {
		got := ri.SearchPrevRegion([]byte(c.key))
		if (got == nil && c.want != 0) || (got != nil && got.GetID() != c.want) {
			t.Errorf("SearchPrevRegion(%q): want region %d (0: none), got %v", c.key, c.want, got)
		}
	}
	overlaps := []struct {
		start, end string
		want       string
	}{
		{"a", "b", "1[,c)"},
		{"b", "d", "1[,c) 2[c,f)"},
		{"c", "f", "2[c,f)"},
		{"f", "h", ""},
		{"f", "g", ""},
		{"f", "i", "3[h,k)"},
		{"e", "", "2[c,f) 3[h,k) 4[k,)"},
		{"", "", "1[,c) 2[c,f) 3[h,k) 4[k,)"},
	}
	for _, c := range overlaps {
		if got := layout(ri.GetOverlaps(newRegion(9, c.start, c.end))); got != c.want {
			t.Errorf("GetOverlaps([%q,%q)): want %q, got %q", c.start, c.end, c.want, got)
		}
	}
}

func TestRegionTreeScanRange(t *testing.T) {
	ri := NewRegionsInfo()
	keys := []string{"", "b", "d", "f", "h", ""}
	for i := 0; i+1 < len(keys); i++ {
		ri.SetRegion(newRegion(uint64(i+1), keys[i], keys[i+1], 1))
	}
	// 1[,b) 2[b,d) 3[d,f) 4[f,h) 5[h,)
	cases := []struct {
		start, end string
		limit      int
		want       string
	}{
		{"", "", 0, "1[,b) 2[b,d) 3[d,f) 4[f,h) 5[h,)"},
		{"", "", 2, "1[,b) 2[b,d)"},
		{"c", "", 2, "2[b,d) 3[d,f)"},
		{"d", "f", 0, "3[d,f)"},
		{"c", "g", 0, "2[b,d) 3[d,f) 4[f,h)"},
		{"c", "d", 0, "2[b,d)"},
		{"z", "", 0, "5[h,)"},
		{"a", "b", 10, "1[,b)"},
	}
	for _, c := range cases {
		if got := layout(ri.ScanRange([]byte(c.start), []byte(c.end), c.limit)); got != c.want {
			t.Errorf("ScanRange(%q, %q, %d): want %q, got %q", c.start, c.end, c.limit, c.want, got)
		}
	}
	// A hole: the scan starts at the first region after the key.
	ri.RemoveRegion(newRegion(2, "b", "d"))
	if got, want := layout(ri.ScanRange([]byte("c"), nil, 1)), "3[d,f)"; got != want {
		t.Errorf("ScanRange from a hole: want %q, got %q", want, got)
	}
}
