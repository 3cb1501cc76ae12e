package core

import (
	"bytes"

	"github.com/google/btree"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// regionTree holds non-overlapping regions ordered by start key. An empty
// end key means the range runs to the end of the key space.
type regionTree struct {
	tree *btree.BTreeG[*RegionInfo]
}

const regionTreeDegree = 32

func regionStartLess(a, b *RegionInfo) bool {
	return bytes.Compare(a.GetStartKey(), b.GetStartKey()) < 0
}

func newRegionTree() *regionTree {
	return &regionTree{tree: btree.NewG(regionTreeDegree, regionStartLess)}
}

func (t *regionTree) length() int { return t.tree.Len() }

// probe is a RegionInfo that only carries a start key, to search the tree.
func probe(start []byte) *RegionInfo {
	return &RegionInfo{meta: &metapb.Region{StartKey: start}}
}

// endsAfter says whether a range ending at end (empty: no end) covers keys
// at or after key.
func endsAfter(end, key []byte) bool {
	return len(end) == 0 || bytes.Compare(end, key) > 0
}

// floor returns the region with the largest start key <= key, or nil.
func (t *regionTree) floor(key []byte) *RegionInfo {
	var found *RegionInfo
	t.tree.DescendLessOrEqual(probe(key), func(r *RegionInfo) bool {
		found = r
		return false
	})
	return found
}

// search returns the region containing key, or nil.
func (t *regionTree) search(key []byte) *RegionInfo {
	r := t.floor(key)
	if r == nil || !endsAfter(r.GetEndKey(), key) {
		return nil
	}
	return r
}

// searchPrev returns the region that ends where the region containing key
// starts, or nil when there is no such adjacent region.
func (t *regionTree) searchPrev(key []byte) *RegionInfo {
	cur := t.search(key)
	if cur == nil || len(cur.GetStartKey()) == 0 {
		return nil
	}
	var prev *RegionInfo
	t.tree.DescendLessOrEqual(cur, func(r *RegionInfo) bool {
		if r == cur {
			return true
		}
		prev = r
		return false
	})
	if prev == nil || !bytes.Equal(prev.GetEndKey(), cur.GetStartKey()) {
		return nil
	}
	return prev
}

// getOverlaps returns the regions whose range shares a key with region's,
// in key order.
func (t *regionTree) getOverlaps(region *RegionInfo) []*RegionInfo {
	start, end := region.GetStartKey(), region.GetEndKey()
	var overlaps []*RegionInfo
	if r := t.floor(start); r != nil && endsAfter(r.GetEndKey(), start) {
		overlaps = append(overlaps, r)
	}
	t.tree.AscendGreaterOrEqual(probe(start), func(r *RegionInfo) bool {
		if len(end) > 0 && bytes.Compare(r.GetStartKey(), end) >= 0 {
			return false
		}
		if len(overlaps) == 0 || overlaps[len(overlaps)-1] != r {
			overlaps = append(overlaps, r)
		}
		return true
	})
	return overlaps
}

// update puts region in the tree, taking out every region it overlaps;
// it returns those.
func (t *regionTree) update(region *RegionInfo) []*RegionInfo {
	overlaps := t.getOverlaps(region)
	for _, r := range overlaps {
		t.tree.Delete(r)
	}
	t.tree.ReplaceOrInsert(region)
	return overlaps
}

// remove takes region out of the tree if the tree holds it (the same id at
// that start key).
func (t *regionTree) remove(region *RegionInfo) {
	if r, ok := t.tree.Get(region); ok && r.GetID() == region.GetID() {
		t.tree.Delete(r)
	}
}

// scanRange returns up to limit regions (limit <= 0: no limit) in key order,
// from the one containing start (or the first after it) to the last one
// starting before end (empty end: the end of the key space).
func (t *regionTree) scanRange(start, end []byte, limit int) []*RegionInfo {
	var out []*RegionInfo
	visit := func(r *RegionInfo) bool {
		if len(end) > 0 && bytes.Compare(r.GetStartKey(), end) >= 0 {
			return false
		}
		if len(out) > 0 && out[len(out)-1] == r {
			return true
		}
		out = append(out, r)
		return limit <= 0 || len(out) < limit
	}
	if r := t.search(start); r != nil && !visit(r) {
		return out
	}
	t.tree.AscendGreaterOrEqual(probe(start), visit)
	return out
}
